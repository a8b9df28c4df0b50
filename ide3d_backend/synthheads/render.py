"""CPU sphere tracing of a synthetic head from 25-d camera labels.

Rays come from `model.ray_sampler.sample_rays`, so renders line up pixel for
pixel with the generator's renderer. Depth is the distance along the unit ray
from the camera centre (+inf for background). Deterministic for a given head
and camera.
"""
from __future__ import annotations

import numpy as np
import torch

from ..model.ray_sampler import pixel_grid, sample_rays
from . import appearance, lighting, rich_shapes, skin_detail
from .shapes import BOX_HALF, torch_threads as _threads

MAX_STEPS = 56
HIT_EPS = 2.5e-4
RELAX_AFTER = 28  # after this many steps the hit tolerance grows (grazing rays at silhouettes)
STEP_SCALE = 0.97
CUBE_HALF = 0.5


def _box_interval(o, d, lo=(-CUBE_HALF,) * 3, hi=(CUBE_HALF,) * 3):
    """Slab test: entry/exit distances of rays (o, d) with the box [lo, hi]."""
    inv = 1.0 / torch.where(d.abs() < 1e-9, torch.full_like(d, 1e-9), d)
    t0 = (torch.as_tensor(lo, dtype=torch.float32) - o) * inv
    t1 = (torch.as_tensor(hi, dtype=torch.float32) - o) * inv
    tn = torch.minimum(t0, t1).amax(-1).clamp_min(0.0)
    tf = torch.maximum(t0, t1).amin(-1)
    return tn, tf


def trace(head, origins: torch.Tensor, dirs: torch.Tensor, max_steps: int = MAX_STEPS):
    """Sphere-trace rays (N, 3) against head; returns (hit (N,) bool, t (N,) float)."""
    n = origins.shape[0]
    tn, tf = _box_interval(origins, dirs, *head.bounds())
    t = tn.clone()
    hit = torch.zeros(n, dtype=torch.bool)
    idx = (tn < tf).nonzero().squeeze(1)
    ox, oy, oz = (origins[idx, i].contiguous() for i in range(3))
    dx, dy, dz = (dirs[idx, i].contiguous() for i in range(3))
    tt, tfar = t[idx], tf[idx]
    last = torch.full((idx.shape[0],), 1.0)
    for step in range(max_steps):
        if idx.numel() == 0:
            break
        dist = head._parts(ox + dx * tt, oy + dy * tt, oz + dz * tt)[0]
        eps = HIT_EPS * (1.0 + max(0, step - RELAX_AFTER) * 0.4)
        done = dist < eps * (1.0 + tt)
        tt = tt + torch.where(done, dist, dist * STEP_SCALE)
        last = dist
        gone = tt > tfar
        keep = ~(done | gone)
        if done.any():
            hit[idx[done]] = True
            t[idx[done]] = tt[done]
        if not bool(keep.all()):
            idx, tt, tfar, last = idx[keep], tt[keep], tfar[keep], last[keep]
            ox, oy, oz, dx, dy, dz = ox[keep], oy[keep], oz[keep], dx[keep], dy[keep], dz[keep]
    if idx.numel():  # grazing rays that ran out of steps: accept the near misses
        near = last.abs() < 3e-3
        hit[idx[near]] = True
        t[idx[near]] = tt[near]
    return hit, t


def _eval_points(head, pts: torch.Tensor) -> torch.Tensor:
    return head._parts(pts[:, 0].contiguous(), pts[:, 1].contiguous(), pts[:, 2].contiguous())[0]


def normals_at(head, pts: torch.Tensor, h: float = 1.2e-3, centre: torch.Tensor | None = None) -> torch.Tensor:
    """Unit SDF gradients by forward differences (one batched evaluation of 3 offsets;
    `centre` = the distances at pts if already known)."""
    m = pts.shape[0]
    if centre is None:
        centre = _eval_points(head, pts)
    q = (pts[None] + h * torch.eye(3)[:, None, :]).reshape(-1, 3)
    d = _eval_points(head, q).reshape(3, m) - centre[None]
    g = d.t()
    return g / g.norm(dim=-1, keepdim=True).clamp_min(1e-9)


AO_STEPS = (0.015, 0.045)
AO_WEIGHTS = (0.55, 0.45)


def ambient_occlusion(head, pts: torch.Tensor, normals: torch.Tensor) -> torch.Tensor:
    """Soft AO in [0, 1] from a few SDF samples along the normal."""
    m = pts.shape[0]
    hs = torch.tensor(AO_STEPS)
    q = (pts[None] + hs[:, None, None] * normals[None]).reshape(-1, 3)
    d = _eval_points(head, q).reshape(len(AO_STEPS), m)
    occ = sum(w * ((h - d[i]).clamp_min(0) / h) for i, (h, w) in enumerate(zip(AO_STEPS, AO_WEIGHTS)))
    return (1.0 - occ).clamp(0.0, 1.0)


