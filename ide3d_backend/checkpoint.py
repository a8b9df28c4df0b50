"""Checkpoints: safetensors files holding a module's tensors and, in the header
metadata, its config and kind. No pickles: loading never runs code.

Writes are atomic (temporary file, fsync, rename), so a crash or a full disk
never leaves a half-written checkpoint under the final name.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

FORMAT_VERSION = "1"
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message says why and what to do."""


class DeviceUnavailable(RuntimeError, ValueError):
    """The requested device does not exist here. A ValueError too, so `ide3d` reports it
    in one line like any other bad argument."""


def select_device(preference: str | None = None) -> torch.device:
    """CUDA when available, else CPU; `preference` or $IDE3D_DEVICE overrides."""
    pref = (preference or os.environ.get("IDE3D_DEVICE") or "auto").lower()
    if pref == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if pref.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceUnavailable(f"device {pref!r} was requested but this torch build sees no CUDA device; "
                                "use --device cpu")
    if pref not in ("cpu",) and not pref.startswith("cuda"):
        raise ValueError(f"unknown device {pref!r}; use auto, cpu or cuda[:N]")
    try:
        device = torch.device(pref)
    except RuntimeError:  # "cuda:x" and the like
        raise ValueError(f"unknown device {pref!r}; use auto, cpu or cuda[:N]") from None
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise DeviceUnavailable(f"device {pref!r} was requested but this machine has "
                                f"{torch.cuda.device_count()} CUDA device(s)")
    return device


def _umask() -> int:
    """The process umask (read without changing it where /proc allows)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, write, mode: int | None = None) -> None:
    """Call write(tmp_path) then move the result onto `path` atomically. The file gets `mode`,
    by default the one the umask gives a new file (mkstemp's own 0600 is for secrets)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        mode = (0o666 & ~_umask()) if mode is None else mode
        os.chmod(tmp, mode)
        write(tmp)
        os.chmod(tmp, mode)  # again: some writers (safetensors) make a new file
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def save_checkpoint(path: str | os.PathLike, state: dict[str, torch.Tensor], kind: str,
                    config: dict[str, Any] | None = None, extra: dict[str, Any] | None = None,
                    half: bool = False) -> None:
    """Write tensors + {kind, config, extra} metadata as safetensors, atomically.

    `half` stores float32 tensors as float16 (shipped weights: half the size; loading
    casts back to the module's dtype)."""
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    if half:
        tensors = {k: v.half() if v.dtype == torch.float32 else v for k, v in tensors.items()}
    meta = {"format": "ide3d", "format_version": FORMAT_VERSION, "kind": kind,
            "config": json.dumps(config or {}, sort_keys=True), "extra": json.dumps(extra or {}, sort_keys=True)}
    atomic_write_bytes(path, lambda tmp: save_file(tensors, tmp, metadata=meta))


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """Header metadata of a checkpoint (config and extra decoded from JSON)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if n <= 0 or n > 100_000_000 or n + 8 > path.stat().st_size:
                raise ValueError("bad header length")
            header = json.loads(f.read(n))
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} is not a safetensors checkpoint or is truncated ({exc}); "
                              "re-download or re-export it") from None
    meta = header.get("__metadata__") or {}
    if meta.get("format") != "ide3d":
        raise CheckpointError(f"{path} is a safetensors file but not an IDE-3D checkpoint (no ide3d metadata)")
    out = dict(meta)
    for key in ("config", "extra"):
        out[key] = json.loads(meta.get(key) or "{}")
    return out


def load_checkpoint(path: str | os.PathLike, kind: str | None = None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors and metadata; checks the file is whole and of the expected kind."""
    meta = read_metadata(path)
    if kind is not None and meta.get("kind") != kind:
        raise CheckpointError(f"{path} holds a {meta.get('kind')!r} checkpoint, expected {kind!r}")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is damaged ({exc}); re-download or re-export it") from None
    check_finite(state, path)
    return state, meta


def nonfinite_tensors(state: dict[str, torch.Tensor]) -> list[str]:
    """Names of the floating-point tensors holding a NaN or an infinity."""
    return [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]


def check_finite(state: dict[str, torch.Tensor], path) -> None:
    """Flipped bytes that decode to NaN/inf would render black images without an error:
    refuse them at load, naming the file and the tensors."""
    bad = nonfinite_tensors(state)
    if bad:
        raise CheckpointError(f"{path} is damaged: {len(bad)} tensor(s) hold NaN or infinite values "
                              f"(e.g. {bad[:3]}); re-download or re-export it")


def load_state_into(module: torch.nn.Module, state: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Strict load with a message naming the missing, unexpected and mis-shaped tensors."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[:3]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})")
        if shapes:
            parts.append(f"{len(shapes)} with other shapes (e.g. {shapes[:3]})")
        raise CheckpointError(f"{source} does not match this model: " + "; ".join(parts) +
                              ". Was it saved with another preset or version?")
    module.load_state_dict(state, strict=True)


def default_checkpoint(name: str) -> Path:
    """Path of a shipped checkpoint (weights/<name>.safetensors)."""
    return WEIGHTS_DIR / f"{name}.safetensors"


# --- the one build / save / load path of every network (generator, encoders, parser) ------
TRAIN_COMMANDS = {"generator": "ide3d train generator", "encoders": "ide3d train encoders",
                  "parser": "ide3d train parser"}


def _to_device(device) -> torch.device:
    return select_device(device) if device is None or isinstance(device, str) else device


def build_network(make, seed: int = 0, device=None) -> torch.nn.Module:
    """`make()` with torch's global RNG forked and seeded: deterministic in `seed`."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = make()
    return net.to(_to_device(device))


def save_network(net: torch.nn.Module, path: str | os.PathLike, kind: str, extra: dict | None = None,
                 half: bool = False) -> None:
    """A network with a `cfg` (to_dict) as a `kind` checkpoint."""
    save_checkpoint(path, net.state_dict(), kind, net.cfg.to_dict(), extra, half=half)


def load_network(path: str | os.PathLike | None, kind: str, make, config_type, device=None) -> torch.nn.Module:
    """Load a `kind` checkpoint into `make(config)` (config read with `config_type.from_dict`);
    None loads the shipped default. Eval mode, no gradients."""
    if path is None:
        path = default_checkpoint(kind)
        if not path.exists():
            what = "model" if kind == "generator" else f"{kind} model"
            raise CheckpointError(f"the default {what} {path} is not installed; train one with "
                                  f"`{TRAIN_COMMANDS.get(kind, 'ide3d train')}` or pass a checkpoint path")
    state, meta = load_checkpoint(path, kind=kind)
    try:
        cfg = config_type.from_dict(meta["config"])
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path} has an unreadable {kind} config: {exc}") from None
    net = make(cfg)
    load_state_into(net, state, source=str(Path(path)))
    return net.to(_to_device(device)).eval().requires_grad_(False)
