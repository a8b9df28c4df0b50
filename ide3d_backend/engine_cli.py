"""CLI commands of the inversion/editing engine: invert, render, edit, sample, draw, mesh."""
from __future__ import annotations

import argparse
import math
import sys
import threading
from pathlib import Path

import numpy as np


def resolve_generator(checkpoint=None, device=None):
    """(G, base_source) from --checkpoint, else the default model, else (with a note)
    an untrained tiny generator so every command still runs end to end (sources)."""
    from .sources import resolve_generator as resolve
    return resolve(checkpoint, device, untrained_fallback=True)


def _progress():
    from tqdm import tqdm
    bars = {}

    def cb(stage, step, total, loss, preview):
        bar = bars.get(stage)
        if bar is None:
            for b in bars.values():
                b.close()
            bar = bars[stage] = tqdm(total=total, desc=stage, unit="step", file=sys.stderr, leave=True)
        bar.update(step - bar.n)
        if loss == loss:  # not NaN
            bar.set_postfix(loss=f"{loss:.4f}")

    def close():
        for b in bars.values():
            b.close()
    return cb, close


def _open(args):
    """The command's session; its base generator from --checkpoint, else the one its
    record names (sources.session_generator, inside Session.open)."""
    from .session import Session
    return Session.open(args.session, checkpoint=args.checkpoint or None, device=args.device)


def cmd_invert(args) -> int:
    from .session import invert_photo
    from .sources import optional_encoders, optional_parser
    G, base = resolve_generator(args.checkpoint, args.device)
    encoders, parser = optional_encoders(None, G.device), optional_parser(None, G.device)
    cb, close = _progress()
    cancel = threading.Event()
    try:
        s = invert_photo(G, args.photo, args.out, mask=args.mask, preset=args.preset, align=not args.no_align,
                         encoders=encoders, parser=parser, callback=cb, cancel=cancel, base_source=base,
                         overwrite=args.overwrite)
    except KeyboardInterrupt:
        cancel.set()
        raise
    finally:
        close()
    for w in s.info()["warnings"]:
        print(f"warning: {w}", file=sys.stderr)
    t = s.meta["extra"]["inversion"]
    print(f"wrote session {s.path} (perceptual {t['perceptual']:.3f}, {t['timings']['total']:.1f} s)")
    return 0


def _limits():
    """The service's request limits: the CLI accepts what the API accepts (one place)."""
    from .limits import Limits
    return Limits()


def _in_range(name: str, value, low, high) -> None:
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"--{name} {value} is out of range: use a number in [{low:g}, {high:g}]")


def check_render_args(args) -> None:
    """Angles finite and within the pose range, size within the render limits."""
    L = _limits()
    _in_range("yaw", args.yaw, -L.max_abs_yaw, L.max_abs_yaw)
    _in_range("pitch", args.pitch, -L.max_abs_pitch, L.max_abs_pitch)
    if args.size is not None:
        _in_range("size", args.size, L.min_render_size, L.max_render_size)


def check_mesh_args(args) -> None:
    """Resolution, smoothing and face count within the service's mesh limits."""
    L = _limits()
    _in_range("resolution", args.resolution, L.min_mesh_resolution, L.max_mesh_resolution)
    _in_range("smooth", args.smooth, 0, L.max_smooth)
    if args.faces is not None:
        _in_range("faces", args.faces, 4, L.max_faces)


def check_out_dir(args) -> None:
    """--out's folder must exist unless --parents asks to create it (a typo must not
    silently create a tree somewhere)."""
    parent = Path(args.out).parent
    if parent.is_dir():
        return
    if not args.parents:
        raise ValueError(f"the folder {parent} does not exist; create it first or pass --parents")
    parent.mkdir(parents=True, exist_ok=True)


def cmd_render(args) -> int:
    from . import views
    check_render_args(args)
    check_out_dir(args)
    s = _open(args)
    arr = s.render(args.yaw, args.pitch, args.kind, args.size)
    views.save_png(arr, args.out, palette_mask=args.kind == "mask" and not args.ids)
    print(f"wrote {args.out}")
    return 0


def cmd_edit(args) -> int:
    from . import editing, preprocess
    s = _open(args)
    from .session import Session
    other = args.style_session or args.texture_session
    source = Session.open(other, G=s.G_base) if other else None
    if args.undo:
        info = s.undo()
    elif args.redo:
        info = s.redo()
    elif args.mask:
        from .sources import load_editor
        info = editing.edit_mask(s, preprocess.load_mask(args.mask), encoders=load_editor(None, s.G.device))
    elif args.region:
        if args.style_seed is None and args.style_session is None:
            raise ValueError("--region needs --style-seed N or --style-session DIR")
        info = editing.edit_region(s, args.region, seed=args.style_seed, source=source)
    elif args.texture_seed is not None or args.texture_session:
        info = editing.edit_texture(s, seed=args.texture_seed, source=source)
    elif args.interpolate:
        part, alpha = args.interpolate
        info = editing.edit_interpolate(s, part, float(alpha), seed=args.style_seed, source=source)
    else:
        raise ValueError("give one edit: --mask, --region, --texture-seed, --interpolate, --undo or --redo")
    print(f"session {s.path}: version {info['version']}: {info['history'][-1]['summary']}")
    return 0