def _shade_hits(head, pts, dirs):
    """(rgb, class, material or None) at hit points."""
    if head.params.rich:
        dist, cls, mat = head.sdf_material(pts)
    else:
        (dist, cls), mat = head.sdf(pts), None
    nrm = normals_at(head, pts, centre=dist)
    ao = ambient_occlusion(head, pts, nrm)
    alb = appearance.albedo(head, pts, cls)
    if mat is None:
        return appearance.shade(alb, nrm, dirs, ao, cls), cls, None
    alb = skin_detail.refine(head, pts, cls, mat, alb)
    return lighting.shade(head, pts, alb, nrm, dirs, ao, cls), cls, mat


def _background(params, uv):
    return lighting.background(params, uv) if params.rich else appearance.background(params, uv)


def _colour_rays(head, o, d, hit, t, uv):
    """RGB (N, 3) of all rays, the hit indices and their classes.

    A ray that hits a lens is coloured by what lies behind the lens (traced again
    without lenses), filtered by the lens tint, plus the lens's own reflection."""
    hidx = hit.nonzero().squeeze(1)
    pts = o[hidx] + d[hidx] * t[hidx, None]
    rgb_hit, cls, mat = _shade_hits(head, pts, d[hidx])
    rgb = torch.zeros(o.shape[0], 3)
    bg = ~hit
    rgb[bg] = _background(head.params, uv[bg])
    rgb[hidx] = rgb_hit
    if mat is not None and rich_shapes.has_lenses(head) and not getattr(head, "no_lenses", False):
        lens = (mat == lighting.LENS).nonzero().squeeze(1)
        if lens.numel():
            ids = hidx[lens]
            o2 = pts[lens] + d[ids] * (2 * rich_shapes.LENS_HALF + 0.002)
            with rich_shapes.lenses_removed(head):
                hit2, t2 = trace(head, o2, d[ids])
                behind = _colour_rays(head, o2, d[ids], hit2, t2, uv[ids])[0]
            rgb[ids] = rgb_hit[lens] + behind * lighting.lens_transmission(head.params)[None]
    return rgb, hidx, cls


RENDER_THREADS = 1


def _as_labels(labels) -> torch.Tensor:
    lab = torch.as_tensor(np.asarray(labels, dtype=np.float32))
    if lab.ndim == 1:
        lab = lab[None]
    if lab.ndim != 2 or lab.shape[1] != 25:
        raise ValueError(f"camera labels must be (25,) or (B, 25), got {tuple(lab.shape)}")
    return lab


def render_views(head, labels, resolution: int, supersample: int = 1,
                 threads: int | None = RENDER_THREADS) -> list[dict]:
    """Render several views of one head in one batched trace (faster than one by one).

    Returns one dict per label: rgb uint8 (R, R, 3), mask uint8 (R, R), depth float32 (R, R).
    `threads` sets torch's intra-op threads during the render (None = leave as is)."""
    with torch.no_grad(), _threads(threads):
        return _render_views(head, labels, resolution, supersample)


def _render_views(head, labels, resolution, supersample):
    lab = _as_labels(labels)
    b, r = lab.shape[0], int(resolution)
    if r < 1:
        raise ValueError(f"resolution must be positive, got {resolution}")
    origins, dirs = sample_rays(lab, r)
    o, d = origins.reshape(-1, 3), dirs.reshape(-1, 3)
    hit, t = trace(head, o, d)
    uv = pixel_grid(r).repeat(b, 1)
    rgb, hidx, cls = _colour_rays(head, o, d, hit, t, uv)
    mask = torch.zeros(b * r * r, dtype=torch.uint8)
    mask[hidx] = cls.to(torch.uint8)
    depth = torch.full((b * r * r,), float("inf"))
    depth[hidx] = t[hidx]

    if supersample > 1:
        rgb = _supersampled_rgb(head, lab, r, supersample)
    rgb8 = (rgb.clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).reshape(b, r, r, 3).numpy()
    mask = mask.reshape(b, r, r).numpy()
    depth = depth.reshape(b, r, r).numpy().astype(np.float32)
    return [dict(rgb=rgb8[i], mask=mask[i], depth=depth[i]) for i in range(b)]


def _supersampled_rgb(head, lab, r, s):
    """RGB rendered at s*r and box-filtered down (masks and depth stay centre-sampled)."""
    b = lab.shape[0]
    origins, dirs = sample_rays(lab, r * s)
    o, d = origins.reshape(-1, 3), dirs.reshape(-1, 3)
    hit, t = trace(head, o, d)
    uv = pixel_grid(r * s).repeat(b, 1)
    rgb = _colour_rays(head, o, d, hit, t, uv)[0]
    rgb = rgb.reshape(b, r, s, r, s, 3).mean(dim=(2, 4))
    return rgb.reshape(-1, 3)


def render_head(head, label, resolution: int, supersample: int = 1) -> dict:
    """Render one view: dict(rgb uint8 (H, W, 3), mask uint8 (H, W), depth float32 (H, W)).

    `label` is a 25-d camera label (camera.py); depth is the distance along the
    unit ray from the camera centre, +inf where the ray hits nothing."""
    return render_views(head, _as_labels(label)[:1], resolution, supersample)[0]


__all__ = ["render_head", "render_views", "trace", "normals_at", "ambient_occlusion", "BOX_HALF"]
