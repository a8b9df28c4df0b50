"""Surface colours (albedo with procedural variation), shading and backgrounds.

Lighting is fixed in world space (LIGHT_DIR), so every view of a head is lit
the same way: Lambert (slightly wrapped) + hemispherical ambient + a small
Blinn specular per material, times a soft ambient-occlusion term.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from . import shapes as S

LIGHT_DIR = torch.tensor([0.38, 0.55, 0.74])
LIGHT_DIR = LIGHT_DIR / LIGHT_DIR.norm()
LIGHT_COLOUR = torch.tensor([1.0, 0.97, 0.92])

_MASK32 = 0xFFFFFFFF


# ----------------------------------------------------------------------------- noise

def _hash(ix, iy, iz, seed: int) -> torch.Tensor:
    h = (ix * 73856093 + iy * 19349663 + iz * 83492791 + seed * 2654435) & _MASK32
    h = ((h ^ (h >> 15)) * 0x2C1B3C6D) & _MASK32
    h = ((h ^ (h >> 12)) * 0x297A2D39) & _MASK32
    h = h ^ (h >> 15)
    return (h & 0xFFFF).float() * (1.0 / 65535.0)


def value_noise(x, y, z, seed: int = 0) -> torch.Tensor:
    """Smooth 3D value noise in [0, 1] at unit lattice frequency (scale inputs yourself)."""
    fx, fy, fz = torch.floor(x), torch.floor(y), torch.floor(z)
    tx, ty, tz = x - fx, y - fy, z - fz
    tx, ty, tz = (tx * tx * (3 - 2 * tx), ty * ty * (3 - 2 * ty), tz * tz * (3 - 2 * tz))
    ix, iy, iz = fx.long(), fy.long(), fz.long()
    out = None
    for dx in (0, 1):
        wx = tx if dx else 1 - tx
        for dy in (0, 1):
            wy = ty if dy else 1 - ty
            for dz in (0, 1):
                wz = tz if dz else 1 - tz
                v = _hash(ix + dx, iy + dy, iz + dz, seed) * (wx * wy * wz)
                out = v if out is None else out + v
    return out


def fbm(x, y, z, seed: int = 0, octaves: int = 3, lacunarity: float = 2.03) -> torch.Tensor:
    """Fractal sum of value noise, normalised to about [0, 1] (mean 0.5)."""
    total, amp, norm = 0.0, 1.0, 0.0
    for o in range(octaves):
        total = total + amp * value_noise(x, y, z, seed + 101 * o)
        norm += amp
        amp *= 0.5
        x, y, z = x * lacunarity, y * lacunarity, z * lacunarity
    return total / norm


def _rgb(c) -> torch.Tensor:
    return torch.tensor(c, dtype=torch.float32)


def _gauss(x, y, z, c, s):
    d2 = (x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2
    return torch.exp(-d2 * (1.0 / (2 * s * s)))


# ----------------------------------------------------------------------------- albedo

SKIN_LIKE = (S.SKIN, S.NOSE, S.L_EAR, S.R_EAR, S.NECK)


def _skin(head, x, y, z, cls, seed):
    pr = head.params
    base = _rgb(pr.skin_colour)
    ax = x.abs()
    tone = 1.0 + 0.16 * (fbm(x * 9, y * 9, z * 9, seed, 2) - 0.5)
    col = base[None] * tone[:, None]
    # blotches: slightly redder patches
    red = (fbm(x * 32, y * 32, z * 32, seed + 7, 2) - 0.45).clamp_min(0) * 0.7
    # cheeks, nose tip and ears carry more blood
    g = pr.blush * _gauss(ax, y, z, (head.cheek_c[0] + 0.01, head.cheek_c[1] + 0.005,
                                     head.cheek_c[2] + head.cheek_r[2]), 0.028)
    g = g + 0.35 * _gauss(ax, y, z, head.nose_tip, 0.02)
    g = g + 0.35 * ((cls == S.L_EAR) | (cls == S.R_EAR)).float()
    redness = (red + g).clamp(0, 1)[:, None]
    flushed = col * torch.tensor([1.0, 0.80, 0.80])
    col = col + (flushed - col) * redness * 0.8
    # darker around the eyes, lighter forehead
    e = _gauss(ax, y, z, head.eye_c, 0.02)
    col = col * (1 - 0.12 * e)[:, None]
    col = col * (1 + 0.05 * (y > pr.eye_y + pr.brow_gap).float())[:, None]
    # neck a bit darker and less saturated
    neck = (cls == S.NECK).float()[:, None]
    col = col * (1 - 0.08 * neck)
    # pores
    col = col * (1 + 0.05 * (value_noise(x * 260, y * 260, z * 260, seed + 3) - 0.5))[:, None]
    # stubble shadow for some heads (short/bald styles), on the lower face
    return col


def _eye(head, x, y, z, seed):
    pr = head.params
    lx, ly, lz = S.local((x.abs(), y, z), head.eye_c, head.eye_rot)
    w, h = head.eye_r[0], head.eye_r[1]
    gx, gy = pr.gaze[0] * w * 0.35, pr.gaze[1] * h * 0.3
    # iris direction is mirrored for the two eyes so the gaze is parallel
    gx = torch.where(x >= 0, torch.full_like(x, gx), torch.full_like(x, -gx))
    dx, dy = lx - gx, ly - gy
    r = torch.sqrt(dx * dx + dy * dy)
    iris_r = 0.0092 * w / 0.022 * 0.95
    pupil_r = iris_r * 0.38
    sclera = torch.tensor([0.92, 0.89, 0.86])
    col = sclera[None].expand(x.shape[0], 3).clone()
    # sclera darker at the corners
    e = (lx / w) ** 2 + (ly / h) ** 2
    col = col * (1 - 0.25 * (lx.abs() / w).clamp(0, 1) ** 2)[:, None]
    ang = torch.atan2(dy, dx)
    streak = 0.75 + 0.5 * value_noise(ang * 6, r * 900, torch.zeros_like(r), seed + 11)
    iris = _rgb(pr.eye_colour)[None] * streak[:, None]
    iris = iris * (1 - 0.6 * ((r / iris_r) > 0.85).float())[:, None]  # limbal ring
    iris = torch.where((r < pupil_r)[:, None], torch.tensor([0.02, 0.02, 0.02])[None], iris)
    col = torch.where((r < iris_r)[:, None], iris, col)
    # catch light (fixed in world space, upper right of the iris)
    cl = ((dx - 0.25 * iris_r) ** 2 + (dy - 0.35 * iris_r) ** 2) < (0.22 * iris_r) ** 2
    col = torch.where(cl[:, None], torch.tensor([0.95, 0.95, 0.95])[None], col)
    # lash line and upper-lid shadow
    lash = ((e - 0.55) / 0.4).clamp(0, 1) * (0.6 + 0.4 * (ly > 0).float())
    col = col * (1 - 0.85 * lash)[:, None]
    col = col * (1 - 0.35 * (ly / h).clamp(0, 1))[:, None]
    return col


def _hair_colour(head, x, y, z, seed, base):
    ang = torch.atan2(x, z + 0.05)
    rad = torch.sqrt(x * x + (z + 0.05) ** 2)
    strands = fbm(ang * 70, y * 7 + rad * 20, rad * 40, seed + 21, 2)
    low = fbm(x * 8, y * 8, z * 8, seed + 22, 2)
    k = (0.55 + 0.9 * strands) * (0.85 + 0.3 * low)
    return base[None] * k[:, None]


def albedo(head, points: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
    """(N, 3) base colours in [0, 1] at surface points with their class ids."""
    pr = head.params
    seed = int(pr.noise_seed)
    points = points.float()
    out = torch.zeros(points.shape[0], 3)
    if points.shape[0] == 0:
        return out
    present = set(torch.unique(cls).tolist())

    def sub(classes):
        m = torch.zeros_like(cls, dtype=torch.bool)
        for c in classes:
            m |= cls == c
        idx = m.nonzero().squeeze(1)
        p = points[idx]
        return idx, p[:, 0], p[:, 1], p[:, 2]

    if present & set(SKIN_LIKE):
        idx, x, y, z = sub(SKIN_LIKE)
        out[idx] = _skin(head, x, y, z, cls[idx], seed)
    if present & {S.L_EYE, S.R_EYE}:
        idx, x, y, z = sub((S.L_EYE, S.R_EYE))
        out[idx] = _eye(head, x, y, z, seed)
    if present & {S.L_BROW, S.R_BROW}:
        idx, x, y, z = sub((S.L_BROW, S.R_BROW))
        base = _rgb(pr.hair_colour) * 0.75 + _rgb(pr.skin_colour) * 0.08
        n = fbm(x * 60, y * 400, z * 60, seed + 31, 2)
        bx, by, _ = S.local((x.abs(), y + 9.0 * (x.abs() - head.brow_c[0]) ** 2, z),
                            head.brow_c, head.brow_rot)
        edge = ((bx / head.brow_r[0]) ** 2 + (by / head.brow_r[1]) ** 2).clamp(0, 1)
        col = base[None] * (0.7 + 0.6 * n)[:, None]
        skin = _rgb(pr.skin_colour)[None] * 0.85
        # thinner towards the outer end and at the edges
        fade = (0.25 * edge + 0.35 * (bx / head.brow_r[0]).clamp(0, 1)).clamp(0, 0.8)[:, None]
        out[idx] = col + (skin - col) * fade
    if present & {S.U_LIP, S.L_LIP}:
        idx, x, y, z = sub((S.U_LIP, S.L_LIP))
        lines = value_noise(x * 320, y * 25, z * 25, seed + 41)
        col = _rgb(pr.lip_colour)[None] * (0.9 + 0.18 * lines)[:, None]
        # darker along the line between the lips
        gap = torch.exp(-((y - pr.mouth_y - pr.smile * 3.6 * x * x) / 0.004) ** 2)
        out[idx] = col * (1 - 0.35 * gap)[:, None]
    if S.MOUTH in present:
        idx, x, y, z = sub((S.MOUTH,))
        col = torch.tensor([0.28, 0.07, 0.07])[None].expand(len(idx), 3).clone()
        if pr.mouth_open > 0.004:
            ym = y - pr.smile * 3.6 * x * x
            teeth = (ym > pr.mouth_y + 0.0005) & (x.abs() < pr.mouth_width * 0.75)
            gaps = (torch.sin(x * 330.0) > 0.93) & teeth
            tcol = torch.tensor([0.88, 0.85, 0.78])[None]
            col = torch.where(teeth[:, None], tcol, col)
            col = torch.where(gaps[:, None], tcol * 0.55, col)
        out[idx] = col
    if S.HAIR in present:
        idx, x, y, z = sub((S.HAIR,))
        out[idx] = _hair_colour(head, x, y, z, seed, _rgb(pr.hair_colour))
    if S.HAT in present:
        idx, x, y, z = sub((S.HAT,))
        knit = 0.85 + 0.3 * value_noise(torch.atan2(x, z) * 60, y * 180, z * 0, seed + 51)
        out[idx] = _rgb(pr.hat_colour)[None] * knit[:, None]
    if S.CLOTH in present:
        idx, x, y, z = sub((S.CLOTH,))
        c1, c2 = _rgb(pr.cloth_colour)[None], _rgb(pr.cloth_colour2)[None]
        if pr.cloth_pattern == "stripes":
            m = (torch.sin(y * 95.0) > 0.2).float()[:, None]
            col = c1 + (c2 - c1) * m
        elif pr.cloth_pattern == "twotone":
            m = ((x.abs() < 0.06 + (y + 0.33) * 0.5) & (z > 0)).float()[:, None]
            col = c1 + (c2 - c1) * m
        else:
            col = c1.expand(len(idx), 3)
        folds = fbm(x * 12, y * 5, z * 12, seed + 61, 2)
        weave = value_noise(x * 300, y * 300, z * 300, seed + 62)
        out[idx] = col * (0.85 + 0.3 * folds + 0.06 * (weave - 0.5))[:, None]
    if S.EYE_G in present:
        idx, *_ = sub((S.EYE_G,))
        out[idx] = _rgb(pr.frame_colour)[None]
    if present & {S.EAR_R, S.NECK_L}:
        idx, *_ = sub((S.EAR_R, S.NECK_L))
        out[idx] = _rgb(pr.metal_colour)[None]
    return out.clamp(0, 1)


# ----------------------------------------------------------------------------- shading

# (specular strength, shininess) per class
_SPEC = np.zeros((19, 2), dtype=np.float32)
_SPEC[:, 0], _SPEC[:, 1] = 0.03, 8.0
for _c, _v in {S.SKIN: (0.10, 18), S.NOSE: (0.14, 22), S.L_EAR: (0.06, 12), S.R_EAR: (0.06, 12),
               S.NECK: (0.06, 12), S.L_EYE: (0.5, 90), S.R_EYE: (0.5, 90), S.U_LIP: (0.25, 35),
               S.L_LIP: (0.25, 35), S.HAIR: (0.16, 10), S.EYE_G: (0.6, 60), S.EAR_R: (0.9, 50),
               S.NECK_L: (0.9, 50), S.HAT: (0.04, 6), S.CLOTH: (0.04, 6), S.MOUTH: (0.1, 20)}.items():
    _SPEC[_c] = _v
SPEC_TABLE = torch.from_numpy(_SPEC)


def shade(albedo: torch.Tensor, normals: torch.Tensor, view_dirs: torch.Tensor,
          ao: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
    """Shaded colour (N, 3) in [0, 1]; view_dirs point from the camera to the surface."""
    nl = normals @ LIGHT_DIR
    diffuse = ((nl + 0.25) / 1.25).clamp_min(0.0)
    ambient = 0.30 + 0.10 * normals[:, 1]
    h = LIGHT_DIR[None] - view_dirs
    h = h / h.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    nh = (normals * h).sum(-1).clamp_min(0.0)
    spec_k = SPEC_TABLE[cls]
    spec = spec_k[:, 0] * torch.pow(nh, spec_k[:, 1]) * (nl > 0).float()
    light = (ambient * ao)[:, None] + (0.78 * diffuse * (0.35 + 0.65 * ao))[:, None] * LIGHT_COLOUR[None]
    col = albedo * light + (spec * ao)[:, None] * LIGHT_COLOUR[None]
    # gentle filmic shoulder so highlights do not clip harshly
    return (col / (1 + 0.15 * col)) * 1.12


def background(params, uv: torch.Tensor) -> torch.Tensor:
    """(M, 3) smooth background colours at image coordinates uv (M, 2) in [0, 1]."""
    top = _rgb(params.background_top)[None]
    bottom = _rgb(params.background_bottom)[None]
    u, v = uv[:, 0], uv[:, 1]
    t = (v + 0.15 * (u - 0.5)).clamp(0, 1)[:, None]
    col = top + (bottom - top) * t
    blob = fbm(u * 2.5, v * 2.5, torch.zeros_like(u), int(params.noise_seed) + 71, 2)
    vignette = 1 - 0.18 * ((u - 0.5) ** 2 + (v - 0.45) ** 2)
    return (col * (0.92 + 0.16 * blob)[:, None] * vignette[:, None]).clamp(0, 1)


def light_direction() -> np.ndarray:
    return LIGHT_DIR.numpy().copy()


__all__ = ["value_noise", "fbm", "albedo", "shade", "background", "LIGHT_DIR", "light_direction"]
