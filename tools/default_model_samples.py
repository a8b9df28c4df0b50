"""docs/images/default_model_samples.png: three training heads (their fitted codes from a
generator run) and three random heads, three views each, RGB | masks.

Usage: python tools/default_model_samples.py [--generator G] [--latents RUN/latents.safetensors] [--out PNG]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ide3d_backend import load_generator  # noqa: E402
from training.latent_init import load_latents  # noqa: E402
from training.train_generator import write_sample_grid  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generator", default=None, help="generator checkpoint (default: the shipped one)")
    ap.add_argument("--latents", default=str(ROOT / "runs/generator/latents.safetensors"))
    ap.add_argument("--out", default=str(ROOT / "docs/images/default_model_samples.png"))
    args = ap.parse_args()
    G = load_generator(args.generator, device="cpu")
    z = load_latents(args.latents)[:3]
    with torch.no_grad():
        write_sample_grid(G, z, 3, Path(args.out))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
