"""The photo front end (ide3d_backend.photo) against SynthHeads ground truth and on the
bundled astronaut: camera error of the landmark PnP, semantic-mask mIoU against the
parser alone, time per stage. Writes bench/results/photo_frontend.json.

Held-out heads: SynthHeads seeds 10^6 + i (no training and no landmark-asset seed),
cameras from the FFHQ-like pose distribution, rendered at the model's 128 px. The
masks are scored at the aligned crop (the ground truth warped with the same transform,
nearest) with ide3d_backend.metrics' MaskScores, as bench/quality.py scores them; the
parser alone and the mask without the label atlas (face parts from the landmark
polygons) are scored on the same crop.
Usage: python bench/photo_frontend.py [--heads 64]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import common  # bench/common.py: the script's own folder is on sys.path

from ide3d_backend import camera, preprocess, semantics
from ide3d_backend.metrics import MaskScores
from ide3d_backend.photo import analyse_photo, atlas as label_atlas, mask as photo_mask, parser_scores

PARTS = ("l_eye", "r_eye", "l_brow", "r_brow", "u_lip", "l_lip", "nose")


def astronaut_report(parser) -> dict:
    from ide3d_backend.assets import ASTRONAUT
    a = analyse_photo(ASTRONAUT, 128, parser=parser)
    ids = {n: int((a.mask == semantics.class_id(n)).sum()) for n in PARTS + ("mouth", "skin", "hair", "hat", "neck", "cloth")}
    chin = photo_mask.face_lines(a.aligned_landmarks)["chin"]
    rows = np.arange(128)[:, None] + 0.5
    hair_below = int(((a.mask == semantics.class_id("hair")) & (rows > chin)).sum())
    return {"yaw": a.yaw, "pitch": a.pitch, "roll": a.roll, "pnp_rms_px": a.camera.rms_px,
            "class_pixels": ids, "parts_present": all(ids[n] > 0 for n in PARTS),
            "hair_pixels_below_chin": hair_below, "warnings": a.warnings, "timings_s": a.timings,
            "targets": {"abs_pitch_max": 0.1, "parts_present": True, "hair_pixels_below_chin": 0}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--heads", type=int, default=64)
    ap.add_argument("--resolution", type=int, default=128)
    args = ap.parse_args()
    import torch
    torch.set_num_threads(2)
    from ide3d_backend.encoding import load_parser
    from ide3d_backend.synthheads import render_head, sample_head
    parser = load_parser(None, device="cpu")
    rng = np.random.default_rng(7)
    res = args.resolution
    ours, parser_alone, parser_raw, no_atlas = MaskScores(), MaskScores(), MaskScores(), MaskScores()
    errors, times, missed = [], {}, []
    t_start = time.time()
    for i in range(args.heads):
        seed = common.HELDOUT_SEED_BASE + i
        yaw, pitch = camera.sample_angles(1, rng)[0]
        gt = render_head(sample_head(seed), camera.label_from_angles(yaw, pitch), res)
        try:
            a = analyse_photo(gt["rgb"], res, parser=parser)
        except preprocess.PreprocessError as exc:
            missed.append({"seed": seed, "yaw": float(yaw), "pitch": float(pitch), "error": str(exc)})
            continue
        for k, v in a.timings.items():
            times.setdefault(k, []).append(v)
        errors.append((a.yaw - yaw, a.pitch - pitch, yaw, pitch))
        gt_aligned = preprocess.warp(gt["mask"], a.transform, res, nearest=True, border_value=0)
        ours.add(a.mask, gt_aligned)
        parser_alone.add(preprocess.predict_mask(a.image, parser), gt_aligned)
        no_atlas.add(photo_mask.compose_mask(a.aligned_landmarks, a.person, parser_scores(a.image, parser),
                                             yaw=a.yaw, atlas=None), gt_aligned)
        parser_raw.add(preprocess.predict_mask(gt["rgb"], parser), gt["mask"])
        print(f"head {i}: yaw {yaw:+.3f} -> {a.yaw:+.3f}, pitch {pitch:+.3f} -> {a.pitch:+.3f}, "
              f"mIoU {ours.per_image[-1]:.3f} (parser {parser_alone.per_image[-1]:.3f}), {time.time() - t_start:.0f} s")
    e = np.array(errors)
    result = {
        "heads": args.heads, "resolution": res, "faces_found": len(errors), "missed": missed,
        "camera": {"mean_abs_error_yaw_rad": float(np.abs(e[:, 0]).mean()),
                   "mean_abs_error_pitch_rad": float(np.abs(e[:, 1]).mean()),
                   "mean_error_yaw_rad": float(e[:, 0].mean()), "mean_error_pitch_rad": float(e[:, 1].mean()),
                   "max_abs_error_yaw_rad": float(np.abs(e[:, 0]).max()),
                   "max_abs_error_pitch_rad": float(np.abs(e[:, 1]).max()),
                   "true_yaw_range": [float(e[:, 2].min()), float(e[:, 2].max())],
                   "targets": {"mean_abs_error_yaw_rad": 0.05, "mean_abs_error_pitch_rad": 0.05}},
        "mask": {"miou_front_end": float(np.mean(ours.per_image)),
                 "miou_parser_alone_same_crop": float(np.mean(parser_alone.per_image)),
                 "miou_without_atlas": float(np.mean(no_atlas.per_image)),
                 "miou_parser_alone_raw_render": float(np.mean(parser_raw.per_image)),
                 "pooled_class_iou_front_end": ours.pooled_class_iou(),
                 "pooled_class_iou_parser_alone": parser_alone.pooled_class_iou(),
                 "pooled_class_iou_without_atlas": no_atlas.pooled_class_iou(),
                 "atlas": (lambda at: at.how if at else None)(label_atlas.load_atlas()),
                 "target_miou": 0.75},
        "time_per_stage_s": {k: float(np.mean(v)) for k, v in times.items()},
        "astronaut": astronaut_report(parser),
        "wall_s": time.time() - t_start,
    }
    common.write("photo_frontend", result)
    print({k: result[k] for k in ("camera", "time_per_stage_s")}, result["mask"]["miou_front_end"],
          result["mask"]["miou_parser_alone_same_crop"], result["astronaut"])


if __name__ == "__main__":
    main()
