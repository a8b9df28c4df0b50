"""Face parser on SynthHeads heads that training never saw (seed 10^6 + i), per variety.

The parser labels what the face mesh cannot on a real photo (hair, glasses, ears, neck,
cloth), so its held-out mIoU on both SynthHeads presets says how well it transfers to
light, expressions, beards and backdrops it was or was not trained on.
Writes bench/results/NAME.json: per variety, the mean per-image mIoU and the pooled IoU
of every class, over `--heads` heads at a random FFHQ-like camera each.
Usage: python bench/parser_quality.py [--parser P] [--heads 48] [--name parser_quality]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import common  # bench/common.py: the script's own folder is on sys.path

from ide3d_backend import camera
from ide3d_backend.metrics import MaskScores


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parser", default=None, help="parser checkpoint (default: the shipped one)")
    ap.add_argument("--heads", type=int, default=48)
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--name", default="parser_quality")
    args = ap.parse_args()
    torch.set_num_threads(2)
    from ide3d_backend.encoding import load_parser, parse
    from ide3d_backend.inversion import image_to_tensor
    from ide3d_backend.synthheads import render_head, sample_head
    parser = load_parser(args.parser, device="cpu").eval()
    t0 = time.time()
    result: dict = {"parser": str(args.parser or "shipped default"), "heads": args.heads, "varieties": {}}
    for variety in ("classic", "rich"):
        rng = np.random.default_rng(3)
        scores = MaskScores()
        for i in range(args.heads):
            yaw, pitch = camera.sample_angles(1, rng)[0]
            gt = render_head(sample_head(common.HELDOUT_SEED_BASE + i, variety), camera.label_from_angles(yaw, pitch),
                             args.resolution)
            with torch.no_grad():
                pred = parse(parser, image_to_tensor(gt["rgb"], args.resolution))[0].numpy().astype(np.uint8)
            scores.add(pred, gt["mask"])
        result["varieties"][variety] = {"mask_miou": float(np.mean(scores.per_image)),
                                        "per_class_iou_pooled": scores.pooled_class_iou()}
        print(variety, f"mIoU {result['varieties'][variety]['mask_miou']:.3f}")
    result["seconds"] = time.time() - t0
    common.write(args.name, result)


if __name__ == "__main__":
    main()
