#!/usr/bin/env python3
"""The README's side-by-side of issue 16: vertex colours | baked photo texture, front and
side, rendered with Cycles on the CPU through the add-on's own import path (mesh_io +
texture_io) -> docs/images/texture_side_by_side.png.

The head is an inverted session (default: the bundled astronaut, inverted with the
shipped model by bench/texture.py) or a SynthHeads head baked from its ground-truth
renders (--synthheads SEED).
Usage: python tools/texture_doc_image.py [--session DIR | --synthheads SEED] [--size 320]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def session_head(session_dir: str, texture: int, resolution: int):
    from ide3d_backend.session import Session
    from ide3d_backend.texturing import SessionTexturer

    s = Session.open(session_dir)
    hm = s.mesh(resolution)
    return hm, SessionTexturer().textured_mesh("doc", s, hm, texture).mesh


def synth_head(seed: int, texture: int):
    import numpy as np
    import torch

    from ide3d_backend import camera
    from ide3d_backend import mesh as M
    from ide3d_backend.synthheads import render_views, sample_head
    from ide3d_backend.texture import BakeConfig, texture_head

    head = sample_head(seed)
    with torch.no_grad():
        hm = M.mesh_from_fields(M.sdf_to_density(head.sdf, 50.0, 200.0), lambda x: head.sdf(x)[1],
                                lambda x: head.albedo(x, head.sdf(x)[1]), resolution=128, level=25.0,
                                keep_components=0.01)
    cfg = BakeConfig(size=texture)
    labels = [camera.label_from_angles(0.0, 0.0)] + [camera.label_from_angles(y, p) for y, p in cfg.render_views]
    views = render_views(head, np.stack(labels), 256)
    lookup = {np.asarray(l, np.float32).round(5).tobytes(): v["rgb"] for l, v in zip(labels[1:], views[1:])}
    th = texture_head(hm, views[0]["rgb"], labels[0],
                      lambda lab: lookup[np.asarray(lab, np.float32).round(5).tobytes()], cfg)
    return hm, th.mesh


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--session", default=None)
    ap.add_argument("--synthheads", type=int, default=None)
    ap.add_argument("--texture", type=int, default=1024)
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--out", default=str(ROOT / "docs" / "images" / "texture_side_by_side.png"))
    args = ap.parse_args(argv)
    if args.synthheads is not None:
        hm, textured = synth_head(args.synthheads, args.texture)
    else:
        hm, textured = session_head(args.session or "out/bench_astronaut", args.texture, args.resolution)

    import bpy
    import numpy as np
    from PIL import Image

    from addon import mesh_io, render_local, texture_io
    from ide3d_backend.texture import png_bytes

    for o in list(bpy.data.objects):
        bpy.data.objects.remove(o)
    tb = textured.to_blender_frame()
    payload = mesh_io.encode_compact(tb.vertices, tb.faces, tb.colors, tb.labels, uvs=tb.uvs,
                                     texture_png=png_bytes(tb.texture))
    obj = mesh_io.create_head_object("Head", payload, {"id": "doc", "version": 1}, "http://127.0.0.1:8765")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for yaw in (0.0, 0.8):
            tiles = []
            for mode in ("VERTEX", "TEXTURE"):
                texture_io.set_display(obj, mode)
                p = render_local.render_objects([obj], f"{tmp}/{mode}_{yaw}.png", size=args.size,
                                                samples=args.samples, yaw=yaw, pitch=-0.05)
                tiles.append(np.asarray(Image.open(p).convert("RGB")))
            rows.append(np.concatenate(tiles, axis=1))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(out, optimize=True)
    print("wrote", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
