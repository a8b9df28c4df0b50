"""A session's record on disk: metadata, history and state files. No model.

    SESSION/
      session.json                  format, base model fingerprint and source, camera, version,
                                    history [{version, kind, summary, file}], pointer
      photo.png                     the aligned photo (when inverted from one)
      mask.png                      its class ids (8-bit), user / parser / rendered
      generator_tuned.safetensors   pivotal-tuned tensors that differ from the base,
                                    with the base fingerprint in the metadata
      states/vNNNNNN.safetensors    ws [1,18,w] + style-layer w_t per history entry,
                                    camera and layer classes in the metadata

session.json is validated on read. Every file is written atomically (temp + rename) and
session.json last, so a crash leaves the previous consistent session.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .. import semantics, views
from ..checkpoint import atomic_write_bytes, nonfinite_tensors
from ..style import State, StyleLayer
from .schema import SessionJson, ValidationError, describe

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
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise SessionError(f"session file {path} is missing or damaged ({exc}); "
                           "the session cannot be opened, invert the photo again") from None
    bad = nonfinite_tensors(tensors)
    if bad:
        raise SessionError(f"session file {path} is damaged: tensor(s) {bad[:3]} hold NaN or infinite values")
    return tensors, meta


def read_meta(path) -> dict:
    """A session directory's validated session.json (format, version, history, base model).
    Raises SessionError saying what is wrong; loads no tensors."""
    path = Path(path)
    jf = path / "session.json"
    if not jf.is_file():
        raise SessionError(f"{path} is not a session (no session.json); create one with `ide3d invert`")
    try:
        meta = json.loads(jf.read_text())
    except (ValueError, OSError) as exc:
        raise SessionError(f"{jf} is damaged ({exc}); the session cannot be opened") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise SessionError(f"{jf} is damaged (not an IDE-3D session); the session cannot be opened")
    version = meta.get("format_version", 0)
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise SessionError(f"{path} was written by a newer version (format {version}); update ide3d")
    try:
        SessionJson.model_validate(meta)
    except ValidationError as exc:
        raise SessionError(f"{jf} is damaged ({describe(exc)}); the session cannot be opened") from None
    return meta


def _inside(folder: Path, rel: str) -> Path:
    """folder/rel, refused unless it resolves inside `folder` (no '..', absolute or symlinked escape)."""
    root = folder.resolve()
    p = (folder / rel).resolve()
    if p != root and root in p.parents:
        return folder / rel
    raise SessionError(f"{folder / 'session.json'} is damaged (the file {rel!r} is outside the session folder)")


class SessionRecord:
    """The files of one session: read (validated), appended to and moved in, atomically."""

    def __init__(self, path, meta: dict):
        self.path, self.meta = Path(path), meta

    @classmethod
    def read(cls, path) -> "SessionRecord":
        """session.json validated, and the files it names checked cheaply (check_files)."""
        record = cls(path, read_meta(path))
        record.check_files()
        return record

    def check_files(self) -> None:
        """Every file session.json names is inside the folder, present and not empty, and
        mask.png passes PIL's verify (chunk CRCs, no decoding). Cheap: run at open and at listing,
        so damage shows before the first render fails. No hashing: the base fingerprint
        and tensor checks happen when the tensors are loaded."""
        files = self.meta["files"]
        names = [files[k] for k in ("photo", "mask", "tuned") if files.get(k)]
        names += [e["file"] for e in self.meta["history"]]
        for rel in names:
            p = _inside(self.path, rel)
            try:
                size = p.stat().st_size if p.is_file() else -1
            except OSError:
                size = -1
            if size < 0:
                raise SessionError(f"the session file {rel} is missing")
            if size == 0:
                raise SessionError(f"the session file {rel} is empty (0 bytes)")
        mask = _inside(self.path, files["mask"])
        try:
            with Image.open(mask) as im:
                im.verify()
        except Exception as exc:  # noqa: BLE001 - PIL raises OSError, SyntaxError, AttributeError... on bad bytes
            raise SessionError(f"the session picture {files['mask']} cannot be read ({type(exc).__name__}); "
                               "the session is damaged") from None

    @classmethod
    def new(cls, path, fingerprint: str, base_source: dict, preset: str, yaw: float, pitch: float,
            tuned: dict[str, torch.Tensor] | None, photo: np.ndarray | None, mask: np.ndarray,
            mask_source: str, name: str | None, warnings: list[str] | None, extra: dict | None,
            overwrite: bool = False) -> "SessionRecord":
        """The files of a new session before its first state (session.json comes with it)."""
        path = Path(path)
        if (path / "session.json").exists() and not overwrite:
            raise SessionError(f"{path} already holds a session; choose another --out or delete it")
        path.mkdir(parents=True, exist_ok=True)
        files = {"photo": None, "mask": None, "tuned": None}
        if tuned:
            _write_safetensors(path / TUNED_FILE, tuned, {"format": FORMAT, "base_fingerprint": fingerprint})
            files["tuned"] = TUNED_FILE
        if photo is not None:
            views.save_png(np.asarray(photo, np.uint8), path / "photo.png")
            files["photo"] = "photo.png"
        views.save_png(semantics.check_mask(mask), path / "mask.png")
        files["mask"] = "mask.png"
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "name": name or path.name,
                "created": time.time(), "camera": {"yaw": float(yaw), "pitch": float(pitch)},
                "base": {"fingerprint": fingerprint, "preset": preset, **(base_source or {})},
                "files": files, "mask_source": mask_source, "warnings": list(warnings or []),
                "version": 0, "pointer": -1, "history": [], "extra": extra or {}}
        return cls(path, meta)

    # --- fields --------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.meta["name"]

    @property
    def fingerprint(self) -> str:
        return self.meta["base"]["fingerprint"]

    @property
    def pointer(self) -> int:
        return int(self.meta["pointer"])

    @property
    def version(self) -> int:
        return int(self.meta["version"])

    @property
    def camera(self) -> tuple[float, float]:
        return float(self.meta["camera"]["yaw"]), float(self.meta["camera"]["pitch"])

    @property
    def can_undo(self) -> bool:
        return self.pointer > 0

    @property
    def can_redo(self) -> bool:
        return self.pointer < len(self.meta["history"]) - 1

    # --- tensors -----------------------------------------------------------------------------
    def read_tuned(self) -> dict[str, torch.Tensor] | None:
        """The pivotal-tuned tensors, checked to belong to the recorded base model."""
        rel = self.meta["files"].get("tuned")
        if not rel:
            return None
        tensors, tmeta = _read_safetensors(_inside(self.path, rel))
        if tmeta.get("base_fingerprint") != self.fingerprint:
            raise SessionError(f"{self.path / rel} belongs to another base model")
        return tensors

    def read_state(self, index: int) -> State:
        entry = self.meta["history"][index]
        tensors, meta = _read_safetensors(_inside(self.path, entry["file"]))
        try:
            layer_info = json.loads(meta.get("layers", "[]"))
            ws = tensors["ws"]
            layers = [StyleLayer(tuple(int(c) for c in li["classes"]), tensors[f"layer{i}_wt"], li["source"])
                      for i, li in enumerate(layer_info)]
        except (KeyError, ValueError, TypeError) as exc:
            raise SessionError(f"{self.path / entry['file']} is damaged ({exc})") from None
        return State(ws, layers)

    # --- history --------------------------------------------------------------------------------
    def commit(self, kind: str, summary: str, state: State) -> State:
        """Append a state after the current one (dropping any redo branch); version + 1.
        Returns the state as written (cpu float copies)."""
        version = self.version + 1
        rel = f"states/v{version:06d}.safetensors"
        tensors = {"ws": state.ws.detach().cpu().float().contiguous()}
        info = []
        for i, layer in enumerate(state.layers):
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
        for entry in dropped:  # the abandoned redo branch, after the new JSON is in place
            try:
                os.unlink(self.path / entry["file"])
            except FileNotFoundError:
                pass
        return State(tensors["ws"], [StyleLayer(l.classes, tensors[f"layer{i}_wt"], l.source)
                                     for i, l in enumerate(state.layers)])

    def move(self, target: int) -> None:
        """Point at another history entry (undo/redo); version + 1."""
        meta = json.loads(json.dumps(self.meta))
        meta["pointer"] = target
        meta["version"] = self.version + 1
        _write_json(self.path / "session.json", meta)
        self.meta = meta

    # --- reading -----------------------------------------------------------------------------------
    def _image(self, rel: str, mode: str | None = None) -> np.ndarray:
        """A session picture, or SessionError when it is missing or does not decode."""
        path = _inside(self.path, rel)
        try:
            with Image.open(path) as im:
                return np.asarray(im.convert(mode) if mode else im)
        except Exception as exc:  # noqa: BLE001 - PIL raises OSError, SyntaxError, AttributeError... on bad bytes
            raise SessionError(f"the session picture {rel} cannot be read ({type(exc).__name__}); "
                               "the session is damaged") from None

    def photo(self) -> np.ndarray | None:
        p = self.meta["files"].get("photo")
        return self._image(p, "RGB") if p else None

    def mask(self) -> np.ndarray:
        return self._image(self.meta["files"]["mask"])

    def info(self) -> dict:
        """SessionInfo of docs/api.md."""
        present = sorted(set(np.unique(self.mask()).tolist()))
        return {"id": self.path.name, "name": self.name, "created": self.meta["created"],
                "version": self.version, "camera": dict(self.meta["camera"]), "classes_present": present,
                "can_undo": self.can_undo, "can_redo": self.can_redo,
                "history": [{"version": e["version"], "kind": e["kind"], "summary": e["summary"]}
                            for e in self.meta["history"][:self.pointer + 1]],
                "warnings": list(self.meta.get("warnings", [])), "mask_source": self.meta.get("mask_source")}
