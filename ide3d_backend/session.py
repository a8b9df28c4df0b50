"""Sessions on disk: one inverted (or sampled, or drawn) head and its edit history.

    SESSION/
      session.json                  format, base model fingerprint, camera, version,
                                    history [{version, kind, summary, file}], pointer
      photo.png                     the aligned photo (when inverted from one)
      mask.png                      its class ids (8-bit), user / parser / rendered
      generator_tuned.safetensors   pivotal-tuned tensors that differ from the base,
                                    with the base fingerprint in the metadata
      states/vNNNNNN.safetensors    ws [1,18,w] + style-layer w_t per history entry,
                                    camera and layer classes in the metadata

Every file is written atomically (temp + rename) and session.json last, so a crash
leaves the previous consistent session. A session refuses a base generator whose
weights hash differs from the one it was made with. Reopening reproduces renders
bit for bit (same weights, same latents, deterministic renderer).
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from . import semantics, views
from .checkpoint import CheckpointError, atomic_write_bytes
from .editing import StyleLayer, build_field

FORMAT = "ide3d-session"
FORMAT_VERSION = 1
TUNED_FILE = "generator_tuned.safetensors"


class SessionError(ValueError):
    """A session that cannot be used; the message says why and what to do."""


def model_fingerprint(G) -> str:
    """sha256 of the generator's tensors (names, dtypes, shapes, bytes)."""
    h = hashlib.sha256()
    for k, v in sorted(G.state_dict().items()):
        t = v.detach().cpu().contiguous()
        h.update(f"{k}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _write_json(path: Path, data: dict) -> None:
    text = json.dumps(data, indent=1, sort_keys=True).encode()

    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(text)
    atomic_write_bytes(path, write)


def _write_safetensors(path: Path, tensors: dict, meta: dict) -> None:
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    atomic_write_bytes(path, lambda tmp: save_file(tensors, tmp, metadata=meta))


def _read_safetensors(path: Path) -> tuple[dict, dict]:
    try:
        from safetensors import safe_open
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        return load_file(str(path)), meta
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise SessionError(f"session file {path} is missing or damaged ({exc}); "
                           "the session cannot be opened, invert the photo again") from None


def read_meta(path) -> dict:
    """A session directory's validated session.json (format, version, history, base model).
    Raises SessionError saying what is wrong; loads no tensors."""
    path = Path(path)
    jf = path / "session.json"
    if not jf.is_file():
        raise SessionError(f"{path} is not a session (no session.json); create one with `ide3d invert`")
    try:
        meta = json.loads(jf.read_text())
        assert meta.get("format") == FORMAT, "not an IDE-3D session"
        if int(meta.get("format_version", 0)) > FORMAT_VERSION:
            raise SessionError(f"{path} was written by a newer version (format {meta['format_version']}); "
                               "update ide3d")
        history, pointer = meta["history"], int(meta["pointer"])
        assert isinstance(history, list) and -1 <= pointer < len(history) and history, "bad history"
        assert isinstance(meta["base"]["fingerprint"], str), "bad base model fingerprint"
    except SessionError:
        raise
    except (ValueError, KeyError, TypeError, AssertionError) as exc:
        raise SessionError(f"{jf} is damaged ({exc}); the session cannot be opened") from None
    return meta


class Session:
    """An editable head: base generator, its pivotal-tuned copy, and the history of states."""

    def __init__(self, path: Path, G_base, G, meta: dict, states: dict[int, tuple]):
        self.path = Path(path)
        self.G_base, self.G = G_base, G
        self.meta = meta
        self._states = states  # history index -> (ws, layers)
        self._cache_key, self._cache = None, None
        self.lock = threading.RLock()

    # --- creation --------------------------------------------------------------------
    @classmethod
    def create(cls, path, G_base, ws: torch.Tensor, yaw: float = 0.0, pitch: float = 0.0,
               tuned: dict[str, torch.Tensor] | None = None, photo: np.ndarray | None = None,
               mask: np.ndarray | None = None, mask_source: str = "none", name: str | None = None,
               kind: str = "invert", summary: str = "", warnings: list[str] | None = None,
               base_source: dict | None = None, extra: dict | None = None, overwrite: bool = False) -> "Session":
        path = Path(path)
        if (path / "session.json").exists() and not overwrite:
            raise SessionError(f"{path} already holds a session; choose another --out or delete it")
        path.mkdir(parents=True, exist_ok=True)
        fp = model_fingerprint(G_base)
        G = G_base
        files = {"photo": None, "mask": None, "tuned": None}
        if tuned:
            G = copy.deepcopy(G_base)
            state = G.state_dict()
            for k, v in tuned.items():
                state[k].copy_(v)
            G.eval().requires_grad_(False)
            _write_safetensors(path / TUNED_FILE, tuned, {"format": FORMAT, "base_fingerprint": fp})
            files["tuned"] = TUNED_FILE
        if photo is not None:
            views.save_png(np.asarray(photo, np.uint8), path / "photo.png")
            files["photo"] = "photo.png"
        if mask is None:
            with torch.no_grad():
                planes, field = build_field(G, ws, [])
                mask = views.render_arrays(G, ws, yaw, pitch, field, planes)["mask"]
            mask_source = "rendered"
        views.save_png(semantics.check_mask(mask), path / "mask.png")
        files["mask"] = "mask.png"
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "name": name or path.name,
                "created": time.time(), "camera": {"yaw": float(yaw), "pitch": float(pitch)},
                "base": {"fingerprint": fp, "preset": G_base.cfg.preset, **(base_source or {})},
                "files": files, "mask_source": mask_source, "warnings": list(warnings or []),
                "version": 0, "pointer": -1, "history": [], "extra": extra or {}}
        s = cls(path, G_base, G, meta, {})
        s.commit(kind, summary or kind, ws.detach().cpu(), [])
        return s

    # --- opening -----------------------------------------------------------------------
    @classmethod
    def open(cls, path, G=None, checkpoint=None, device=None) -> "Session":
        """Open a session; the base generator is `G`, else `checkpoint`, else the one the
        session records (its checkpoint path or built preset/seed), else the default."""
        path = Path(path)
        meta = read_meta(path)
        base = meta["base"]
        fp = base["fingerprint"]
        if G is None:
            G = _base_generator(base, checkpoint, device)
        if model_fingerprint(G) != fp:
            raise SessionError(f"{path} was made with another base model (fingerprint {fp[:12]}…, this one "
                               f"{model_fingerprint(G)[:12]}…); open it with the generator it was made with "
                               "(--checkpoint)")
        G = G.eval().requires_grad_(False)
        G_t = G
        if meta["files"].get("tuned"):
            tensors, tmeta = _read_safetensors(path / meta["files"]["tuned"])
            if tmeta.get("base_fingerprint") != fp:
                raise SessionError(f"{path / meta['files']['tuned']} belongs to another base model")
            G_t = copy.deepcopy(G)
            state = G_t.state_dict()
            bad = [k for k in tensors if k not in state or state[k].shape != tensors[k].shape]
            if bad:
                raise SessionError(f"tuned weights do not fit the base model ({bad[:3]}); the session is damaged")
            for k, v in tensors.items():
                state[k].copy_(v)
            G_t.eval().requires_grad_(False)
        s = cls(path, G, G_t, meta, {})
        s._load_state(int(meta["pointer"]))
        return s

    # --- state -----------------------------------------------------------------------------
    def _load_state(self, index: int):
        if index in self._states:
            return self._states[index]
        entry = self.meta["history"][index]
        tensors, meta = _read_safetensors(self.path / entry["file"])
        try:
            layer_info = json.loads(meta.get("layers", "[]"))
            ws = tensors["ws"]
            layers = [StyleLayer(tuple(int(c) for c in li["classes"]), tensors[f"layer{i}_wt"], li["source"])
                      for i, li in enumerate(layer_info)]
        except (KeyError, ValueError, TypeError) as exc:
            raise SessionError(f"{self.path / entry['file']} is damaged ({exc})") from None
        if ws.shape != (1, self.G.num_ws, self.G.w_dim):
            raise SessionError(f"{entry['file']} holds latents of shape {tuple(ws.shape)}, "
                               f"the model needs (1, {self.G.num_ws}, {self.G.w_dim})")
        self._states[index] = (ws, layers)
        return self._states[index]

    @property
    def name(self) -> str:
        return self.meta["name"]

    @property
    def pointer(self) -> int:
        return int(self.meta["pointer"])

    @property
    def version(self) -> int:
        return int(self.meta["version"])

    @property
    def yaw(self) -> float:
        return float(self.meta["camera"]["yaw"])

    @property
    def pitch(self) -> float:
        return float(self.meta["camera"]["pitch"])

    @property
    def ws(self) -> torch.Tensor:
        return self._load_state(self.pointer)[0]

    @property
    def layers(self) -> list[StyleLayer]:
        return self._load_state(self.pointer)[1]

    @property
    def can_undo(self) -> bool:
        return self.pointer > 0

    @property
    def can_redo(self) -> bool:
        return self.pointer < len(self.meta["history"]) - 1

    def commit(self, kind: str, summary: str, ws: torch.Tensor, layers: list[StyleLayer]) -> dict:
        """Append a state after the current one (dropping any redo branch); version + 1."""
        with self.lock:
            version = self.version + 1
            rel = f"states/v{version:06d}.safetensors"
            tensors = {"ws": ws.detach().cpu().float().contiguous()}
            info = []
            for i, layer in enumerate(layers):
                tensors[f"layer{i}_wt"] = layer.w_t.detach().cpu().float().contiguous()
                info.append({"classes": list(layer.classes), "source": layer.source})
            _write_safetensors(self.path / rel, tensors, {"format": FORMAT, "kind": kind,
                                                          "camera": json.dumps(self.meta["camera"]),
                                                          "layers": json.dumps(info)})
            dropped = self.meta["history"][self.pointer + 1:]
            meta = json.loads(json.dumps(self.meta))
            meta["history"] = meta["history"][:self.pointer + 1] + [
                {"version": version, "kind": kind, "summary": summary, "file": rel}]
            meta["pointer"] = len(meta["history"]) - 1
            meta["version"] = version
            _write_json(self.path / "session.json", meta)
            self.meta = meta
            self._states = {k: v for k, v in self._states.items() if k < meta["pointer"]}
            self._states[meta["pointer"]] = (tensors["ws"], [StyleLayer(l.classes, tensors[f"layer{i}_wt"], l.source)
                                                             for i, l in enumerate(layers)])
            for entry in dropped:  # the abandoned redo branch, after the new JSON is in place
                try:
                    os.unlink(self.path / entry["file"])
                except FileNotFoundError:
                    pass
            return self.info()

    def _move(self, delta: int) -> dict:
        with self.lock:
            target = self.pointer + delta
            if not 0 <= target < len(self.meta["history"]):
                raise SessionError("nothing to undo" if delta < 0 else "nothing to redo")
            self._load_state(target)
            meta = json.loads(json.dumps(self.meta))
            meta["pointer"] = target
            meta["version"] = self.version + 1
            _write_json(self.path / "session.json", meta)
            self.meta = meta
            return self.info()

    def undo(self) -> dict:
        return self._move(-1)

    def redo(self) -> dict:
        return self._move(+1)

    def info(self) -> dict:
        """SessionInfo of docs/api.md."""
        mask_path = self.path / "mask.png"
        present = sorted(set(np.unique(np.asarray(Image.open(mask_path))).tolist())) if mask_path.exists() else []
        return {"id": self.path.name, "name": self.name, "created": self.meta["created"],
                "version": self.version, "camera": dict(self.meta["camera"]), "classes_present": present,
                "can_undo": self.can_undo, "can_redo": self.can_redo,
                "history": [{"version": e["version"], "kind": e["kind"], "summary": e["summary"]}
                            for e in self.meta["history"][:self.pointer + 1]],
                "warnings": list(self.meta.get("warnings", [])), "mask_source": self.meta.get("mask_source")}

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
        from . import mesh as meshing
        G = self.G
        with self.lock, torch.no_grad():
            planes, field = self.field()
            if level is None:
                level = meshing.rendered_surface_level(G, self.ws.to(planes.semantic.device), planes)
            fn = field or G.field(planes)
            dev, dt = planes.semantic.device, planes.semantic.dtype
            pts = lambda xyz: xyz.to(device=dev, dtype=dt)[None]  # noqa: E731
            density = lambda xyz: G.decoder.decode_semantic(planes.semantic, pts(xyz))[0][0, :, 0]  # noqa: E731
            labels = lambda xyz: G.decoder.decode_semantic(planes.semantic, pts(xyz))[1][0]  # noqa: E731
            colors = lambda xyz: fn(pts(xyz))["features"][0, :, :3]  # noqa: E731
            return meshing.mesh_from_fields(density, labels, colors, resolution, G.cfg.render.box_warp, level,
                                            smooth=smooth, target_faces=faces)

    def photo(self) -> np.ndarray | None:
        p = self.meta["files"].get("photo")
        return np.asarray(Image.open(self.path / p).convert("RGB")) if p else None

    def mask(self) -> np.ndarray:
        return np.asarray(Image.open(self.path / self.meta["files"]["mask"]))


