"""Textured backgrounds of rich heads (class 0): gradients, radial light, noise, blurred shapes.

Functions of the image coordinates only (uv in [0, 1]^2, v down), drawn per head from
a Generator seeded by the head's noise seed: every view of a head has the same backdrop,
like a studio wall behind a camera that orbits the head. Colours are before the
camera's white balance and exposure (lighting.camera_response).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .appearance import _rgb, fbm, value_noise
from .params import _hsv

BACKDROP_STREAM = 0xB6D


def _random_colour(rng) -> torch.Tensor:
    return _rgb(_hsv(rng.uniform(0, 1), rng.uniform(0.05, 0.7), rng.uniform(0.15, 0.95)))


def _ramp(t, a, b):
    return a[None] + (b - a)[None] * t.clamp(0, 1)[:, None]


def _gradient(rng, u, v, top, bottom):
    ang = rng.uniform(0, 2 * math.pi)
    t = 0.5 + ((u - 0.5) * math.cos(ang) + (v - 0.5) * math.sin(ang)) * rng.uniform(0.8, 1.6)
    return _ramp(t, top, bottom)


def _radial(rng, u, v, top, bottom):
    cu, cv = 0.5 + rng.normal(0, 0.18), 0.4 + rng.normal(0, 0.15)
    r = torch.sqrt((u - cu) ** 2 + (v - cv) ** 2) / rng.uniform(0.4, 0.9)
    bright = top * rng.uniform(1.0, 1.35)
    return _ramp(r, bright.clamp(0, 1), bottom * rng.uniform(0.4, 0.9))


def _noise(rng, u, v, top, bottom, seed):
    third = _random_colour(rng)
    f = rng.uniform(2.5, 9.0)
    z = torch.zeros_like(u)
    n = fbm(u * f, v * f, z, seed + 73, 3)
    col = _ramp((n - 0.3) / 0.4, top, bottom)
    m = fbm(u * f * 0.5 + 17.0, v * f * 0.5, z, seed + 79, 2)
    return _mix(col, third, ((m - 0.55) / 0.2).clamp(0, 1) * 0.7)


def _mix(col, c, w):
    return col + (c[None] - col) * w[:, None]


def _shapes(rng, u, v, top, bottom):
    """Out-of-focus discs and boxes (lamps, windows, furniture) over a gradient."""
    col = _gradient(rng, u, v, top, bottom)
    for _ in range(int(rng.integers(3, 9))):
        c = _random_colour(rng)
        cu, cv = rng.uniform(-0.1, 1.1), rng.uniform(-0.1, 1.1)
        blur = rng.uniform(0.01, 0.08)
        if rng.random() < 0.5:
            d = torch.sqrt((u - cu) ** 2 + (v - cv) ** 2) - rng.uniform(0.04, 0.25)
        else:
            hu, hv = rng.uniform(0.03, 0.3), rng.uniform(0.05, 0.5)
            d = torch.maximum((u - cu).abs() - hu, (v - cv).abs() - hv)
        w = torch.sigmoid(-d / blur) * rng.uniform(0.35, 0.9)
        col = _mix(col, c, w)
    return col


def background(params, uv: torch.Tensor) -> torch.Tensor:
    """(M, 3) background colours at image coordinates uv (M, 2) for params.background_style."""
    seed = int(params.noise_seed)
    rng = np.random.default_rng([seed, BACKDROP_STREAM])
    u, v = uv[:, 0], uv[:, 1]
    top, bottom = _rgb(params.background_top), _rgb(params.background_bottom)
    style = params.background_style
    if style == "gradient":
        col = _gradient(rng, u, v, top, bottom)
    elif style == "radial":
        col = _radial(rng, u, v, top, bottom)
    elif style == "noise":
        col = _noise(rng, u, v, top, bottom, seed)
    elif style == "shapes":
        col = _shapes(rng, u, v, top, bottom)
    else:
        raise ValueError(f"unknown background style {style!r}; use gradient, radial, noise or shapes")
    grain = value_noise(u * 300, v * 300, torch.zeros_like(u), seed + 83) - 0.5
    vignette = 1 - rng.uniform(0.0, 0.35) * ((u - 0.5) ** 2 + (v - 0.45) ** 2)
    return (col * (1 + 0.04 * grain)[:, None] * vignette[:, None]).clamp(0, 1)


__all__ = ["background"]
