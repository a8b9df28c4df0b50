"""A session's textured head: the glue between a session (photo, camera, renders, edit
state) and the texture package, which works on plain inputs only.

`SessionTexturer` keeps the last bake of each session so a later version re-bakes only
what changed (issue 16, item 3): same shape code and only region-style layers changed ->
the texels of those classes; texture code changed (a texture swap) -> every texel, the
photo kept in front unless `keep_photo=False`; shape changed -> a new atlas and bake.
Only public session calls are used: `photo()`, `yaw`, `pitch`, `ws`, `layers`,
`render(yaw, pitch)`, `mesh(...)`, `G.num_shape_ws`.
"""
from __future__ import annotations

import threading

import numpy as np
import torch

from .camera import angles_from_label, label_from_angles
from .texture import BakeConfig, TexturedHead, rebake, texture_head

PHOTO_NOTE = "no photo in this session"


def session_render(session):
    """`render(label) -> rgb uint8`: the session's super-resolved image from a camera."""
    def render(label):
        yaw, pitch, _ = angles_from_label(label)
        return session.render(yaw, pitch, "rgb")
    return render


def _layer_sig(layers) -> dict:
    return {tuple(l.classes): l.w_t.detach().cpu().float().numpy() for l in layers}


def _changed_classes(old: dict, new: dict) -> set[int]:
    out: set[int] = set()
    for key in set(old) | set(new):
        if key not in old or key not in new or not np.array_equal(old[key], new[key]):
            out.update(int(c) for c in key)
    return out


class SessionTexturer:
    """Bakes (and re-bakes) textured heads of sessions; thread-safe, one entry per session."""

    def __init__(self):
        self._last: dict[str, tuple] = {}
        self._lock = threading.Lock()

    def forget(self, sid: str) -> None:
        with self._lock:
            self._last.pop(sid, None)

    def textured_mesh(self, sid: str, session, mesh, size: int, keep_photo: bool = True,
                      mesh_key=None) -> TexturedHead:
        """The textured head of `session`'s current state; `mesh` is its HeadMesh (model
        frame) and `mesh_key` what it was extracted with (resolution, smoothing, faces)."""
        cfg = BakeConfig(size=size)
        ws = session.ws.detach().cpu().float()
        n_shape = session.G.num_shape_ws
        shape_code = ws[:, :n_shape].numpy()
        tex_code = ws[:, n_shape:].numpy()
        layers = _layer_sig(session.layers)
        photo = session.photo()
        label = label_from_angles(session.yaw, session.pitch)
        render = session_render(session)
        with self._lock:
            last = self._last.get(sid)
        th = None
        if last is not None:
            l_key, l_shape, l_tex, l_layers, l_keep, l_th = last
            if (l_key == (mesh_key, size) and np.array_equal(l_shape, shape_code)
                    and len(l_th.atlas.vmapping) and l_th.atlas.vmapping.max() < len(mesh.vertices)
                    and np.array_equal(mesh.vertices[l_th.atlas.vmapping], l_th.mesh.vertices)):
                if not np.array_equal(l_tex, tex_code) or l_keep != keep_photo:
                    th = rebake(l_th, mesh, None, photo, render, keep_photo)
                else:
                    changed = _changed_classes(l_layers, layers)
                    th = l_th if not changed else rebake(l_th, mesh, sorted(changed), photo, render, keep_photo)
        if th is None:
            th = texture_head(mesh, photo if keep_photo else None, label if keep_photo else None, render, cfg)
        if photo is not None and not keep_photo:  # the photo exists: say why it is not used
            th.result.warnings = [w for w in th.result.warnings if PHOTO_NOTE not in w] + [
                "keep_photo is off: the texture is baked from the renders only"]
        with self._lock:
            self._last[sid] = ((mesh_key, size), shape_code, tex_code, layers, keep_photo, th)
        return th


@torch.no_grad()
def bake_session_texture(session, size: int = 1024, resolution: int = 256, smooth: int = 0,
                         faces: int | None = None) -> TexturedHead:
    """One-off textured head of a session (CLI, demo)."""
    mesh = session.mesh(resolution, smooth, faces)
    return SessionTexturer().textured_mesh("cli", session, mesh, size, mesh_key=(resolution, smooth, faces))