def _base_generator(base: dict, checkpoint=None, device=None):
    from .api import build_generator, load_generator
    if checkpoint is not None:
        return load_generator(checkpoint, device=device)
    if base.get("checkpoint"):
        try:
            return load_generator(base["checkpoint"], device=device)
        except CheckpointError as exc:
            raise SessionError(f"the session's base model cannot be loaded ({exc}); pass --checkpoint") from None
    if base.get("built"):
        b = base["built"]
        return build_generator(b["preset"], seed=int(b["seed"]), device=device or "cpu").eval()
    return load_generator(None, device=device)


# --- front doors the CLI and the HTTP service call ------------------------------------------
def invert_photo(G, photo, out_dir, mask=None, preset="fast", align: bool = True, encoders=None,
                 parser=None, callback=None, cancel: threading.Event | None = None, name: str | None = None,
                 base_source: dict | None = None, overwrite: bool = False) -> Session:
    """Photo (path/bytes/array) -> aligned -> mask (user, else parser) -> inversion -> session."""
    from . import inversion, preprocess
    size = G.cfg.superres.output_resolution
    aligned = preprocess.preprocess(photo, size, mask=mask, align=align)
    warnings = list(aligned.warnings)
    ids, source = aligned.mask, "user" if aligned.mask is not None else "none"
    if ids is None:
        try:
            ids = preprocess.predict_mask(aligned.image, parser, device=G.device)
            source = "parser"
        except preprocess.PreprocessError as exc:
            warnings.append(f"{exc}; inverting without a mask term (the session mask is rendered)")
    result, tuned_G = inversion.invert(G, aligned.image, ids, preset, encoders, callback, cancel)
    inversion._check(cancel)
    warnings += result.warnings
    extra = {"inversion": {"preset": inversion.get_preset(preset).name, "init": result.init,
                           "timings": result.timings, "steps": result.steps, "perceptual": result.perceptual}}
    return Session.create(out_dir, G, result.ws, result.yaw, result.pitch, result.tuned, aligned.image, ids,
                          source, name, "invert", f"inverted ({extra['inversion']['preset']})", warnings,
                          base_source, extra, overwrite)


