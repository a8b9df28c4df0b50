#!/usr/bin/env python3
"""Validate and build the Blender extension zip ``dist/ide3d-<version>.zip``.

Stages a folder with ``blender_manifest.toml`` next to the add-on's modules
(``addon/*`` flattened), then runs the extension command line that ships inside
the bpy wheel (no Blender binary needed):

    python <site-packages>/bpy/<ver>/scripts/addons_core/bl_pkg/cli/blender_ext.py validate DIR
    python ... blender_ext.py build --source-dir DIR --output-dir OUT

Usage: python tools/build_addon.py [--out dist] [--blender-ext PATH] [--keep-stage DIR]
"""
from __future__ import annotations

import argparse
import glob
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "blender_manifest.toml"
ADDON = ROOT / "addon"


def find_blender_ext() -> Path:
    """blender_ext.py inside the installed bpy wheel (or $BLENDER_EXT)."""
    env = os.environ.get("BLENDER_EXT")
    if env:
        return Path(env)
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the bpy module is not installed: `pip install bpy==5.0.1` (the `blender` extra), "
                         "or set BLENDER_EXT to blender_ext.py of a Blender install")
    for loc in spec.submodule_search_locations:
        hits = sorted(glob.glob(os.path.join(loc, "*", "scripts", "addons_core", "bl_pkg", "cli", "blender_ext.py")))
        if hits:
            return Path(hits[-1])
    raise SystemExit("blender_ext.py not found inside the bpy package")


def manifest_version(path: Path = MANIFEST) -> str:
    m = re.search(r'^version\s*=\s*"([^"]+)"', path.read_text(encoding="utf-8"), re.M)
    if not m:
        raise SystemExit(f"{path} has no version")
    return m.group(1)


def stage(dest: Path) -> Path:
    """Copy the manifest and the add-on modules (flattened) into dest."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(MANIFEST, dest / "blender_manifest.toml")
    for src in sorted(ADDON.rglob("*")):
        rel = src.relative_to(ADDON)
        if "__pycache__" in rel.parts or src.suffix in (".pyc", ".pyo") or rel.name.startswith("."):
            continue
        target = dest / rel
        if src.is_dir():
            target.mkdir(exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    return dest


def addon_modules() -> list[str]:
    """The add-on's Python files as they appear in the zip (paths relative to addon/)."""
    return sorted(p.relative_to(ADDON).as_posix() for p in ADDON.rglob("*.py") if "__pycache__" not in p.parts)


def run_cli(blender_ext: Path, *args: str) -> str:
    proc = subprocess.run([sys.executable, str(blender_ext), *args], capture_output=True, text=True)
    out = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        raise SystemExit(f"blender_ext.py {args[0]} failed ({proc.returncode}):\n{out}")
    return out


def build(out_dir: Path, blender_ext: Path | None = None, keep_stage: Path | None = None, verbose: bool = True) -> Path:
    blender_ext = blender_ext or find_blender_ext()
    version = manifest_version()
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ide3d_addon_") as tmp:
        staged = stage(Path(keep_stage) if keep_stage else Path(tmp) / "ide3d")
        msg = run_cli(blender_ext, "validate", str(staged))
        if verbose:
            print(msg or "validate: ok")
        target = out_dir / f"ide3d-{version}.zip"
        if target.exists():
            target.unlink()
        msg = run_cli(blender_ext, "build", "--source-dir", str(staged), "--output-dir", str(out_dir))
        if verbose and msg:
            print(msg)
    if not target.exists():
        made = sorted(out_dir.glob("ide3d-*.zip"), key=lambda p: p.stat().st_mtime)
        if not made:
            raise SystemExit(f"the build wrote no zip into {out_dir}")
        made[-1].rename(target)
    with zipfile.ZipFile(target) as zf:
        names = zf.namelist()
    # every module of addon/ (e.g. each ops_*.py) must have made it into the zip, at its place
    for required in ("blender_manifest.toml", *addon_modules()):
        if required not in names:
            raise SystemExit(f"{target} lacks {required} at its root: {names}")
    if verbose:
        print(f"built {target} ({len(names)} files)")
    return target


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "dist"), help="output folder (default dist/)")
    ap.add_argument("--blender-ext", default=None, help="path of blender_ext.py (default: from the bpy wheel)")
    ap.add_argument("--keep-stage", default=None, help="stage into this folder and keep it")
    args = ap.parse_args(argv)
    build(Path(args.out), Path(args.blender_ext) if args.blender_ext else None,
          Path(args.keep_stage) if args.keep_stage else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
