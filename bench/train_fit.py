"""How well the generator renders the heads it was trained on: the upper bound of
what any encoder can reach through it.

A generator run gives every training head a code z (RUN/latents.safetensors).
This renders `--images` random dataset images from their head's code at their own
camera and scores the semantic mask against the ground truth: mIoU per image
(classes in either mask, as bench/quality.py) and IoU per class pooled over the
images. Low IoU for a class here is the generator's doing, not the encoders'.
With `--meshes N` it also extracts the mesh of N of those heads from their codes
and measures its Chamfer distance to the head's ground-truth mesh, whole and
inside the portrait frame (as bench/quality.py does for held-out
reconstructions): the generator's own geometry, with no encoder in the way.
Writes bench/results/NAME.json (default train_fit).

Usage: python bench/train_fit.py --latents runs/generator/latents.safetensors
       [--generator G.safetensors] [--data data/synth_train] [--images 48]
       [--meshes 6 --mesh-resolution 96]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

import common  # bench/common.py: the script's own folder is on sys.path

from ide3d_backend import camera
from ide3d_backend.metrics import MaskScores, chamfer_distance, chamfer_in_frame


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--generator", default=None, help="default: the shipped generator")
    ap.add_argument("--latents", required=True, help="RUN/latents.safetensors of the run that trained it")
    ap.add_argument("--data", default="data/synth_train", help="the dataset of that run")
    ap.add_argument("--images", type=int, default=48)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--name", default="train_fit")
    ap.add_argument("--meshes", type=int, default=0, help="heads whose mesh is compared with the ground truth")
    ap.add_argument("--mesh-resolution", type=int, default=96)
    args = ap.parse_args()
    torch.set_num_threads(2)
    from ide3d_backend import load_generator
    from training.dataset import InMemoryDataset
    from training.latent_init import load_latents
    t0 = time.time()
    G = load_generator(args.generator, device="cpu")
    data = InMemoryDataset(Path(args.data), G.cfg.superres.output_resolution)
    z = load_latents(args.latents, data)
    idx = np.random.default_rng(args.seed).choice(len(data), min(args.images, len(data)), replace=False)
    batch = data.batch(idx, None)
    frontal = camera.label_tensor()[0]
    scores = MaskScores()
    with torch.no_grad():
        for s in range(0, len(idx), args.batch):
            codes = z[batch["group"][s:s + args.batch]]
            ws = G.mapping(codes, frontal.expand(len(codes), -1))  # the trainer maps with the frontal pose
            out = G.synthesis(ws, batch["label"][s:s + args.batch], noise_mode="const")
            for pred, gt in zip(out["semantic"].argmax(1).numpy(), batch["mask"][s:s + args.batch].numpy()):
                scores.add(pred, gt)
    result = {"generator": str(args.generator or "shipped default"), "latents": str(args.latents),
              "images": len(idx), "mask_miou": float(np.mean(scores.per_image)),
              "per_class_iou_pooled": scores.pooled_class_iou()}
    if args.meshes:
        seeds = json.loads((Path(args.data) / "dataset.json").read_text()).get("seeds")
        if not seeds:
            sys.exit(f"{args.data}/dataset.json lists no head seeds: --meshes needs a SynthHeads dataset")
        full, frame = training_head_chamfers(G, z, seeds, batch["group"][:args.meshes], args.mesh_resolution)
        result["chamfer"], result["chamfer_in_frame"] = full, frame
        result["chamfer_mean"], result["chamfer_in_frame_mean"] = float(np.mean(full)), float(np.mean(frame))
        result["chamfer_units"] = "model units; mean of both directions, mesh res %d" % args.mesh_resolution
    result["seconds"] = time.time() - t0
    common.write(args.name, result)
    print(f"training-head fit: mask mIoU {result['mask_miou']:.3f} over {len(idx)} images"
          + (f", Chamfer {result['chamfer_mean']:.4f} (in frame {result['chamfer_in_frame_mean']:.4f})"
             f" over {args.meshes} heads" if args.meshes else ""))


def training_head_chamfers(G, z, seeds, groups, resolution: int) -> tuple[list[float], list[float]]:
    """Chamfer distance of each head's mesh (from its fitted code) to its ground truth
    (head g of the dataset is SynthHeads' head seeds[g]): whole meshes, and their
    parts inside the portrait frame."""
    from ide3d_backend.mesh import extract_head_mesh
    from ide3d_backend.synthheads import ground_truth_mesh, sample_head
    frontal = camera.label_tensor()[0]
    full, frame = [], []
    with torch.no_grad():
        for g in groups:
            ws = G.mapping(z[int(g)][None], frontal[None])
            mesh = extract_head_mesh(G, ws, resolution=resolution)
            gt_vertices, _, _ = ground_truth_mesh(sample_head(seeds[int(g)]), resolution=resolution)
            full.append(chamfer_distance(mesh.vertices, gt_vertices))
            frame.append(chamfer_in_frame(mesh.vertices, gt_vertices))
    return full, frame


if __name__ == "__main__":
    main()
