"""Lighting of rich heads: a random key light with soft shadows, an optional fill light,
coloured ambient, then the camera's white balance and exposure.

Classic heads keep appearance.shade (one fixed light). Lights are fixed in world
space per head, so all views of a head are lit the same way. Only colours change
here: masks and depth come from the geometry alone.
"""
from __future__ import annotations

import torch

from . import appearance, backdrops
from .shapes import MATERIALS

SHADOW_STEPS = 5  # SDF evaluations along the way to the light
SHADOW_START = 0.01
SHADOW_SHARPNESS = 8.0
SHADOW_LIFT = 0.004  # start the probes off the surface


def _unit(v) -> torch.Tensor:
    t = torch.tensor(v, dtype=torch.float32)
    return t / t.norm()


def soft_shadow(head, pts: torch.Tensor, normals: torch.Tensor, light: torch.Tensor) -> torch.Tensor:
    """Visibility of the light in [0, 1] from a few SDF steps towards it."""
    o = pts + normals * SHADOW_LIFT
    t = torch.full((pts.shape[0],), SHADOW_START)
    vis = torch.ones(pts.shape[0])
    for _ in range(SHADOW_STEPS):  # sphere-traced towards the light: smooth penumbrae, no bands
        q = o + t[:, None] * light[None]
        d = head._parts(q[:, 0].contiguous(), q[:, 1].contiguous(), q[:, 2].contiguous())[0]
        vis = torch.minimum(vis, (SHADOW_SHARPNESS * d / t).clamp(0.0, 1.0))
        t = t + d.clamp(0.006, 0.05)
    return vis * vis * (3 - 2 * vis)  # smoothstep: soft penumbra


def camera_response(col: torch.Tensor, params) -> torch.Tensor:
    """White balance and exposure gains (the whole image: head and background)."""
    gain = torch.tensor(params.white_balance, dtype=torch.float32) * float(params.exposure)
    return col * gain[None]


def _light_terms(normals, view_dirs, light, spec_k):
    nl = normals @ light
    diffuse = ((nl + 0.2) / 1.2).clamp_min(0.0)
    h = light[None] - view_dirs
    h = h / h.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    nh = (normals * h).sum(-1).clamp_min(0.0)
    spec = spec_k[:, 0] * torch.pow(nh, spec_k[:, 1]) * (nl > 0).float()
    return diffuse, spec


def shade(head, pts, albedo, normals, view_dirs, ao, cls) -> torch.Tensor:
    """Shaded colour (N, 3) of rich-head surface points; view_dirs point away from the camera."""
    pr = head.params
    spec_k = appearance.SPEC_TABLE[cls]
    key = _unit(pr.key_dir)
    key_col = torch.tensor(pr.key_colour, dtype=torch.float32)
    diffuse, spec = _light_terms(normals, view_dirs, key, spec_k)
    vis = soft_shadow(head, pts, normals, key)
    sky = 0.5 * (1.0 + key_col)  # ambient tinted a little like the key
    ambient = pr.ambient * (0.8 + 0.3 * normals[:, 1]) * ao
    direct = pr.key_intensity * diffuse * vis * (0.35 + 0.65 * ao)
    light = ambient[:, None] * sky[None] + direct[:, None] * key_col[None]
    gloss = (spec * vis * ao * pr.key_intensity / 0.78)[:, None] * key_col[None]
    if pr.fill_intensity > 0:
        fill = _unit(pr.fill_dir)
        fill_col = torch.tensor(pr.fill_colour, dtype=torch.float32)
        fd, fs = _light_terms(normals, view_dirs, fill, spec_k)
        light = light + (pr.fill_intensity * fd * (0.35 + 0.65 * ao))[:, None] * fill_col[None]
        gloss = gloss + (fs * ao * pr.fill_intensity / 0.78)[:, None] * fill_col[None]
    col = camera_response(albedo * light + gloss, pr)
    return (col / (1 + 0.15 * col)) * 1.12


def background(params, uv: torch.Tensor) -> torch.Tensor:
    """Textured background through the same camera gains."""
    return camera_response(backdrops.background(params, uv), params).clamp(0, 1)


LENS = MATERIALS.index("lens")


def lens_transmission(params) -> torch.Tensor:
    """Per-channel fraction of light passing a lens (tint 0 = clear)."""
    tint = float(params.lens_tint)
    return (1.0 - tint) + tint * torch.tensor(params.lens_colour, dtype=torch.float32)


__all__ = ["shade", "soft_shadow", "camera_response", "background", "lens_transmission",
           "LENS"]