def sample_session(G, seed: int, out_dir, truncation: float = 0.7, base_source: dict | None = None,
                   name: str | None = None) -> Session:
    """A random head from a seed, as a session (frontal input view)."""
    from .editing import latents_from_seed
    ws = latents_from_seed(G, seed, truncation)
    return Session.create(out_dir, G, ws, 0.0, 0.0, name=name or f"seed {seed}", kind="sample",
                          summary=f"random head, seed {seed}", base_source=base_source)


def draw_session(G, mask: np.ndarray, out_dir, texture_seed: int = 0, encoders=None, truncation: float = 0.7,
                 base_source: dict | None = None, name: str | None = None) -> Session:
    """3D face drawing (paper Fig. 8): E_s on a drawn canonical mask + w_t from a seed."""
    from . import encoding
    from .editing import latents_from_seed, load_editor
    enc = load_editor(encoders, G.device)
    mask = semantics.check_mask(mask)
    r = G.cfg.superres.output_resolution
    m = torch.from_numpy(mask.astype(np.int64))[None, None].float()
    m = torch.nn.functional.interpolate(m, size=(r, r), mode="nearest")[:, 0].long()
    onehot = semantics.mask_to_onehot(m).to(G.device)  # 0/1: encoding scales it
    with torch.no_grad():
        w_avg = G.mapping.w_avg.to(G.device)
        w_s = (w_avg + enc.semantic_offsets(onehot)).cpu()
    ws = latents_from_seed(G, texture_seed, truncation)
    ws[:, :G.num_shape_ws] = w_s[:, :G.num_shape_ws]
    return Session.create(out_dir, G, ws, 0.0, 0.0, mask=mask if mask.shape == (r, r) else None,
                          mask_source="drawn", name=name or "drawing", kind="draw",
                          summary=f"drawn mask, texture seed {texture_seed}", base_source=base_source)
