"""A generator's density on a grid lattice without per-point tri-plane sampling (docs/mesh.md).

On the lattice (axis[i], axis[j], axis[k]) each plane's bilinear sample depends on two
of the three indices only, and the semantic decoder's first layer is linear in the mean
of the three planes' features. So each plane is sampled once on its 2D lattice and
pushed through that layer ahead of time, giving three (n², hidden) tables; a grid point's
hidden pre-activation is then T_xy[i, j] + T_xz[i, k] + T_zy[k, j] (bias folded into the
first). What is left per point is three row gathers, the softplus and one dot product,
instead of three bilinear grid samples and a (C x hidden) matmul.

The tables reproduce `decoder.decode_semantic`'s sigma up to float rounding; the builder
checks that on random lattice points and returns None (callers fall back to the
per-point path) when the decoder is not of the shape this relies on.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

LatticeFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
CHECK_POINTS = 512
CHECK_TOLERANCE = 1e-4  # relative to 1 + |sigma|; rounding differences are ~1e-6


def _linear_parts(layer) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight, bias) as the layer applies them (equalised-lr gains folded in)."""
    w = layer.weight * getattr(layer, "weight_gain", 1.0)
    b = layer.bias * getattr(layer, "bias_gain", 1.0) if layer.bias is not None else torch.zeros(w.shape[0])
    return w.float().cpu(), b.float().cpu()


def semantic_lattice(decoder, semantic_planes: torch.Tensor, axis: np.ndarray,
                     reference: Callable | None = None, batch_hook: Callable | None = None
                     ) -> LatticeFn | None:
    """sigma at lattice points (ii, jj, kk) -> float32 [N]; None when the decoder does not
    fit (then use the per-point path). `reference`: the per-point density_fn to check against;
    `batch_hook(batch) -> (hook or None, batch)`: fields.batch_hook (long work yields there)."""
    from ..model.decoder import PLANE_AXES
    sem = decoder.semantic
    hidden, out = getattr(sem, "hidden", None), getattr(sem, "out", None)
    if hidden is None or out is None or getattr(hidden, "activation", None) != "softplus" \
            or semantic_planes.shape[0] != 1 or len(PLANE_AXES) != 3:
        return None
    n = len(axis)
    with torch.no_grad():
        w1, b1 = _linear_parts(hidden)
        w2, b2 = _linear_parts(out)
        w_sigma, b_sigma = w2[0].contiguous(), float(b2[0]) + float(getattr(sem, "density_bias", 0.0))
        a = torch.from_numpy(np.asarray(axis, np.float32)) * (2.0 / decoder.box_warp)
        u, v = torch.meshgrid(a, a, indexing="ij")
        grid = torch.stack([u, v], -1)[None]  # [1, n, n, 2]: entry (i, j) samples (a[i], a[j])
        tables = []
        for p in range(3):
            plane = semantic_planes[0, p][None].float().cpu()
            s = F.grid_sample(plane, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0]
            t = s.permute(1, 2, 0).reshape(n * n, -1) @ (w1.T / 3.0)
            tables.append(t.contiguous())
        tables[0] += b1
    # plane axes (0, 1) -> table[i, j]; (0, 2) -> table[i, k]; (2, 1) -> table[k, j]
    order = [tuple(ax) for ax in PLANE_AXES]
    if order != [(0, 1), (0, 2), (2, 1)]:
        return None

    def sigma_at(ii: np.ndarray, jj: np.ndarray, kk: np.ndarray) -> np.ndarray:
        hook, batch = batch_hook(1 << 18) if batch_hook is not None else (None, 1 << 18)
        res = np.empty(len(ii), np.float32)
        with torch.no_grad():
            for s in range(0, len(ii), batch):
                if hook is not None:
                    hook()
                i = torch.from_numpy(np.ascontiguousarray(ii[s:s + batch], np.int64))
                j = torch.from_numpy(np.ascontiguousarray(jj[s:s + batch], np.int64))
                k = torch.from_numpy(np.ascontiguousarray(kk[s:s + batch], np.int64))
                h = tables[0].index_select(0, i * n + j)
                h += tables[1].index_select(0, i * n + k)
                h += tables[2].index_select(0, k * n + j)
                y = F.softplus(h) @ w_sigma
                res[s:s + batch] = F.softplus(y + b_sigma).numpy()
        return res

    if reference is not None and not _agrees(sigma_at, reference, axis):
        return None
    return sigma_at


def _agrees(sigma_at: LatticeFn, reference: Callable, axis: np.ndarray) -> bool:
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(axis), (CHECK_POINTS, 3))
    pts = torch.from_numpy(np.stack([axis[idx[:, 0]], axis[idx[:, 1]], axis[idx[:, 2]]], -1).astype(np.float32))
    with torch.no_grad():
        ref = torch.as_tensor(reference(pts)).float().reshape(-1).numpy()
    got = sigma_at(idx[:, 0], idx[:, 1], idx[:, 2])
    return bool(np.all(np.abs(got - ref) <= CHECK_TOLERANCE * (1.0 + np.abs(ref))))
