#!/usr/bin/env python3
"""Render the add-on's documentation images (docs/images/addon_*.png) headless.

A SynthHeads ground-truth head (labelled, coloured) goes through the add-on's own
compact-mesh path (mesh_io: attributes, vertex groups, vertex-colour material) and
is rendered with Cycles on the CPU (render_local) from three yaws.
Usage: python tools/addon_doc_images.py [--out DIR] [--size 256] [--seed 3] [--session DIR --name PREFIX]

The images go to out/addon_images/ unless --out says otherwise: the tracked pictures of the
README and docs/addon.md change only on purpose, with `--out docs/images` (SynthHeads head:
default name addon_head; `make demo` session: `--session out/demo/session --name addon_demo`).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def head_payload(seed: int, resolution: int, colour: str):
    import numpy as np
    import torch

    from addon import mesh_io
    from ide3d_backend import semantics
    from ide3d_backend.mesh import METRES_PER_UNIT, MODEL_TO_BLENDER
    from ide3d_backend.synthheads import ground_truth_mesh, sample_head
    from ide3d_backend.synthheads.appearance import albedo

    head = sample_head(seed)
    v, f, lab = ground_truth_mesh(head, resolution)
    if colour == "classes":
        col = semantics.PALETTE[lab]
    else:
        with torch.no_grad():
            a = albedo(head, torch.from_numpy(v), torch.from_numpy(lab.astype(np.int64)))
        col = np.clip(np.asarray(a) * 255 + 0.5, 0, 255).astype(np.uint8)
    vb = (v.astype(np.float64) @ MODEL_TO_BLENDER.T * METRES_PER_UNIT).astype(np.float32)
    return mesh_io.encode_compact(vb, f, col, lab)


def session_payload(session_dir: str, resolution: int, colour: str):
    """The compact mesh the backend sends for a session (an inverted photo), as the add-on gets it."""
    from addon import mesh_io
    from ide3d_backend import semantics
    from ide3d_backend.session import Session

    hm = Session.open(session_dir).mesh(resolution).to_blender_frame()
    col = semantics.PALETTE[hm.labels] if colour == "classes" else hm.colors
    return mesh_io.encode_compact(hm.vertices, hm.faces, col, hm.labels)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description="render the add-on's documentation images headless")
    ap.add_argument("--out", default=str(ROOT / "out" / "addon_images"),
                    help="output folder (default out/addon_images; docs/images holds the tracked pictures)")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--session", default=None, help="render this backend session's head instead of a SynthHeads one")
    ap.add_argument("--name", default="addon_head", help="file name prefix")
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    import bpy
    import numpy as np
    from PIL import Image

    from addon import mesh_io, render_local

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for o in list(bpy.data.objects):
        bpy.data.objects.remove(o)
    yaws = (-0.7, 0.0, 0.7)
    for colour in ("classes", "colour"):
        payload = (session_payload(args.session, args.resolution, colour) if args.session
                   else head_payload(args.seed, args.resolution, colour))
        obj = mesh_io.create_head_object(f"Head {colour}", payload, {"id": "doc", "version": 1}, "http://127.0.0.1:8765")
        tiles = []
        with tempfile.TemporaryDirectory() as tmp:
            for i, yaw in enumerate(yaws):
                p = render_local.render_objects([obj], f"{tmp}/v{i}.png", size=args.size, samples=args.samples,
                                                yaw=yaw, pitch=-0.1)
                tiles.append(np.asarray(Image.open(p).convert("RGB")))
        Image.fromarray(np.concatenate(tiles, axis=1)).save(out / f"{args.name}_{colour}.png", optimize=True)
        print("wrote", out / f"{args.name}_{colour}.png", "groups:", [g.name for g in obj.vertex_groups])
        bpy.data.objects.remove(obj)
    return 0


if __name__ == "__main__":
    sys.exit(main())
