"""Variety: how varied SynthHeads are, as named presets.

    sample_params(seed, "classic")   # the original heads, bit for bit
    sample_params(seed, "rich")      # + random lights, expressions, skin detail, beards, ...

A rich head first draws exactly the classic choices of its seed (same proportions,
colours, accessories), then draws everything else from a second random stream
seeded by (seed, RICH_STREAM), so adding a rich feature never disturbs classic heads.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from .params import HeadParams, _hsv, sample_classic

RICH_STREAM = 0x21C4

CLASSIC_HAIR = ("short", "long", "bald", "fringe", "bun")
RICH_HAIR = CLASSIC_HAIR + ("buzz", "bob", "ponytail", "afro", "curly")
BEARDS = ("stubble", "moustache", "goatee", "full")
GLASSES_SHAPES = ("round", "rect", "aviator", "cateye", "wide")
BACKGROUNDS = ("gradient", "radial", "noise", "shapes")


@dataclass(frozen=True)
class Variety:
    """Probabilities and ranges of the rich features; `extras=False` = classic heads."""
    name: str = "classic"
    extras: bool = False
    # lighting and camera
    key_elevation: tuple = (-0.25, 1.0)  # radians above the horizon
    key_azimuth: float = 1.3  # |angle| from the front, radians
    key_intensity: tuple = (0.5, 1.05)
    ambient: tuple = (0.18, 0.42)
    light_warmth: float = 0.18  # colour temperature spread of the lights
    p_fill_light: float = 0.5
    fill_intensity: tuple = (0.1, 0.4)
    white_balance: float = 0.10  # channel gain spread
    exposure_stops: float = 0.35  # std of log2(exposure)
    # expression
    p_mouth_open: float = 0.45
    mouth_open: tuple = (0.006, 0.032)
    p_lower_teeth: float = 0.5
    smile: tuple = (-0.3, 1.6)
    p_brows_raised: float = 0.25
    brow_raise: tuple = (0.004, 0.012)
    p_eyes_closed: float = 0.08
    p_lids_lowered: float = 0.15  # sleepy / squinting: lid partly down
    # skin detail and make-up
    pores: tuple = (0.03, 0.12)
    p_freckles: float = 0.2
    p_blemishes: float = 0.35
    p_lipstick: float = 0.3
    p_eye_shadow: float = 0.2
    p_eyeliner: float = 0.2
    # hair, beards, glasses
    hair_styles: tuple = RICH_HAIR
    hair_probs: tuple = (0.17, 0.16, 0.05, 0.10, 0.08, 0.08, 0.11, 0.09, 0.07, 0.09)
    p_beard: float = 0.25
    beard_probs: tuple = (0.3, 0.2, 0.2, 0.3)  # over BEARDS
    p_glasses: float = 0.22
    glasses_probs: tuple = (0.25, 0.3, 0.15, 0.15, 0.15)  # over GLASSES_SHAPES
    frame_thickness: tuple = (0.0018, 0.0048)
    p_tinted: float = 0.3
    # background
    background_probs: tuple = (0.25, 0.2, 0.25, 0.3)  # over BACKGROUNDS

    def __post_init__(self):
        for name, probs, items in (("hair_probs", self.hair_probs, self.hair_styles),
                                   ("beard_probs", self.beard_probs, BEARDS),
                                   ("glasses_probs", self.glasses_probs, GLASSES_SHAPES),
                                   ("background_probs", self.background_probs, BACKGROUNDS)):
            if len(probs) != len(items) or min(probs) < 0 or not math.isclose(sum(probs), 1.0, abs_tol=1e-6):
                raise ValueError(f"Variety.{name} must be {len(items)} non-negative numbers summing to 1 "
                                 f"(one per {items}), got {probs}")
        unknown = set(self.hair_styles) - set(RICH_HAIR)
        if unknown:
            raise ValueError(f"unknown hair styles {sorted(unknown)}; choose from {RICH_HAIR}")


PRESETS = {
    "classic": Variety(),
    "rich": Variety(name="rich", extras=True),
}


def get_variety(variety) -> Variety:
    """A Variety from a preset name or a Variety (returned as is)."""
    if isinstance(variety, Variety):
        return variety
    if variety not in PRESETS:
        raise ValueError(f"unknown SynthHeads variety {variety!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[variety]


def _unit(v) -> tuple:
    v = np.asarray(v, dtype=np.float64)
    return tuple(float(x) for x in v / np.linalg.norm(v))


def _warmth(rng, spread: float) -> tuple:
    """A light colour between cool blue-white and warm orange-white."""
    t = rng.normal(0.0, spread)
    c = np.array([1.0 + 0.9 * t, 1.0 + 0.1 * t, 1.0 - 1.1 * t])
    c = np.clip(c, 0.3, 1.5)
    return tuple(float(x) for x in c / c.max())


def _light_dir(rng, elevation, azimuth) -> tuple:
    el = rng.uniform(*elevation)
    az = rng.uniform(-azimuth, azimuth)
    return _unit((math.sin(az) * math.cos(el), math.sin(el), math.cos(az) * math.cos(el)))


def apply_variety(p: HeadParams, v: Variety) -> HeadParams:
    """Draw the rich choices of head p.seed into p (in place; also returned)."""
    if not v.extras:
        return p
    rng = np.random.default_rng([int(p.seed), 0x1D3, RICH_STREAM])
    u = rng.uniform
    p.rich = True
    # lights: the key anywhere on the front hemisphere, an optional fill from the other side
    p.key_dir = _light_dir(rng, v.key_elevation, v.key_azimuth)
    p.key_colour = _warmth(rng, v.light_warmth)
    p.key_intensity = float(u(*v.key_intensity))
    p.ambient = float(u(*v.ambient))
    if rng.random() < v.p_fill_light:
        kd = p.key_dir
        p.fill_dir = _unit((-kd[0] + rng.normal(0, 0.3), u(-0.2, 0.6), 0.6 + u(0, 0.6)))
        p.fill_colour = _warmth(rng, v.light_warmth * 1.5)
        p.fill_intensity = float(u(*v.fill_intensity))
    wb = rng.normal(0.0, v.white_balance, 2)
    p.white_balance = (float(1 + wb[0]), 1.0, float(1 + wb[1]))
    p.exposure = float(2.0 ** np.clip(rng.normal(0.0, v.exposure_stops), -0.8, 0.8))

    # expression
    if rng.random() < v.p_mouth_open:
        p.mouth_open = float(u(*v.mouth_open))
        p.teeth = 2 if rng.random() < v.p_lower_teeth else 1
    else:
        p.mouth_open, p.teeth = 0.0, 0
    p.smile = float(u(*v.smile))
    p.brow_raise = float(u(*v.brow_raise)) if rng.random() < v.p_brows_raised else 0.0
    r = rng.random()
    p.eyelid = 1.0 if r < v.p_eyes_closed else (
        float(u(0.25, 0.6)) if r < v.p_eyes_closed + v.p_lids_lowered else 0.0)

    # skin detail, make-up
    p.pores = float(u(*v.pores))
    p.freckles = float(u(0.3, 1.0)) if rng.random() < v.p_freckles else 0.0
    p.blemishes = float(u(0.3, 1.0)) if rng.random() < v.p_blemishes else 0.0
    if rng.random() < v.p_lipstick:  # reds, pinks, plums, nudes
        hue = rng.choice([u(0.95, 1.02), u(0.88, 0.95), u(0.80, 0.88), u(0.02, 0.07)]) % 1.0
        p.lip_colour = _hsv(hue, u(0.35, 0.85), u(0.3, 0.8))
    p.eye_shadow = float(u(0.3, 0.8)) if rng.random() < v.p_eye_shadow else 0.0
    p.eye_shadow_colour = _hsv(u(0, 1), u(0.1, 0.6), u(0.2, 0.7))
    p.eyeliner = float(u(0.5, 1.0)) if rng.random() < v.p_eyeliner else 0.0

    # hair and beard
    probs = np.asarray(v.hair_probs, dtype=np.float64)
    p.hair_style = str(rng.choice(v.hair_styles, p=probs / probs.sum()))
    p.hair_volume = {"buzz": u(0.003, 0.007), "afro": u(0.045, 0.07), "curly": u(0.025, 0.04),
                     "ponytail": u(0.006, 0.012)}.get(p.hair_style, p.hair_volume)
    if rng.random() < v.p_beard:
        p.beard = str(rng.choice(BEARDS, p=np.asarray(v.beard_probs)))
        p.beard_thickness = float(u(0.003, 0.011))
        shade = np.asarray(p.hair_colour) * u(0.8, 1.15)
        p.beard_colour = tuple(float(x) for x in np.clip(shade, 0, 1))
    # glasses: shapes, thickness, tinted lenses (clear lenses still count as eye_g)
    p.glasses = bool(rng.random() < v.p_glasses)
    p.glasses_shape = str(rng.choice(GLASSES_SHAPES, p=np.asarray(v.glasses_probs)))
    p.frame_thickness = float(u(*v.frame_thickness))
    p.lens_tint = float(u(0.4, 0.92)) if rng.random() < v.p_tinted else float(u(0.0, 0.08))
    p.lens_colour = _hsv(u(0, 1), u(0.0, 0.6), u(0.05, 0.45))
    if rng.random() < 0.3:  # coloured / transparent plastic frames
        p.frame_colour = _hsv(u(0, 1), u(0.3, 0.9), u(0.2, 0.8))
    p.background_style = str(rng.choice(BACKGROUNDS, p=np.asarray(v.background_probs)))
    return p


def sample_params(seed: int, variety="classic") -> HeadParams:
    """All random choices of head `seed` (numpy Generators; deterministic).

    `variety` (a preset name or a Variety): "classic" = the original heads, bit for bit;
    "rich" draws the same classic choices, then the extra ones from a second stream."""
    v = get_variety(variety)
    p = sample_classic(seed)
    if v.extras:
        apply_variety(p, v)
    return p


def with_overrides(name: str, **kw) -> Variety:
    """A preset with some fields changed (e.g. for tests: p_eyes_closed=1.0)."""
    return replace(get_variety(name), **kw)
