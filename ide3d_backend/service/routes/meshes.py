"""Meshes of a session: GET /sessions/{sid}/mesh (compact JSON for the add-on, or a file)
and GET /sessions/{sid}/export (a file: GLB, OBJ + MTL (+ PNG) zipped, PLY). Meshes are
cached by (session, version, resolution, smoothing, faces). `texture=N` bakes an N² colour
texture (texturing.SessionTexturer: later versions re-bake only what their edit changed)."""
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
from ..errors import ERRORS, ApiError, guarded
from ..models import CompactMesh
from ..settings import Limits
TEXTURE_QUERY = Query(None, description="bake a colour texture of this edge size (a power of two in 256..4096, "
                                        "1024 usual, 2048 for detail); omitted = vertex colours only")
KEEP_PHOTO_QUERY = Query(True, description="keep the photo in front when re-baking after a texture swap")

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


def textured_mesh(b: Backend, session: SessionAccess, resolution: int, smooth: int, faces: int | None,
                  texture: int | None, keep_photo: bool = True):
    """(session, mesh, warnings): the mesh, textured when `texture` is given."""
    if texture is None:
        s, m = head_mesh(b, session, resolution, smooth, faces)
        return s, m, []
    from ...texture import TextureError, check_texture_size
    try:
        size = check_texture_size(texture)
    except TextureError as exc:
        raise ApiError(422, str(exc)) from None
    s, m = head_mesh(b, session, resolution, smooth, faces)
    with session.locked() as s:
        th = guarded(b.texturer.textured_mesh, session.sid, s, m, size, keep_photo, (resolution, smooth, faces))
    return s, th.mesh, list(th.result.warnings)


def compact_body(s, m, warnings: list[str] | None = None) -> dict:
    """The CompactMesh body of a model-frame mesh (Blender frame, base64 arrays)."""
    mb = m.to_blender_frame()
    body = {"version": s.version, "frame": "blender",
            "vertices": _b64(mb.vertices, "<f4"), "faces": _b64(mb.faces, "<i4"),
            "colors": _b64(mb.colors, np.uint8), "labels": _b64(mb.labels, np.uint8),
            "vertex_count": int(len(mb.vertices)), "face_count": int(len(mb.faces))}
    if mb.texture is not None and mb.uvs is not None:
        from ...texture import png_bytes
        body.update(uvs=_b64(mb.uvs, "<f4"), texture_png=base64.b64encode(png_bytes(mb.texture)).decode(),
                    texture_size=int(mb.texture.shape[0]), warnings=warnings or [])
    return body


LIVE_TOLERANCE = 0.02  # blocks whose samples moved less than this fraction of the level keep their triangles


def live_mesh(b: Backend, session: SessionAccess, resolution: int, restart: bool = False):
    """(session, coarse mesh) of the session's current state from its live mesher: the level
    is fixed when the mesher starts (restart=True, a new resolution, or a first call), and
    only the blocks whose density changed are re-marched."""
    from ...mesh.fields import generator_fields
    from ...mesh.live import LiveMesher
    from ...mesh.pipeline import rendered_surface_level
    with session.locked() as s:
        planes, field = guarded(s.field)
        G, ws = s.G, s.ws.to(planes.semantic.device)
        mesher = b.live_meshers.get(session.sid)
        if restart or mesher is None or mesher.resolution != resolution:
            level = rendered_surface_level(G, ws, planes)
            mesher = LiveMesher(resolution, G.cfg.render.box_warp, level, tolerance=LIVE_TOLERANCE * level)
            b.live_meshers.drop(lambda k: k == session.sid)
            b.live_meshers.put(session.sid, mesher)
        density, labels, colors = generator_fields(G, ws, planes)
        if field is not None:  # region style layers colour their classes, as in Session.mesh
            dev, dt = planes.semantic.device, planes.semantic.dtype
            colors = lambda xyz: field(xyz.to(device=dev, dtype=dt)[None])["features"][0, :, :3]  # noqa: E731
        return s, guarded(mesher.mesh, density, labels, colors)


