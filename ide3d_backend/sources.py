"""Where the networks come from: a checkpoint path, the shipped default, or freshly
built. The CLI, the service, the demo and the benchmarks resolve their models here
and pass them in; the algorithms (inversion, editing, preprocessing) never load weights.

A generator's source is recorded in every session as `base_source`, one encoding:

    {"checkpoint": "/abs/path.safetensors"}    an explicit checkpoint
    {"checkpoint": None, "default": True}      the shipped default model
    {"built": {"preset": "tiny", "seed": 0}}   freshly built (untrained)

A generator *spec* (the CLI's --checkpoint, the service's settings) is a path, None
for the default, or "build:PRESET[:SEED]".
"""
from __future__ import annotations

import sys
from pathlib import Path

from .api import build_generator, load_generator
from .checkpoint import CheckpointError

UNTRAINED = {"built": {"preset": "tiny", "seed": 0}}


def describe(spec: str | None) -> dict:
    """The base_source record of a generator spec."""
    if spec and str(spec).startswith("build:"):
        parts = str(spec).split(":")
        return {"built": {"preset": parts[1] or "tiny", "seed": int(parts[2]) if len(parts) > 2 else 0}}
    if spec:
        return {"checkpoint": str(Path(spec).resolve())}
    return {"checkpoint": None, "default": True}


def generator_from(source: dict, device=None):
    """The generator a base_source record names (eval mode, no gradients)."""
    if source.get("built"):
        b = source["built"]
        G = build_generator(b["preset"], seed=int(b["seed"]), device=device or "cpu")
    else:
        G = load_generator(source.get("checkpoint"), device=device)
    return G.eval().requires_grad_(False)


def resolve_generator(spec: str | None = None, device=None, untrained_fallback: bool = False):
    """(G, base_source) of a spec. Without a spec and without an installed default,
    `untrained_fallback` builds an untrained tiny generator (with a note on stderr) so
    that every CLI command still runs end to end; otherwise CheckpointError."""
    source = describe(spec)
    try:
        return generator_from(source, device), source
    except CheckpointError as exc:
        if spec or not untrained_fallback:
            raise
        print(f"note: {exc}; using an UNTRAINED tiny generator (results are not meaningful)", file=sys.stderr)
        return generator_from(UNTRAINED, device), dict(UNTRAINED)


def session_generator(base: dict, checkpoint=None, device=None):
    """The base generator of a session record: `checkpoint` when given, else the one it
    records (its checkpoint, its built preset/seed, else the default)."""
    if checkpoint is not None:
        return load_generator(checkpoint, device=device)
    return generator_from(base, device)


def _optional(loader, path, device, what: str, warn=None):
    """An explicit path must load; the default is optional (None, with `warn(note)`)."""
    if path:
        return loader(path, device=device)
    try:
        return loader(None, device=device)
    except (CheckpointError, FileNotFoundError) as exc:
        if warn is not None:
            warn(f"no {what}: {exc}")
        return None


def optional_encoders(path=None, device=None, warn=None):
    """Encoders (E_t, E_s, E_can) from `path`, else the shipped ones, else None."""
    from .encoding import load_encoders
    return _optional(load_encoders, path, device, "trained encoders", warn)


def optional_parser(path=None, device=None, warn=None):
    """Face parser from `path`, else the shipped one, else None."""
    from .encoding import load_parser
    return _optional(load_parser, path, device, "trained face parser", warn)


def load_editor(path=None, device=None):
    """The canonical editor (the encoder bundle) a shape edit needs; EditError without one."""
    from .editing import EditError
    enc = optional_encoders(path, device)
    if enc is None:
        raise EditError("shape edits need the trained canonical editor (no weights/encoders.safetensors is "
                        "installed); install it or train them with `ide3d train encoders`")
    return enc
