"""Building, saving and loading the generator (the public entry points re-exported
by the package: build_generator, load_generator, save_generator), through the one
network path of `checkpoint` (build_network / save_network / load_network)."""
from __future__ import annotations

import os

from .checkpoint import build_network, load_network, save_network
from .config import GeneratorConfig, get_config
from .model.generator import TriPlaneGenerator

GENERATOR_KIND = "generator"


def build_generator(preset: str | GeneratorConfig = "tiny", seed: int = 0, device=None) -> TriPlaneGenerator:
    """A freshly initialised generator of a preset, deterministic in `seed`."""
    return build_network(lambda: TriPlaneGenerator(get_config(preset)), seed, device)


def save_generator(G: TriPlaneGenerator, path: str | os.PathLike, extra: dict | None = None,
                   half: bool = False) -> None:
    save_network(G, path, GENERATOR_KIND, extra, half=half)


def load_generator(path: str | os.PathLike | None = None, device=None) -> TriPlaneGenerator:
    """Load a generator checkpoint; None loads the shipped default model."""
    return load_network(path, GENERATOR_KIND, TriPlaneGenerator, GeneratorConfig, device)