def cmd_sample(args) -> int:
    from .session import sample_session
    G, base = resolve_generator(args.checkpoint, args.device)
    s = sample_session(G, args.seed, args.out, args.truncation, base)
    print(f"wrote session {s.path}")
    return 0


def cmd_draw(args) -> int:
    from . import preprocess
    from .session import draw_session
    from .sources import load_editor
    G, base = resolve_generator(args.checkpoint, args.device)
    s = draw_session(G, preprocess.load_mask(args.mask), args.out, args.texture_seed,
                     encoders=load_editor(None, G.device), base_source=base)
    print(f"wrote session {s.path}")
    return 0


def cmd_mesh(args) -> int:
    from .export import export_mesh
    check_mesh_args(args)
    check_out_dir(args)
    from .texture import check_texture_size
    texture = getattr(args, "texture", None)
    if texture is not None:  # issue 16: fail on a bad size before the slow steps
        check_texture_size(texture)
    s = _open(args)
    m = s.mesh(args.resolution, args.smooth, args.faces)
    if len(m.faces) == 0:
        raise ValueError("the density field has no surface at the extraction level (is the model trained?)")
    if texture is not None:
        from .texturing import SessionTexturer
        th = SessionTexturer().textured_mesh("cli", s, m, texture)
        m = th.mesh
        for w in th.result.warnings:
            print(f"note: {w}", file=sys.stderr)
    path = export_mesh(m, args.out, args.format)
    print(f"wrote {path} ({len(m.vertices)} vertices, {len(m.faces)} faces)")
    return 0


def _common(p):
    p.add_argument("--checkpoint", default=None, help="generator checkpoint (default: the shipped model)")
    p.add_argument("--device", default=None, help="auto, cpu or cuda[:N]")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("invert", help="photo -> editable 3D head session")
    p.add_argument("photo")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--mask", default=None, help="8-bit id PNG or palette-colour PNG")
    p.add_argument("--preset", default="fast", choices=["fast", "quality"])
    p.add_argument("--no-align", action="store_true", help="the photo is already a centred head crop")
    p.add_argument("--overwrite", action="store_true")
    _common(p)
    p.set_defaults(func=cmd_invert)

    p = sub.add_parser("render", help="render a session from any view")
    p.add_argument("session", type=Path)
    p.add_argument("--yaw", type=float, default=0.0, help="radians, 0 = frontal, + = camera on +x")
    p.add_argument("--pitch", type=float, default=0.0, help="radians, + = from above")
    p.add_argument("--kind", default="rgb", choices=["rgb", "mask", "depth"])
    p.add_argument("--ids", action="store_true", help="write masks as 8-bit ids, not palette colours")
    p.add_argument("--size", type=int, default=None)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--parents", action="store_true", help="create --out's folder when it does not exist")
    _common(p)
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("edit", help="edit a session (shape mask, region style, texture, undo/redo)")
    p.add_argument("session", type=Path)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--mask", help="edited mask in the canonical (frontal) view")
    g.add_argument("--region", help="classes, e.g. hair,lips")
    g.add_argument("--texture-seed", type=int, default=None)
    g.add_argument("--texture-session", type=Path, default=None)
    g.add_argument("--interpolate", nargs=2, metavar=("shape|texture", "ALPHA"))
    g.add_argument("--undo", action="store_true")
    g.add_argument("--redo", action="store_true")
    p.add_argument("--style-seed", type=int, default=None)
    p.add_argument("--style-session", type=Path, default=None)
    _common(p)
    p.set_defaults(func=cmd_edit)

    p = sub.add_parser("sample", help="a random head from a seed, as a session")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--truncation", type=float, default=0.7)
    p.add_argument("--out", required=True, type=Path)
    _common(p)
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("draw", help="3D face from a drawn semantic mask")
    p.add_argument("mask")
    p.add_argument("--texture-seed", type=int, default=0)
    p.add_argument("--out", required=True, type=Path)
    _common(p)
    p.set_defaults(func=cmd_draw)

    p = sub.add_parser("mesh", help="labelled, coloured mesh of a session")
    p.add_argument("session", type=Path)
    p.add_argument("--resolution", type=int, default=256)
    p.add_argument("--format", default=None, choices=["glb", "obj", "ply"])
    p.add_argument("--smooth", type=int, default=0)
    p.add_argument("--faces", type=int, default=None)
    p.add_argument("--texture", type=int, default=None,
                   help="bake a colour texture of this size (a power of two in 256..4096, e.g. 1024)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--parents", action="store_true", help="create --out's folder when it does not exist")
    _common(p)
    p.set_defaults(func=cmd_mesh)


class _OnlyOne:
    """Subparsers proxy adding only the parser called `name` (one COMMANDS entry each)."""

    def __init__(self, sub, name):
        self.sub, self.name = sub, name

    def add_parser(self, name, **kw):
        return self.sub.add_parser(name, **kw) if name == self.name else argparse.ArgumentParser(add_help=False)


def _register_one(name):
    return lambda sub: register(_OnlyOne(sub, name))


register_invert, register_render, register_edit = (_register_one(n) for n in ("invert", "render", "edit"))
register_sample, register_draw, register_mesh = (_register_one(n) for n in ("sample", "draw", "mesh"))
