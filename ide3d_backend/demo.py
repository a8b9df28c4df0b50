"""The README's main job. Today: render a head of the shipped default model (a random
head of an untrained tiny generator when no default model is installed) as a
turntable strip of RGB and semantic masks. Grows into photo -> GLB with inversion."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import camera, imaging
from .api import build_generator, load_generator
from .checkpoint import CheckpointError


def run_demo(out_dir: Path, seed: int = 0, views: int = 5, device: str | None = None) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        G = load_generator(None, device=device)
        model = "default"
    except CheckpointError as exc:
        print(f"note: {exc}; rendering an untrained tiny generator instead", file=sys.stderr)
        G = build_generator("tiny", seed=0, device=device or "cpu").eval()
        model = "untrained-tiny"
    dev = G.device
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(1, G.z_dim, generator=g).to(dev)
    c0 = torch.from_numpy(camera.frontal_label())[None].to(dev)
    rgb, masks = [], []
    with torch.no_grad():
        ws = G.mapping(z, c0, truncation_psi=0.7)
        planes = G.planes(ws)
        for yaw in np.linspace(-0.6, 0.6, views):
            c = torch.from_numpy(camera.label_from_angles(float(yaw), 0.0))[None].to(dev)
            out = G.synthesis(ws, c, planes=planes)
            rgb.append(imaging.to_uint8(out["image"]))
            masks.append(imaging.mask_from_logits(out["semantic"]))
    turntable = np.concatenate([imaging.strip(rgb), imaging.strip(masks)], axis=0)
    path = out_dir / "turntable.png"
    Image.fromarray(turntable).save(path)
    print(f"wrote {path} ({model} model, seed {seed}, {views} views)")
    return {"turntable": str(path), "model": model}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the main job on the shipped default model")
    p.add_argument("--out", type=Path, default=Path("out/demo"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    p.set_defaults(func=lambda a: run_demo(a.out, a.seed, device=a.device) and 0)
