"""Files downloaded from the backend's export route, written where the user asked (stdlib only).

The backend sends an OBJ as a zip (OBJ + MTL, maybe a texture) whose member names follow the
session's name; the user named a file in the export dialog. So the OBJ is written under that
name, its MTL beside it as ``<stem>.mtl`` (the OBJ's ``mtllib`` line rewritten to match) and
any other member (a texture the MTL names) beside them under its own name. No zip is left.
"""
from __future__ import annotations

import os
import re
import zipfile
from io import BytesIO
from pathlib import Path, PurePosixPath

MTLLIB = re.compile(rb"^mtllib[ \t]+.*$", re.MULTILINE)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_obj_zip(data: bytes, target: Path) -> list[Path]:
    """Unpack the backend's OBJ zip as ``target`` (.obj), ``target``.mtl and the texture(s) beside."""
    target = Path(target)
    if target.suffix.lower() != ".obj":
        target = target.with_name(target.name + ".obj")
    mtl_path = target.with_suffix(".mtl")
    written = []
    with zipfile.ZipFile(BytesIO(data)) as zf:
        members = [m for m in zf.infolist() if not m.is_dir()]
        objs = [m for m in members if m.filename.lower().endswith(".obj")]
        if len(objs) != 1:
            raise ValueError(f"the backend's OBJ export holds {len(objs)} .obj files, expected one")
        for m in members:
            name = PurePosixPath(m.filename).name  # never a path out of the target folder
            if not name or name.startswith("."):
                continue
            body = zf.read(m)
            if m is objs[0]:
                body = MTLLIB.sub(b"mtllib " + mtl_path.name.encode(), body, count=1)
                out = target
            elif name.lower().endswith(".mtl"):
                out = mtl_path
            else:
                out = target.with_name(name)
            _atomic_write(out, body)
            written.append(out)
    return written


def write_backend_export(data: bytes, target: Path, fmt: str) -> Path:
    """Write a file downloaded from the backend at ``target``; an OBJ zip is unpacked (write_obj_zip)."""
    target = Path(target)
    if fmt == "obj" and data[:2] == b"PK":
        return next(p for p in write_obj_zip(data, target) if p.suffix.lower() == ".obj")
    _atomic_write(target, data)
    return target
