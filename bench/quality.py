"""Quality of the shipped (or a given) model on SynthHeads heads that training never saw.

Measures the bars of the training issue and writes bench/results/quality.json:
1. random samples (truncation 0.7): per-class pixel fractions of rendered masks
   against the held-out heads' (skin, hair, nose, eyes, lips, background), and the
   samples' sharpness (Laplacian energy, metrics.laplacian_energy) against the
   held-out renders';
2. encoder-only reconstruction (E_t + E_s) at the input view: PSNR, mask mIoU and
   sharpness against the input's;
3. the canonical editor against E_t/E_s over yaw (paper Fig. 4): a table of
   PSNR / mIoU of a random test view, for E (input at yaw), E (canonical input)
   and E_can (canonical input);
4. geometry: Chamfer distance between the mesh of the encoder reconstruction and
   the ground-truth SynthHeads mesh, over the whole volume and over the part
   inside the frontal portrait frame (no training view sees below it).
Diagnostics beside the bars: per-class IoU of the encoder reconstructions (pooled
over heads), the encoders' pose error and the mask mIoU of the same latents
rendered from the true camera (what the pose error costs), and with
--ceiling-heads N a W+ optimisation from the encoders'
latents (no generator tuning) on the first N heads, which tells how much of the
reconstruction error is the encoders' and how much the generator's.

Held-out heads are SynthHeads seeds far from any training seed (seed base 10^6).
Usage: python bench/quality.py [--generator G] [--encoders E] [--heads 16] [--variety classic|rich]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import common  # bench/common.py: the script's own folder is on sys.path

from ide3d_backend import camera, semantics
from ide3d_backend.metrics import MaskScores, chamfer_distance, chamfer_in_frame, laplacian_energy, miou, psnr

CLASS_GROUPS = {"background": [0], "skin": [1], "hair": [13], "nose": [2], "eyes": [4, 5], "lips": [11, 12]}
YAW_BINS = np.linspace(-1.1, 1.1, 7)  # +-63 degrees, as the paper's Fig. 4


def class_fractions(masks: list[np.ndarray]) -> dict[str, float]:
    m = np.stack(masks)
    return {name: float(np.isin(m, ids).mean()) for name, ids in CLASS_GROUPS.items()}


class Evaluator:
    def __init__(self, G, enc, res: int):
        self.G, self.enc, self.res = G, enc, res

    def render(self, ws, yaw, pitch):
        c = camera.label_tensor(yaw, pitch)
        out = self.G.synthesis(ws, c)
        rgb = ((out["image"][0].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
        return rgb, out["semantic"][0].argmax(0).byte().numpy()

    def encode(self, rgb, mask, canonical=False):
        from ide3d_backend.encoding import encode, encode_canonical
        img = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 127.5 - 1
        oh = semantics.mask_to_onehot(torch.from_numpy(mask.astype(np.int64))[None])
        if canonical:
            return encode_canonical(self.enc, self.G, img, oh), 0.0, 0.0
        ws, yaw, pitch = encode(self.enc, self.G, img, oh)
        return ws, float(yaw), float(pitch)


def optimised(G, ws, yaw, pitch, gt, steps, ev):
    """(PSNR, mIoU) after W+ optimisation from the encoders' result (diagnostic)."""
    import dataclasses

    from ide3d_backend.inversion import get_preset, image_to_tensor, mask_to_tensor, optimise_latents
    preset = dataclasses.replace(get_preset("fast").with_steps(steps, 0), early_stop=0.0)
    res = G.cfg.superres.output_resolution
    with torch.enable_grad():
        ws_o, yaw_o, pitch_o, _, _ = optimise_latents(G, image_to_tensor(gt["rgb"], res), mask_to_tensor(gt["mask"], res),
                                                      ws, yaw, pitch, preset)
    rgb, mask = ev.render(ws_o.detach(), float(yaw_o), float(pitch_o))
    return psnr(rgb, gt["rgb"]), miou(mask, gt["mask"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--generator", default=None)
    ap.add_argument("--encoders", default=None)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--mesh-resolution", type=int, default=128)
    ap.add_argument("--ceiling-heads", type=int, default=0, help="heads for the W+ optimisation diagnostic")
    ap.add_argument("--ceiling-steps", type=int, default=100)
    ap.add_argument("--name", default="quality", help="results file: bench/results/NAME.json (compare candidates)")
    ap.add_argument("--variety", choices=("classic", "rich"), default="classic",
                    help="SynthHeads preset of the held-out heads (rich: random light, expressions, beards, ...)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    from ide3d_backend import load_generator
    from ide3d_backend.encoding import load_encoders
    from ide3d_backend.mesh import extract_head_mesh
    from ide3d_backend.synthheads import ground_truth_mesh, render_head, sample_head
    G = load_generator(args.generator, device="cpu")
    enc = load_encoders(args.encoders, device="cpu").eval()
    res = G.cfg.superres.output_resolution
    ev = Evaluator(G, enc, res)
    t0 = time.time()
    result: dict = {"generator": str(args.generator or "shipped default"),
                    "encoders": str(args.encoders or "shipped default"), "heads": args.heads,
                    "variety": args.variety}
    heads = [sample_head(common.HELDOUT_SEED_BASE + i, args.variety) for i in range(args.heads)]
    rng = np.random.default_rng(7)
    with torch.no_grad():
        # 1. random samples vs held-out class fractions (FFHQ-like poses for both)
        gt_masks, fake_masks, gt_sharpness, fake_sharpness = [], [], [], []
        for i, head in enumerate(heads):
            for lab in camera.sample_labels(2, rng):
                view = render_head(head, lab, res)
                gt_masks.append(view["mask"])
                gt_sharpness.append(laplacian_energy(view["rgb"]))
        g = torch.Generator().manual_seed(0)
        for i in range(args.samples):
            z = torch.randn(1, G.z_dim, generator=g)
            ws = G.mapping(z, camera.label_tensor(), truncation_psi=0.7)
            yaw, pitch = camera.sample_angles(1, rng)[0]
            rgb, mask = ev.render(ws, yaw, pitch)
            fake_masks.append(mask)
            fake_sharpness.append(laplacian_energy(rgb))
        real_f, fake_f = class_fractions(gt_masks), class_fractions(fake_masks)
        result["class_fractions"] = {k: {"heldout": real_f[k], "samples": fake_f[k],
                                         "ratio": fake_f[k] / max(real_f[k], 1e-9)} for k in real_f}
        result["class_fractions_within_50pct"] = all(0.5 <= v["ratio"] <= 1.5 for v in result["class_fractions"].values())
        result["sample_sharpness"] = {"samples": float(np.mean(fake_sharpness)), "heldout": float(np.mean(gt_sharpness)),
                                      "ratio": float(np.mean(fake_sharpness) / np.mean(gt_sharpness)),
                                      "what": "mean Laplacian energy of the random samples' RGB over the held-out "
                                              "heads' renders at poses of the same distribution (1: as sharp)"}

        # 2. encoder-only reconstruction at the input view; 3. Fig. 4 table; 4. Chamfer
        recon_psnr, recon_sharpness, chamfers, chamfers_frame = [], [], [], []
        recon_masks = MaskScores()
        true_pose_masks, pose_errors = MaskScores(), []  # the same latents at the true camera: what pose costs
        recon_miou = recon_masks.per_image
        ceiling = []
        table = {float(y): {"E_input": [], "E_canonical_input": [], "E_can": []} for y in YAW_BINS}
        for i, head in enumerate(heads):
            yaw_in, pitch_in = camera.sample_angles(1, rng)[0]
            gt = render_head(head, camera.label_from_angles(yaw_in, pitch_in), res)
            ws, yaw_p, pitch_p = ev.encode(gt["rgb"], gt["mask"])
            rgb, mask = ev.render(ws, yaw_p, pitch_p)
            recon_psnr.append(psnr(rgb, gt["rgb"]))
            recon_sharpness.append(laplacian_energy(rgb) / laplacian_energy(gt["rgb"]))
            recon_masks.add(mask, gt["mask"])
            true_pose_masks.add(ev.render(ws, yaw_in, pitch_in)[1], gt["mask"])
            pose_errors.append((yaw_p - yaw_in, pitch_p - pitch_in))
            if i < args.ceiling_heads:
                ceiling.append(optimised(G, ws, yaw_p, pitch_p, gt, args.ceiling_steps, ev))
            if i < min(args.heads, 8):
                m = extract_head_mesh(G, ws, resolution=args.mesh_resolution)
                gv, _, _ = ground_truth_mesh(head, resolution=args.mesh_resolution)
                chamfers.append(chamfer_distance(m.vertices, gv))
                chamfers_frame.append(chamfer_in_frame(m.vertices, gv))
            # Fig. 4: one random test view per head, inputs at every yaw bin
            test_yaw, test_pitch = float(rng.uniform(-0.8, 0.8)), float(rng.normal(0, 0.1))
            test = render_head(head, camera.label_from_angles(test_yaw, test_pitch), res)
            canon = render_head(head, camera.frontal_label(), res)
            ws_canon_e, _, _ = ev.encode(canon["rgb"], canon["mask"])
            ws_can, _, _ = ev.encode(canon["rgb"], canon["mask"], canonical=True)
            scores_canon = {name: ev.render(w, test_yaw, test_pitch) for name, w in
                            (("E_canonical_input", ws_canon_e), ("E_can", ws_can))}
            for y in YAW_BINS:
                inp = render_head(head, camera.label_from_angles(float(y), 0.0), res)
                w_in, _, _ = ev.encode(inp["rgb"], inp["mask"])
                r = {"E_input": ev.render(w_in, test_yaw, test_pitch), **scores_canon}
                for name, (rgb, mask) in r.items():
                    table[float(y)][name].append((psnr(rgb, test["rgb"]), miou(mask, test["mask"])))
        result["encoder_reconstruction"] = {"psnr_db": float(np.mean(recon_psnr)), "mask_miou": float(np.mean(recon_miou)),
                                            "bars": {"psnr_db": 20.0, "mask_miou": 0.6}}
        result["encoder_reconstruction"]["per_head"] = {"psnr_db": [float(v) for v in recon_psnr],
                                                        "mask_miou": [float(v) for v in recon_miou]}
        result["encoder_reconstruction"]["sharpness_ratio"] = float(np.mean(recon_sharpness))
        result["encoder_reconstruction"]["per_class_iou_pooled"] = recon_masks.pooled_class_iou()
        err = np.abs(np.array(pose_errors))
        result["encoder_pose"] = {"mean_abs_error_rad": {"yaw": float(err[:, 0].mean()), "pitch": float(err[:, 1].mean())},
                                  "mask_miou_at_true_pose": float(np.mean(true_pose_masks.per_image)),
                                  "what": "the encoders' yaw/pitch (E_t's or E_s's, cfg.pose_from) against the input "
                                          "camera; their latents rendered from the true camera instead of the "
                                          "predicted one (diagnostic)"}
        if ceiling:
            result["optimisation_ceiling"] = {
                "heads": len(ceiling), "steps": args.ceiling_steps,
                "what": "W+ Adam from the encoders' latents and pose at the input view, generator frozen",
                "encoder_psnr_db": float(np.mean(recon_psnr[:len(ceiling)])),
                "encoder_mask_miou": float(np.mean(recon_miou[:len(ceiling)])),
                "optimised_psnr_db": float(np.mean([c[0] for c in ceiling])),
                "optimised_mask_miou": float(np.mean([c[1] for c in ceiling]))}
        result["canonical_editor_vs_encoders"] = {
            f"{y:+.2f}": {name: {"psnr_db": float(np.mean([s[0] for s in v])), "mask_miou": float(np.mean([s[1] for s in v]))}
                          for name, v in row.items()} for y, row in table.items()}
        result["chamfer_mean"] = float(np.mean(chamfers)) if chamfers else None
        result["chamfer_in_frame_mean"] = float(np.mean(chamfers_frame)) if chamfers_frame else None
        result["chamfer_units"] = "model units (head ~0.45 tall); mean of both directions, mesh res %d" % args.mesh_resolution
        result["chamfer_in_frame_what"] = "both meshes cut to the vertices inside the frontal camera's image"
    result["seconds"] = time.time() - t0
    common.write(args.name, result)
    print(f"PSNR {result['encoder_reconstruction']['psnr_db']:.2f} dB, mIoU {result['encoder_reconstruction']['mask_miou']:.3f}, "
          f"sharpness {result['encoder_reconstruction']['sharpness_ratio']:.4f} of the input's "
          f"(samples {result['sample_sharpness']['ratio']:.4f}), "
          f"Chamfer {result['chamfer_mean']} (in frame {result['chamfer_in_frame_mean']}), fractions ok {result['class_fractions_within_50pct']}")


if __name__ == "__main__":
    main()
