"""The README's main job (`make demo`): invert the bundled public-domain astronaut
portrait with the shipped default model and write, to out/demo/:

    session/            the editable session (ide3d render/edit/mesh work on it)
    aligned.png         the aligned photo the model saw
    mask.png            its semantic mask (palette colours)
    turntable.png       RGB views over semantic masks, yaw -0.6..0.6
    head.glb, head.obj  the labelled, coloured mesh with a baked photo texture
                        (head.png beside the OBJ; when the density has a surface)

Without an installed default model it falls back to an untrained tiny generator and
says so: the pipeline runs end to end but the head is not meaningful.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from . import semantics, views
from .assets import ASTRONAUT
from .engine_cli import _progress, resolve_generator


def run_demo(out_dir: Path, seed: int = 0, views_n: int = 5, device: str | None = None,
             preset: str = "fast", photo=None, mesh_resolution: int = 128, texture: int | None = 1024) -> dict:
    from .export import export_mesh
    from .session import invert_photo
    from .sources import optional_encoders, optional_parser
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    G, base = resolve_generator(None, device)
    encoders, parser = optional_encoders(None, G.device), optional_parser(None, G.device)
    model = "default" if base.get("default") else "untrained-tiny"
    sess_dir = out_dir / "session"
    if sess_dir.exists():
        shutil.rmtree(sess_dir)
    cb, close = _progress()
    try:
        s = invert_photo(G, photo or ASTRONAUT, sess_dir, preset=preset, encoders=encoders, parser=parser,
                         callback=cb, base_source=base)
    finally:
        close()
    for w in s.info()["warnings"]:
        print(f"note: {w}", file=sys.stderr)
    result = {"model": model, "session": str(sess_dir)}
    Image.fromarray(s.photo()).save(out_dir / "aligned.png")
    Image.fromarray(semantics.mask_to_color(s.mask())).save(out_dir / "mask.png")
    strip = views.turntable(lambda y, p: s.render_all(y, p), np.linspace(-0.6, 0.6, views_n))
    Image.fromarray(strip).save(out_dir / "turntable.png")
    result.update(aligned=str(out_dir / "aligned.png"), mask=str(out_dir / "mask.png"),
                  turntable=str(out_dir / "turntable.png"))
    mesh = s.mesh(mesh_resolution)
    if len(mesh.faces) and texture:
        from .texturing import SessionTexturer
        mesh = SessionTexturer().textured_mesh("demo", s, mesh, texture).mesh
    if len(mesh.faces):
        result["glb"] = str(export_mesh(mesh, out_dir / "head.glb"))
        result["obj"] = str(export_mesh(mesh, out_dir / "head.obj"))
    else:
        print("note: the model's density has no surface at the extraction level, so no mesh was "
              "written (expected for an untrained generator)", file=sys.stderr)
    print(f"wrote {', '.join(v for k, v in result.items() if k not in ('model',))} ({model} model)")
    return result


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="invert the bundled portrait and export the 3D head")
    p.add_argument("--out", type=Path, default=Path("out/demo"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--preset", default="fast", choices=["fast", "quality"])
    p.add_argument("--photo", default=None, help="another portrait instead of the bundled one")
    p.add_argument("--device", default=None)
    p.set_defaults(func=lambda a: run_demo(a.out, a.seed, device=a.device, preset=a.preset, photo=a.photo) and 0)
