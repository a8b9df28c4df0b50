"""Albedo detail of rich heads: pores, freckles, blemishes, moles, make-up, stubble and
the colours of the rich parts (beard, eyelids, teeth, mouth cavity, lenses).

`refine` takes the classic albedo (appearance.albedo) and the material of each
point (which part won the class rule, shapes.MATERIALS) and changes colours only.
"""
from __future__ import annotations

import torch

from . import shapes as S
from .appearance import _gauss, _rgb, fbm, value_noise

M = {name: i for i, name in enumerate(S.MATERIALS)}
SKIN_MATERIALS = ("skin", "nose", "ear", "neck", "lid")


def _where(mat, names) -> torch.Tensor:
    m = torch.zeros_like(mat, dtype=torch.bool)
    for n in names:
        m |= mat == M[n]
    return m.nonzero().squeeze(1)


def _mix(col, target, w):
    return col + (target - col) * w[:, None]


def _skin(head, x, y, z, col, seed):
    pr = head.params
    ax = x.abs()
    col = col * (1 + pr.pores * (value_noise(x * 420, y * 420, z * 420, seed + 5) - 0.5))[:, None]
    if pr.freckles > 0:  # small brown spots over the nose and cheeks
        spots = ((value_noise(x * 230, y * 230, z * 230, seed + 9) - 0.66) / 0.08).clamp(0, 1)
        region = (_gauss(ax, y, z, (0.045, pr.eye_y - 0.045, head.cheek_c[2] + head.cheek_r[2]), 0.045)
                  + 0.8 * _gauss(ax, y, z, head.nose_tip, 0.03)).clamp(0, 1)
        col = _mix(col, col * torch.tensor([0.72, 0.52, 0.38]), 0.8 * pr.freckles * spots * region)
    if pr.blemishes > 0:  # a few reddish spots
        spots = ((value_noise(x * 75, y * 75, z * 75, seed + 13) - 0.84) / 0.05).clamp(0, 1)
        col = _mix(col, col * torch.tensor([1.0, 0.7, 0.68]), 0.7 * pr.blemishes * spots)
    moles = ((value_noise(x * 45, y * 45, z * 45, seed + 17) - 0.955) / 0.01).clamp(0, 1)
    col = _mix(col, col * 0.45, 0.8 * moles)
    if pr.eye_shadow > 0:  # between the eye and the brow
        c = head.eye_c
        g = _gauss(ax, y, z, (c[0], c[1] + 0.009, c[2] + 0.008), 0.011)
        col = _mix(col, _rgb(pr.eye_shadow_colour)[None], 0.75 * pr.eye_shadow * g)
    if pr.beard != "none":  # shaved shadow / stubble under the cheek line, not on the lips
        line = (head.beard_a + head.beard_b * z - y) / 0.006
        below = torch.sigmoid(line) * torch.sigmoid((z - head.beard_back_z) / 0.006)
        hole = S.local((ax, y, z), head.beard_hole_c)
        inside = ((hole[0] / head.beard_hole_r[0]) ** 2 + (hole[1] / head.beard_hole_r[1]) ** 2)
        below = below * (inside - 1.0).clamp(0, 1) * (y > -0.2).float()
        dots = value_noise(x * 600, y * 600, z * 600, seed + 19)
        col = _mix(col, _rgb(pr.beard_colour)[None], below * (0.25 + 0.4 * dots))
    return col


def _lid(head, y, col):
    """Lash line along the lower edge of a lowered lid."""
    pr = head.params
    edge = torch.exp(-((y - head.lid_cut) / 0.0012) ** 2)
    return col * (1 - (0.75 + 0.2 * pr.eyeliner) * edge)[:, None]


def _beard(head, x, y, z, seed):
    pr = head.params
    strands = fbm(x * 160, y * 45, z * 160, seed + 23, 2)
    return _rgb(pr.beard_colour)[None] * (0.55 + 0.9 * strands)[:, None]


def _teeth(head, x, y, z):
    pr = head.params
    ym = y - pr.smile * 3.6 * x * x
    col = torch.tensor([0.9, 0.87, 0.8])[None] * (0.97 - 3.0 * (head.mouth_surface - z).clamp(0, 0.03))[:, None]
    gaps = torch.sin(x * 330.0) > 0.9
    col = torch.where(gaps[:, None], col * 0.6, col)
    gum = (ym - (pr.mouth_y + pr.mouth_open / 2 + 0.001)).clamp(0, 0.004) / 0.004
    return _mix(col, torch.tensor([0.7, 0.35, 0.35])[None], gum)


def _cavity(head, x, y, z):
    pr = head.params
    ym = y - pr.smile * 3.6 * x * x
    tongue = ((pr.mouth_y - pr.mouth_open * 0.15 - ym) / 0.003).clamp(0, 1)
    dark = torch.tensor([0.22, 0.05, 0.05])[None].expand(len(x), 3)
    return _mix(dark, torch.tensor([0.55, 0.22, 0.22])[None], 0.8 * tongue)


def _eyeliner(head, x, y, z, col):
    pr = head.params
    w, h = head.eye_r[0], head.eye_r[1]
    lx, ly, _ = S.local((x.abs(), y, z), head.eye_c, head.eye_rot)
    e = (lx / w) ** 2 + (ly / h) ** 2
    liner = pr.eyeliner * ((e - 0.5) / 0.3).clamp(0, 1) * (ly > 0).float()
    return col * (1 - 0.9 * liner)[:, None]


def refine(head, points: torch.Tensor, cls: torch.Tensor, mat: torch.Tensor, albedo: torch.Tensor) -> torch.Tensor:
    """Rich albedo (N, 3) from the classic one, per material."""
    pr = head.params
    seed = int(pr.noise_seed)
    out = albedo.clone()
    if points.shape[0] == 0:
        return out
    x, y, z = points[:, 0], points[:, 1], points[:, 2]

    idx = _where(mat, SKIN_MATERIALS)
    if idx.numel():
        out[idx] = _skin(head, x[idx], y[idx], z[idx], out[idx], seed)
    idx = _where(mat, ("lid",))
    if idx.numel():
        out[idx] = _lid(head, y[idx], out[idx])
    idx = _where(mat, ("beard",))
    if idx.numel():
        out[idx] = _beard(head, x[idx], y[idx], z[idx], seed)
    idx = _where(mat, ("teeth",))
    if idx.numel():
        out[idx] = _teeth(head, x[idx], y[idx], z[idx])
    idx = _where(mat, ("mouth",))
    if idx.numel():
        out[idx] = _cavity(head, x[idx], y[idx], z[idx])
    idx = _where(mat, ("lens",))
    if idx.numel():
        out[idx] = 0.0  # a lens only reflects; render.py adds what is seen through it
    if pr.eyeliner > 0:
        idx = _where(mat, ("eye",))
        if idx.numel():
            out[idx] = _eyeliner(head, x[idx], y[idx], z[idx], out[idx])
    return out.clamp(0, 1)


__all__ = ["refine", "SKIN_MATERIALS"]