def mesh_file(s, m, fmt: str):
    """(bytes, content type, file extension) of the mesh in a file format."""
    from ... import export
    if fmt == "glb":
        return export.glb_bytes(m.to_yup_metres(), name=s.name), "model/gltf-binary", "glb"
    if fmt == "ply":
        return export.ply_bytes(m.to_blender_frame()), "application/octet-stream", "ply"
    mtl = _filename(s.name, "mtl")
    png = _filename(s.name, "png") if m.texture is not None and m.uvs is not None else None
    obj, mtl_text = export.obj_text(m.to_yup_metres(), mtl, png)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(_filename(s.name, "obj"), obj)
        z.writestr(mtl, mtl_text)
        if png:
            from ...texture import png_bytes
            z.writestr(png, png_bytes(m.texture))
    return buf.getvalue(), "application/zip", "zip"


def _file_headers(s, ext: str, warnings: list[str]) -> dict:
    headers = {"Content-Disposition": f'attachment; filename="{_filename(s.name, ext)}"'}
    if warnings:  # e.g. a sampled head has no photo: the texture comes from renders only
        headers["X-IDE3D-Warnings"] = "; ".join(warnings).encode("ascii", "replace").decode()
    return headers


def router_for(limits: Limits) -> APIRouter:
    """The mesh routes, their resolution/smooth/faces bounded by `limits` (shown in the schema)."""
    L = limits
    router = APIRouter(tags=["sessions"], dependencies=secured, responses=FILE_ANSWER)

    @router.get("/sessions/{sid}/mesh")
    def mesh(session: SessionDep, backend: BackendDep,
             resolution: int = Query(128, ge=L.min_mesh_resolution, le=L.max_mesh_resolution),
             format: Literal["compact", "glb", "obj", "ply"] = Query("compact"),
             smooth: int = Query(0, ge=0, le=L.max_smooth, description="Taubin iterations"),
             faces: Optional[int] = Query(None, ge=4, le=L.max_faces, description="target face count"),
             texture: Optional[int] = TEXTURE_QUERY, keep_photo: bool = KEEP_PHOTO_QUERY):
        s, m, warnings = textured_mesh(backend, session, resolution, smooth, faces, texture, keep_photo)
        if format == "compact":
            return JSONResponse(compact_body(s, m, warnings))
        data, ctype, ext = mesh_file(s, m, format)
        return Response(data, media_type=ctype, headers=_file_headers(s, ext, warnings))

    @router.get("/sessions/{sid}/mesh/live", response_model=CompactMesh)
    def mesh_live(session: SessionDep, backend: BackendDep,
                  resolution: int = Query(96, ge=L.min_mesh_resolution, le=min(L.max_mesh_resolution, 256)),
                  restart: bool = Query(False, description="start over: fix the level at the current state")):
        """The coarse mesh while painting (docs/api.md): only changed blocks are re-marched."""
        s, m = live_mesh(backend, session, resolution, restart)
        return JSONResponse(compact_body(s, m))

    @router.get("/sessions/{sid}/export", response_class=Response)
    def export_route(session: SessionDep, backend: BackendDep, format: Literal["glb", "obj", "ply"] = Query("glb"),
                     resolution: int = Query(256, ge=L.min_mesh_resolution, le=L.max_mesh_resolution),
                     smooth: int = Query(0, ge=0, le=L.max_smooth),
                     faces: Optional[int] = Query(None, ge=4, le=L.max_faces),
                     texture: Optional[int] = TEXTURE_QUERY, keep_photo: bool = KEEP_PHOTO_QUERY):
        s, m, warnings = textured_mesh(backend, session, resolution, smooth, faces, texture, keep_photo)
        data, ctype, ext = mesh_file(s, m, format)
        return Response(data, media_type=ctype, headers=_file_headers(s, ext, warnings))

    return router
