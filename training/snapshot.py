"""Training snapshots as safetensors: modules, optimiser moments, counters.

A snapshot is one file written atomically; `latest.json` names the newest. A
`kill -9` therefore loses at most the steps since the last snapshot, and a
resumed run is bit-exact because every random draw of a step is seeded from
(run seed, step), never from state carried between steps.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from ide3d_backend.checkpoint import atomic_write_bytes, load_checkpoint, save_checkpoint

SNAPSHOT_KIND = "training-snapshot"


def _flatten_optimizer(prefix: str, opt: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    sd = opt.state_dict()
    for idx, st in sd["state"].items():
        for key, val in st.items():
            t = val if torch.is_tensor(val) else torch.tensor(val)
            tensors[f"{prefix}/{idx}/{key}"] = t
    meta[prefix] = sd["param_groups"]


def _unflatten_optimizer(prefix: str, opt: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, val in tensors.items():
        if name.startswith(prefix + "/"):
            _, idx, key = name.split("/", 2)
            state.setdefault(int(idx), {})[key] = val
    groups = meta[prefix]
    for g in groups:
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
    opt.load_state_dict({"state": state, "param_groups": groups})


def save_snapshot(run_dir: Path, step: int, modules: dict[str, torch.nn.Module],
                  optimizers: dict[str, torch.optim.Optimizer], tensors: dict[str, torch.Tensor],
                  info: dict[str, Any], keep: int = 2) -> Path:
    flat: dict[str, torch.Tensor] = {}
    meta: dict[str, Any] = {"step": step, **info}
    for name, module in modules.items():
        for k, v in module.state_dict().items():
            flat[f"{name}.{k}"] = v
    for name, opt in optimizers.items():
        _flatten_optimizer(f"opt_{name}", opt, flat, meta)
    for name, t in tensors.items():
        flat[f"tensor/{name}"] = t
    path = run_dir / f"snapshot-{step:08d}.safetensors"
    save_checkpoint(path, flat, SNAPSHOT_KIND, config=meta.pop("config", {}), extra=meta)
    atomic_write_bytes(run_dir / "latest.json",
                       lambda tmp: Path(tmp).write_text(json.dumps({"snapshot": path.name, "step": step})))
    snaps = sorted(run_dir.glob("snapshot-*.safetensors"))
    for old in snaps[:-keep]:
        try:
            os.unlink(old)
        except FileNotFoundError:
            pass
    return path


def latest_snapshot(run_dir: Path) -> Path | None:
    marker = run_dir / "latest.json"
    if marker.exists():
        path = run_dir / json.loads(marker.read_text())["snapshot"]
        if path.exists():
            return path
    snaps = sorted(run_dir.glob("snapshot-*.safetensors"))
    return snaps[-1] if snaps else None


def _matches(module: torch.nn.Module, state: dict[str, torch.Tensor]) -> bool:
    own = module.state_dict()
    return set(own) == set(state) and all(own[k].shape == state[k].shape for k in own)


def load_snapshot(path: Path, modules: dict[str, torch.nn.Module], optimizers: dict[str, torch.optim.Optimizer],
                  optional: dict[str, str] | None = None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Restore modules and optimisers in place; returns (extra tensors, info).

    `optional` maps module names to their optimiser's name: such a module whose stored
    shapes differ from the current one (e.g. a resized discriminator that never trained)
    keeps its fresh weights, and its name is listed in info["reinitialised"]."""
    flat, meta = load_checkpoint(path, kind=SNAPSHOT_KIND)
    info = dict(meta["extra"])
    info["config"] = meta["config"]
    skipped_opts, info["reinitialised"] = set(), []
    for name, module in modules.items():
        sub = {k[len(name) + 1:]: v for k, v in flat.items() if k.startswith(name + ".")}
        if optional and name in optional and not _matches(module, sub):
            info["reinitialised"].append(name)
            skipped_opts.add(optional[name])
            continue
        module.load_state_dict(sub, strict=True)
    for name, opt in optimizers.items():
        if name not in skipped_opts:
            _unflatten_optimizer(f"opt_{name}", opt, flat, info)
    tensors = {k[len("tensor/"):]: v for k, v in flat.items() if k.startswith("tensor/")}
    return tensors, info
