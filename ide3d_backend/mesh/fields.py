"""Fields as callbacks, the one interface every mesh step reads:

    density_fn(xyz [N,3] float32 tensor) -> sigma [N]       (higher = inside)
    label_fn(xyz)                        -> logits [N, 19]  (or class ids [N])
    color_fn(xyz)                        -> rgb [N, 3] in [0, 1]

Here: batched evaluation of a callback at numpy points, the three callbacks of a
generator latent, and densities made from an SDF or an analytic sphere (tests,
benchmarks, SynthHeads).
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable

import numpy as np
import torch

DensityFn = Callable[[torch.Tensor], torch.Tensor]
DEFAULT_BATCH = 1 << 18
_chunks = threading.local()  # this thread's hook between batches (`between_batches`)


@contextmanager
def between_batches(hook: Callable[[], object], max_batch: int | None = None):
    """In this thread, call `hook()` before every batch `evaluate_points` runs (and cap the
    batch at `max_batch`): long work (a service's big mesh) gives way to other requests there."""
    old = getattr(_chunks, "hook", None), getattr(_chunks, "max_batch", None)
    _chunks.hook, _chunks.max_batch = hook, max_batch
    try:
        yield
    finally:
        _chunks.hook, _chunks.max_batch = old


def batch_hook(batch: int) -> tuple[Callable | None, int]:
    """(this thread's between-batches hook or None, `batch` capped as `between_batches` asks)."""
    hook, cap = getattr(_chunks, "hook", None), getattr(_chunks, "max_batch", None)
    return hook, (min(batch, cap) if cap else batch)


def evaluate_points(fn: Callable, pts: np.ndarray, batch: int = DEFAULT_BATCH) -> np.ndarray:
    """fn at the (N, 3) points, `batch` at a time, without gradients -> float32 (N, ...)."""
    out = None
    hook, batch = batch_hook(batch)
    with torch.no_grad():
        for s in range(0, len(pts), batch):
            if hook is not None:
                hook()
            x = torch.from_numpy(np.ascontiguousarray(pts[s:s + batch], dtype=np.float32))
            part = torch.as_tensor(fn(x)).float().cpu().numpy()
            if out is None:  # the output's trailing shape is known after the first batch
                out = np.empty((len(pts),) + part.shape[1:], np.float32)
            out[s:s + batch] = part
            del part  # may view the callback's whole output (e.g. all decoder channels): free it now
    return out if out is not None else np.zeros((0,), np.float32)


def generator_fields(G, ws: torch.Tensor, planes=None) -> tuple[Callable, Callable, Callable]:
    """(density_fn, label_fn, color_fn) of one latent (ws [1, 18, w]) of a TriPlaneGenerator."""
    if ws.ndim == 2:
        ws = ws[None]
    if ws.shape[0] != 1:
        raise ValueError("extract one head at a time: ws must be [1, num_ws, w_dim]")
    if planes is None:
        with torch.no_grad():
            planes = G.planes(ws)
    dec = G.decoder
    dtype, device = planes.semantic.dtype, planes.semantic.device

    def _pts(xyz):
        return xyz.to(device=device, dtype=dtype)[None]

    def density_fn(xyz):
        sigma, _ = dec.decode_semantic(planes.semantic, _pts(xyz))
        return sigma[0, :, 0]

    def lattice(axis):  # grid samplers use it when present (lattice.py)
        from .lattice import semantic_lattice
        return semantic_lattice(dec, planes.semantic, axis, reference=density_fn, batch_hook=batch_hook)
    density_fn.lattice = lattice

    def label_fn(xyz):
        _, logits = dec.decode_semantic(planes.semantic, _pts(xyz))
        return logits[0]

    def color_fn(xyz):
        return dec.decode_texture(planes.texture, _pts(xyz))[0, :, :3]

    return density_fn, label_fn, color_fn


def sdf_to_density(sdf_fn: Callable, peak: float = 50.0, sharpness: float = 200.0) -> DensityFn:
    """density = peak * sigmoid(-sharpness * sdf): negative distance (inside) -> dense.

    The `level` iso-surface of it is the sdf iso-surface at
    sdf = log(peak / level - 1) / sharpness (0 when level = peak / 2)."""
    def density_fn(xyz):
        d = sdf_fn(xyz)
        if isinstance(d, tuple):
            d = d[0]
        return peak * torch.sigmoid(-sharpness * torch.as_tensor(d).float())
    return density_fn


def sphere_density(radius: float = 0.3, peak: float = 20.0, sharpness: float = 100.0,
                   center=(0.0, 0.0, 0.0)) -> DensityFn:
    """A smooth ball: sigma = peak * sigmoid(sharpness * (radius - |x - center|));
    its peak/2 level set is exactly the sphere of `radius`."""
    c = torch.tensor(center, dtype=torch.float32)
    return lambda xyz: peak * torch.sigmoid(sharpness * (radius - (xyz.float() - c).norm(dim=-1)))
