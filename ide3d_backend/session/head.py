"""The live head of a session: its record plus the models it renders with (the base
generator and its pivotal-tuned copy), the current state and a field cache.

A session refuses a base generator whose weights hash differs from the one it was made
with. Reopening reproduces renders bit for bit (same weights, same latents, deterministic
renderer). Edits are state -> state functions (editing.py); `commit` records their result.
"""
from __future__ import annotations

import copy
import threading
from pathlib import Path

import numpy as np
import torch

from .. import views
from ..mesh import generator_fields, mesh_from_fields, rendered_surface_level
from ..style import State, StyleLayer, build_field
from .record import SessionError, SessionRecord, model_fingerprint


def _apply_tuned(G_base, tuned: dict[str, torch.Tensor]):
    """A copy of G_base with the tuned tensors copied in (eval, no gradients)."""
    G = copy.deepcopy(G_base)
    state = G.state_dict()
    bad = [k for k in tuned if k not in state or state[k].shape != tuned[k].shape]
    if bad:
        raise SessionError(f"tuned weights do not fit the base model ({bad[:3]}); the session is damaged")
    for k, v in tuned.items():
        state[k].copy_(v)
    return G.eval().requires_grad_(False)


class Session:
    """An editable head: base generator, its pivotal-tuned copy, and the history of states."""

    def __init__(self, record: SessionRecord, G_base, G):
        self.record = record
        self.G_base, self.G = G_base, G
        self._states: dict[int, State] = {}  # history index -> state
        self._cache_key, self._cache = None, None
        self.lock = threading.RLock()

    # --- creation --------------------------------------------------------------------
    @classmethod
    def create(cls, path, G_base, ws: torch.Tensor, yaw: float = 0.0, pitch: float = 0.0,
               tuned: dict[str, torch.Tensor] | None = None, photo: np.ndarray | None = None,
               mask: np.ndarray | None = None, mask_source: str = "none", name: str | None = None,
               kind: str = "invert", summary: str = "", warnings: list[str] | None = None,
               base_source: dict | None = None, extra: dict | None = None, overwrite: bool = False,
               fingerprint: str | None = None) -> "Session":
        path = Path(path)
        if (path / "session.json").exists() and not overwrite:
            raise SessionError(f"{path} already holds a session; choose another --out or delete it")
        G = _apply_tuned(G_base, tuned) if tuned else G_base
        if mask is None:  # the session's mask is the input view's rendered one
            with torch.no_grad():
                mask = views.render_arrays(G, ws, yaw, pitch, None, G.planes(ws.to(G.device)))["mask"]
            mask_source = "rendered"
        record = SessionRecord.new(path, fingerprint or model_fingerprint(G_base), base_source, G_base.cfg.preset,
                                   yaw, pitch, tuned, photo, mask, mask_source, name, warnings, extra, overwrite)
        s = cls(record, G_base, G)
        s.commit(kind, summary or kind, State(ws.detach().cpu(), []))
        return s

    # --- opening -----------------------------------------------------------------------
    @classmethod
    def open(cls, path, G=None, checkpoint=None, device=None, fingerprint: str | None = None) -> "Session":
        """Open a session; the base generator is `G` (whose fingerprint the caller may
        pass when it knows it), else `checkpoint`, else the one the session records (its
        checkpoint path or built preset/seed), else the default (sources)."""
        record = SessionRecord.read(path)
        fp = record.fingerprint
        if G is None:
            from ..checkpoint import CheckpointError
            from ..sources import session_generator
            try:
                G = session_generator(record.meta["base"], checkpoint, device)
            except CheckpointError as exc:
                if checkpoint is not None or not record.meta["base"].get("checkpoint"):
                    raise
                raise SessionError(f"the session's base model cannot be loaded ({exc}); pass --checkpoint") from None
        got = fingerprint or model_fingerprint(G)
        if got != fp:
            raise SessionError(f"{record.path} was made with another base model (fingerprint {fp[:12]}…, this one "
                               f"{got[:12]}…); open it with the generator it was made with (--checkpoint)")
        G = G.eval().requires_grad_(False)
        tuned = record.read_tuned()
        s = cls(record, G, _apply_tuned(G, tuned) if tuned else G)
        s._load_state(record.pointer)
        return s

    # --- state -----------------------------------------------------------------------------
    def _load_state(self, index: int) -> State:
        if index in self._states:
            return self._states[index]
        state = self.record.read_state(index)
        if state.ws.shape != (1, self.G.num_ws, self.G.w_dim):
            raise SessionError(f"{self.meta['history'][index]['file']} holds latents of shape "
                               f"{tuple(state.ws.shape)}, the model needs (1, {self.G.num_ws}, {self.G.w_dim})")
        self._states[index] = state
        return state

    @property
    def path(self) -> Path:
        return self.record.path

    @property
    def meta(self) -> dict:
        return self.record.meta

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def pointer(self) -> int:
        return self.record.pointer

    @property
    def version(self) -> int:
        return self.record.version

    @property
    def yaw(self) -> float:
        return self.record.camera[0]

    @property
    def pitch(self) -> float:
        return self.record.camera[1]

    @property
    def state(self) -> State:
        return self._load_state(self.pointer)

    @property
    def ws(self) -> torch.Tensor:
        return self.state.ws

    @property
    def layers(self) -> list[StyleLayer]:
        return self.state.layers

    @property
    def can_undo(self) -> bool:
        return self.record.can_undo

    @property
    def can_redo(self) -> bool:
        return self.record.can_redo

    def commit(self, kind: str, summary: str, state: State) -> dict:
        """Record an edit's new state after the current one (dropping any redo branch)."""
        with self.lock:
            written = self.record.commit(kind, summary, state)
            self._states = {k: v for k, v in self._states.items() if k < self.pointer}
            self._states[self.pointer] = written
            return self.info()

    def _move(self, delta: int) -> dict:
        with self.lock:
            target = self.pointer + delta
            if not 0 <= target < len(self.meta["history"]):
                raise SessionError("nothing to undo" if delta < 0 else "nothing to redo")
            self._load_state(target)
            self.record.move(target)
            return self.info()

    def undo(self) -> dict:
        return self._move(-1)

    def redo(self) -> dict:
        return self._move(+1)

    def info(self) -> dict:
        """SessionInfo of docs/api.md."""
        return self.record.info()

    # --- rendering ------------------------------------------------------------------------
    def field(self):
        """(planes, field or None) of the current state, cached per version."""
        with self.lock:
            key = (self.pointer, len(self.meta["history"]), self.version)
            if self._cache_key != key:
                with torch.no_grad():
                    self._cache = build_field(self.G, self.ws, self.layers)
                self._cache_key = key
            return self._cache

    def render_all(self, yaw: float | None = None, pitch: float | None = None,
                   neural_resolution: int | None = None) -> dict[str, np.ndarray]:
        yaw = self.yaw if yaw is None else yaw
        pitch = self.pitch if pitch is None else pitch
        with self.lock:
            planes, field = self.field()
            return views.render_arrays(self.G, self.ws, yaw, pitch, field, planes, neural_resolution)

    def render(self, yaw: float | None = None, pitch: float | None = None, kind: str = "rgb",
               size: int | None = None, neural_resolution: int | None = None) -> np.ndarray:
        """One view (default: the input view) as an array: rgb (H,W,3), mask/depth (H,W) uint8."""
        return views.render_kind(self.render_all(yaw, pitch, neural_resolution), kind, size)

    def canonical(self, kind: str = "rgb", size: int | None = None) -> np.ndarray:
        """The frontal view the canonical editor reads."""
        return self.render(0.0, 0.0, kind, size)

    def mesh(self, resolution: int = 256, smooth: int = 0, faces: int | None = None, level: float | None = None):
        """Labelled, coloured HeadMesh (model frame); colours go through the region-style field.
        `level=None` meshes where the renders see the surface (mesh.rendered_surface_level)."""
        G = self.G
        with self.lock, torch.no_grad():
            planes, field = self.field()
            ws = self.ws.to(planes.semantic.device)
            if level is None:
                level = rendered_surface_level(G, ws, planes)
            density, labels, colors = generator_fields(G, ws, planes)
            if field is not None:  # region style layers colour their classes
                dev, dt = planes.semantic.device, planes.semantic.dtype
                colors = lambda xyz: field(xyz.to(device=dev, dtype=dt)[None])["features"][0, :, :3]  # noqa: E731
            return mesh_from_fields(density, labels, colors, resolution, G.cfg.render.box_warp, level,
                                    smooth=smooth, target_faces=faces)

    def photo(self) -> np.ndarray | None:
        return self.record.photo()

    def mask(self) -> np.ndarray:
        return self.record.mask()
