"""Building, saving and loading the generator (the public entry points re-exported
by the package: build_generator, load_generator, save_generator)."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from .checkpoint import (CheckpointError, default_checkpoint, load_checkpoint, load_state_into,
                         save_checkpoint, select_device)
from .config import GeneratorConfig, get_config
from .model.generator import TriPlaneGenerator

GENERATOR_KIND = "generator"


def build_generator(preset: str | GeneratorConfig = "tiny", seed: int = 0, device=None) -> TriPlaneGenerator:
    """A freshly initialised generator of a preset, deterministic in `seed`."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G = TriPlaneGenerator(get_config(preset))
    return G.to(select_device(device) if device is None or isinstance(device, str) else device)


def save_generator(G: TriPlaneGenerator, path: str | os.PathLike, extra: dict | None = None,
                   half: bool = False) -> None:
    save_checkpoint(path, G.state_dict(), GENERATOR_KIND, G.cfg.to_dict(), extra, half=half)


def load_generator(path: str | os.PathLike | None = None, device=None) -> TriPlaneGenerator:
    """Load a generator checkpoint; None loads the shipped default model."""
    if path is None:
        path = default_checkpoint(GENERATOR_KIND)
        if not path.exists():
            raise CheckpointError(f"the default model {path} is not installed; train one with "
                                  "`ide3d train generator` or pass a checkpoint path")
    state, meta = load_checkpoint(path, kind=GENERATOR_KIND)
    try:
        cfg = GeneratorConfig.from_dict(meta["config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path} has an unreadable generator config: {exc}") from None
    G = TriPlaneGenerator(cfg)
    load_state_into(G, state, source=str(Path(path)))
    dev = select_device(device) if device is None or isinstance(device, str) else device
    return G.to(dev).eval().requires_grad_(False)
