"""HeadParams: every random choice of one synthetic head, sampled from a seed.

All lengths are in world units (the frontal image spans about x, y in
[-0.317, 0.317] at z = 0; see camera.py). Colours are sRGB in [0, 1].
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

HAIR_STYLES = ("short", "long", "bald", "fringe", "bun")
HAIR_STYLE_PROBS = (0.34, 0.30, 0.06, 0.16, 0.14)

# Accessory frequencies (roughly as in FFHQ / CelebAMask-HQ).
P_GLASSES = 0.20
P_HAT = 0.10
P_EARRINGS = 0.20
P_NECKLACE = 0.10
P_MOUTH_OPEN = 0.30

SKIN_TONES = np.array([
    (0.97, 0.82, 0.72), (0.93, 0.74, 0.61), (0.86, 0.64, 0.49), (0.74, 0.52, 0.37),
    (0.58, 0.39, 0.26), (0.42, 0.27, 0.18), (0.30, 0.19, 0.13),
])
SKIN_TONE_PROBS = np.array([0.20, 0.26, 0.20, 0.13, 0.10, 0.07, 0.04])

HAIR_COLOURS = np.array([
    (0.05, 0.04, 0.04), (0.14, 0.09, 0.06), (0.28, 0.17, 0.09), (0.45, 0.30, 0.17),
    (0.74, 0.58, 0.35), (0.50, 0.20, 0.08), (0.58, 0.57, 0.55), (0.85, 0.84, 0.80),
])
HAIR_COLOUR_PROBS = np.array([0.26, 0.24, 0.18, 0.12, 0.09, 0.04, 0.05, 0.02])

EYE_COLOURS = np.array([
    (0.25, 0.14, 0.07), (0.38, 0.24, 0.12), (0.25, 0.42, 0.62), (0.30, 0.45, 0.30),
    (0.45, 0.36, 0.18), (0.45, 0.50, 0.55),
])
EYE_COLOUR_PROBS = np.array([0.35, 0.2, 0.18, 0.1, 0.1, 0.07])

METALS = np.array([(0.85, 0.68, 0.30), (0.80, 0.80, 0.82), (0.72, 0.45, 0.35)])
FRAME_COLOURS = np.array([(0.05, 0.05, 0.05), (0.25, 0.14, 0.08), (0.75, 0.62, 0.35),
                          (0.70, 0.70, 0.72), (0.35, 0.05, 0.05)])


def _hsv(h: float, s: float, v: float) -> tuple[float, float, float]:
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]


@dataclass
class HeadParams:
    seed: int = 0
    # skull and face
    skull_radii: tuple = (0.128, 0.170, 0.165)
    skull_center: tuple = (0.0, 0.075, -0.025)
    jaw_radii: tuple = (0.102, 0.130, 0.125)
    jaw_center: tuple = (0.0, -0.035, 0.04)
    chin_y: float = -0.168
    chin_radius: float = 0.035
    jaw_angle_x: float = 0.07
    cheek_size: float = 0.055
    cheek_x: float = 0.068
    # features
    eye_x: float = 0.052
    eye_y: float = 0.030
    eye_w: float = 0.024
    eye_h: float = 0.011
    gaze: tuple = (0.0, 0.0)
    brow_gap: float = 0.040
    brow_thickness: float = 0.0045
    brow_tilt: float = 0.08
    nose_length: float = 0.078
    nose_width: float = 0.017
    nose_projection: float = 0.050
    mouth_y: float = -0.092
    mouth_width: float = 0.041
    upper_lip: float = 0.0075
    lower_lip: float = 0.0095
    mouth_open: float = 0.0
    smile: float = 0.3
    ear_size: float = 1.0
    # body
    neck_radius: float = 0.058
    shoulder_width: float = 0.17
    neckline_depth: float = 0.07
    neckline_width: float = 0.10
    # hair
    hair_style: str = "short"
    hair_volume: float = 0.022
    hairline: float = 0.125
    # accessories
    glasses: bool = False
    glasses_round: bool = False
    glasses_size: float = 0.030
    hat: bool = False
    hat_brim: bool = False
    earrings: bool = False
    earring_hoop: bool = False
    necklace: bool = False
    # colours
    skin_colour: tuple = (0.93, 0.74, 0.61)
    hair_colour: tuple = (0.14, 0.09, 0.06)
    eye_colour: tuple = (0.3, 0.2, 0.1)
    lip_colour: tuple = (0.75, 0.40, 0.38)
    cloth_colour: tuple = (0.2, 0.3, 0.5)
    cloth_colour2: tuple = (0.9, 0.9, 0.9)
    cloth_pattern: str = "solid"
    hat_colour: tuple = (0.6, 0.1, 0.1)
    frame_colour: tuple = (0.05, 0.05, 0.05)
    metal_colour: tuple = (0.85, 0.68, 0.30)
    background_top: tuple = (0.6, 0.6, 0.6)
    background_bottom: tuple = (0.4, 0.4, 0.4)
    blush: float = 0.3
    noise_seed: int = 0
    # ---- the "rich" variety (variety.py); these defaults are the classic heads ----
    rich: bool = False  # True: rich geometry hooks, lighting, skin detail and backgrounds
    key_dir: tuple = (0.38, 0.55, 0.74)  # world-space key light (towards the light)
    key_colour: tuple = (1.0, 0.97, 0.92)
    key_intensity: float = 0.78
    ambient: float = 0.30
    fill_dir: tuple = (-0.5, 0.1, 0.8)
    fill_colour: tuple = (1.0, 1.0, 1.0)
    fill_intensity: float = 0.0  # 0 = no second light
    white_balance: tuple = (1.0, 1.0, 1.0)  # camera channel gains
    exposure: float = 1.0
    brow_raise: float = 0.0  # lifts the brows (world units)
    eyelid: float = 0.0  # 0 open .. 1 closed (upper lid lowered over the eye)
    teeth: int = 0  # visible tooth rows in an open mouth: 0, 1 (upper) or 2
    pores: float = 0.0
    freckles: float = 0.0
    blemishes: float = 0.0
    eye_shadow: float = 0.0
    eye_shadow_colour: tuple = (0.45, 0.35, 0.45)
    eyeliner: float = 0.0
    beard: str = "none"  # none, stubble, moustache, goatee, full
    beard_thickness: float = 0.0
    beard_colour: tuple = (0.1, 0.08, 0.06)
    glasses_shape: str = ""  # "" = classic (glasses_round); round, rect, aviator, cateye, wide
    frame_thickness: float = 0.0028
    lens_tint: float = 0.0  # 0 clear .. 1 opaque lens colour
    lens_colour: tuple = (0.1, 0.1, 0.1)
    background_style: str = "smooth"  # smooth (classic), gradient, radial, noise, shapes

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _pick(rng: np.random.Generator, table: np.ndarray, probs: np.ndarray, jitter: float) -> tuple:
    i = rng.choice(len(table), p=probs / probs.sum())
    c = table[i] * (1 + rng.normal(0, jitter, 3))
    return tuple(float(v) for v in np.clip(c, 0.0, 1.0))


def sample_classic(seed: int) -> HeadParams:
    """The classic random choices of head `seed` (variety.sample_params adds the rich ones)."""
    rng = np.random.default_rng([int(seed), 0x1D3])
    u = rng.uniform
    n = lambda s: float(rng.normal(0.0, s))  # noqa: E731
    p = HeadParams(seed=int(seed))
    w = u(0.94, 1.06)  # overall width factor
    p.skull_radii = (0.132 * w, 0.160 * u(0.97, 1.03), 0.165 * u(0.96, 1.04))
    p.skull_center = (0.0, 0.082, -0.025)
    p.jaw_radii = (0.112 * w * u(0.95, 1.06), 0.130 * u(0.96, 1.04), 0.125 * u(0.96, 1.04))
    p.chin_y = -0.163 + n(0.006)
    p.chin_radius = 0.035 * u(0.85, 1.2)
    p.jaw_angle_x = 0.078 * w * u(0.92, 1.06)
    p.cheek_size = 0.048 * u(0.9, 1.1)
    p.cheek_x = 0.074 * w
    p.eye_x = 0.052 * w + n(0.002)
    p.eye_y = 0.030 + n(0.004)
    p.eye_w = 0.024 * u(0.92, 1.08)
    p.eye_h = 0.011 * u(0.85, 1.12)
    p.gaze = (n(0.15), n(0.1))
    p.brow_gap = 0.040 + n(0.003)
    p.brow_thickness = 0.0058 * u(0.8, 1.3)
    p.brow_tilt = n(0.08)
    p.nose_length = 0.078 * u(0.9, 1.1)
    p.nose_width = 0.016 * u(0.85, 1.15)
    p.nose_projection = 0.041 * u(0.85, 1.12)
    p.mouth_y = -0.092 + n(0.004)
    p.mouth_width = 0.041 * u(0.88, 1.12)
    p.upper_lip = 0.0075 * u(0.75, 1.3)
    p.lower_lip = 0.0095 * u(0.75, 1.3)
    p.mouth_open = float(u(0.006, 0.022)) if rng.random() < P_MOUTH_OPEN else 0.0
    p.smile = float(u(-0.3, 1.0))
    p.ear_size = u(0.9, 1.12)
    p.neck_radius = 0.064 * u(0.92, 1.1)
    p.shoulder_width = 0.19 * u(0.92, 1.08)
    p.neckline_depth = u(0.03, 0.12)
    p.neckline_width = u(0.07, 0.12)

    p.hair_style = str(rng.choice(HAIR_STYLES, p=HAIR_STYLE_PROBS))
    p.hair_volume = u(0.014, 0.032)
    p.hairline = 0.175 + n(0.01)

    p.glasses = bool(rng.random() < P_GLASSES)
    p.glasses_round = bool(rng.random() < 0.4)
    p.glasses_size = 0.029 * u(0.92, 1.1)
    p.hat = bool(rng.random() < P_HAT)
    p.hat_brim = bool(rng.random() < 0.5)
    p.earrings = bool(rng.random() < P_EARRINGS)
    p.earring_hoop = bool(rng.random() < 0.5)
    p.necklace = bool(rng.random() < P_NECKLACE)

    p.skin_colour = _pick(rng, SKIN_TONES, SKIN_TONE_PROBS, 0.03)
    p.hair_colour = _pick(rng, HAIR_COLOURS, HAIR_COLOUR_PROBS, 0.06)
    p.eye_colour = _pick(rng, EYE_COLOURS, EYE_COLOUR_PROBS, 0.08)
    skin = np.array(p.skin_colour)
    lip = skin * np.array([0.92, 0.62, 0.62]) + np.array([0.04, 0.0, 0.02])
    if rng.random() < 0.25:  # lipstick
        lip = np.array(_hsv(u(0.93, 1.02) % 1.0, u(0.5, 0.85), u(0.45, 0.8)))
    p.lip_colour = tuple(float(v) for v in np.clip(lip, 0, 1))
    p.cloth_colour = _hsv(u(0, 1), u(0.1, 0.75), u(0.12, 0.9))
    p.cloth_colour2 = _hsv(u(0, 1), u(0.0, 0.5), u(0.5, 0.95))
    p.cloth_pattern = str(rng.choice(["solid", "stripes", "twotone"], p=[0.65, 0.15, 0.2]))
    p.hat_colour = _hsv(u(0, 1), u(0.2, 0.8), u(0.15, 0.8))
    p.frame_colour = tuple(float(v) for v in FRAME_COLOURS[rng.integers(len(FRAME_COLOURS))])
    p.metal_colour = tuple(float(v) for v in METALS[rng.integers(len(METALS))])
    hue = u(0, 1)
    top = np.array(_hsv(hue, u(0.05, 0.45), u(0.45, 0.95)))
    bottom = np.array(_hsv((hue + n(0.06)) % 1.0, u(0.05, 0.45), u(0.3, 0.85)))
    p.background_top = tuple(float(v) for v in top)
    p.background_bottom = tuple(float(v) for v in bottom)
    p.blush = u(0.1, 0.6)
    p.noise_seed = int(rng.integers(0, 2**20))
    return p
