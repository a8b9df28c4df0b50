"""Meshes of a session: GET /sessions/{sid}/mesh (compact JSON for the add-on, or a file)
and GET /sessions/{sid}/export (a file: GLB, OBJ + MTL zipped, PLY). Meshes are cached by
(session, version, resolution, smoothing, faces)."""
from __future__ import annotations

import base64
import io
import re
import zipfile
from typing import Literal, Optional

import numpy as np
from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from .. import long_work
from ..backend import Backend
from ..deps import BackendDep, SessionAccess, SessionDep, secured
from ..errors import ERRORS, guarded
from ..models import CompactMesh
from ..settings import Limits

FILE_ANSWER = {**ERRORS, 200: {"content": {"application/json": {"schema": CompactMesh.model_json_schema()},
                                           "model/gltf-binary": {}, "application/zip": {},
                                           "application/octet-stream": {}}}}


def _b64(arr: np.ndarray, dtype) -> str:
    return base64.b64encode(np.ascontiguousarray(arr, dtype=dtype).tobytes()).decode("ascii")


def _filename(name: str, ext: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "ide3d_head"
    return f"{stem[:80]}.{ext}"


def head_mesh(b: Backend, session: SessionAccess, resolution: int, smooth: int, faces: int | None):
    """(session, mesh) under the model lock, the mesh from the cache when it holds it; a mesh
    above LONG_MESH_RESOLUTION is made by the long-work worker, outside the lock."""
    with session.locked() as s:
        key = (session.sid, s.version, resolution, smooth, faces)
        m = b.mesh_cache.get(key)
        if m is None and resolution <= long_work.LONG_MESH_RESOLUTION:
            m = guarded(s.mesh, resolution, smooth, faces)
            b.mesh_cache.put(key, m)
        if m is not None:
            return s, m
    version, m = b.long_work.mesh(s.path, resolution, smooth, faces)
    b.mesh_cache.put((session.sid, version, resolution, smooth, faces), m)
    return s, m


def mesh_file(s, m, fmt: str):
    """(bytes, content type, file extension) of the mesh in a file format."""
    from ... import export
    if fmt == "glb":
        return export.glb_bytes(m.to_yup_metres(), name=s.name), "model/gltf-binary", "glb"
    if fmt == "ply":
        return export.ply_bytes(m.to_blender_frame()), "application/octet-stream", "ply"
    mtl = _filename(s.name, "mtl")
    obj, mtl_text = export.obj_text(m.to_yup_metres(), mtl)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(_filename(s.name, "obj"), obj)
        z.writestr(mtl, mtl_text)
    return buf.getvalue(), "application/zip", "zip"


def router_for(limits: Limits) -> APIRouter:
    """The mesh routes, their resolution/smooth/faces bounded by `limits` (shown in the schema)."""
    L = limits
    router = APIRouter(tags=["sessions"], dependencies=secured, responses=FILE_ANSWER)

    @router.get("/sessions/{sid}/mesh")
    def mesh(session: SessionDep, backend: BackendDep,
             resolution: int = Query(128, ge=L.min_mesh_resolution, le=L.max_mesh_resolution),
             format: Literal["compact", "glb", "obj", "ply"] = Query("compact"),
             smooth: int = Query(0, ge=0, le=L.max_smooth, description="Taubin iterations"),
             faces: Optional[int] = Query(None, ge=4, le=L.max_faces, description="target face count")):
        s, m = head_mesh(backend, session, resolution, smooth, faces)
        if format == "compact":
            mb = m.to_blender_frame()
            return JSONResponse({"version": s.version, "frame": "blender",
                                 "vertices": _b64(mb.vertices, "<f4"), "faces": _b64(mb.faces, "<i4"),
                                 "colors": _b64(mb.colors, np.uint8), "labels": _b64(mb.labels, np.uint8),
                                 "vertex_count": int(len(mb.vertices)), "face_count": int(len(mb.faces))})
        data, ctype, ext = mesh_file(s, m, format)
        return Response(data, media_type=ctype,
                        headers={"Content-Disposition": f'attachment; filename="{_filename(s.name, ext)}"'})

    @router.get("/sessions/{sid}/export", response_class=Response)
    def export_route(session: SessionDep, backend: BackendDep, format: Literal["glb", "obj", "ply"] = Query("glb"),
                     resolution: int = Query(256, ge=L.min_mesh_resolution, le=L.max_mesh_resolution),
                     smooth: int = Query(0, ge=0, le=L.max_smooth),
                     faces: Optional[int] = Query(None, ge=4, le=L.max_faces)):
        s, m = head_mesh(backend, session, resolution, smooth, faces)
        data, ctype, ext = mesh_file(s, m, format)
        return Response(data, media_type=ctype,
                        headers={"Content-Disposition": f'attachment; filename="{_filename(s.name, ext)}"'})

    return router
