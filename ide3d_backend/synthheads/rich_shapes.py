"""Geometry of the rich variety: eyelids, teeth, beards, more hair styles, glasses with lenses.

Hooks called by shapes.Head only when params.rich is set, so classic heads never
run this code. Every addition is a real surface with its own class, so masks,
depth and meshes stay exact:
- eyelids: the eye ellipsoid grown by 1.5 mm, kept above a line that lowers with
  `eyelid` (1 = closed: the whole eye is covered, no eye pixel is left) -> skin;
- teeth: one or two rows inside an open mouth, bent by the smile like the lips -> mouth
  (CelebAMask-HQ puts teeth in `mouth`);
- beards: a shell over the lower face (skin grown by the beard thickness, cut by a
  cheek line, a line in front of the ears and a hole round the lips) and a moustache
  -> BEARD_CLASS (skin: CelebAMask-HQ has no beard class and annotates facial hair
  as part of the face);
- glasses: frames of several outlines and thicknesses with lens slabs -> eye_g (the
  renderer sees through a lens to colour it; mask and depth are the lens's).
"""
from __future__ import annotations

import math

import torch

from .sdf import EYE_G, MOUTH, SKIN, local, sd_box, sd_capsule, smax, smin

BEARD_CLASS = SKIN
HAIR_STYLES = ("buzz", "bob", "ponytail", "afro", "curly")
LID_GROW = 0.0015
LENS_HALF = 0.0012  # half thickness of a lens slab


def layout(head) -> None:
    """Positions of the rich parts, from the classic layout (called at the end of Head._layout)."""
    pr = head.params
    ec, er = head.eye_c, head.eye_r
    head.lid_r = (er[0] + LID_GROW, er[1] + LID_GROW, er[2] + LID_GROW)
    head.lid_cut = ec[1] + head.lid_r[1] * (1.0 - 2.0 * pr.eyelid)  # the lid exists above this y

    my, op, sm = pr.mouth_y, pr.mouth_open, head.mouth_surface
    head.uteeth_c = (0.0, my + op / 2 - 0.001, sm - 0.0075)
    head.uteeth_r = (pr.mouth_width * 0.68, 0.005, 0.013)
    head.lteeth_c = (0.0, my - op / 2 + 0.001, sm - 0.0095)
    head.lteeth_r = (pr.mouth_width * 0.6, 0.004, 0.013)
    if pr.teeth:  # recess the cavity so the teeth stand in front of it
        head.mouth_c = (0.0, my, sm - 0.022)

    lip_top = my + op / 2 + pr.upper_lip * 1.75
    head.moustache_c = (0.0, lip_top + 0.0045, sm + 0.001)
    head.moustache_r = (pr.mouth_width * 1.08, 0.0058, 0.011)
    head.beard_hole_c = (0.0, my - 0.001, sm)
    head.beard_hole_r = (pr.mouth_width * 1.12, op / 2 + 1.75 * max(pr.upper_lip, pr.lower_lip) + 0.003, 0.045)
    # cheek line: y_top = a + b z, from the sideburns (y ~ eye - 2 cm, z ~ 0) to above the lips
    front_top, side_top, front_z, side_z = my + 0.024, pr.eye_y - 0.02, sm, 0.0
    head.beard_b = (front_top - side_top) / (front_z - side_z)
    head.beard_a = side_top - head.beard_b * side_z
    head.beard_back_z = head.ear_c[2] + head.ear_r[2] * 0.9
    head.goatee_w = pr.mouth_width * 0.75

    if pr.glasses and pr.glasses_shape:
        gs, ex, ey = pr.glasses_size, pr.eye_x, pr.eye_y
        a, bt, bb, dy, lift = {
            "round": (gs, gs, gs, 0.0, 0.0),
            "rect": (gs * 1.2, gs * 0.78, gs * 0.78, 0.0, 0.0),
            "aviator": (gs * 1.15, gs * 0.78, gs * 1.05, -0.004, 0.0),
            "cateye": (gs * 1.2, gs * 0.72, gs * 0.72, 0.0, 9.0),
            "wide": (gs * 1.35, gs * 0.62, gs * 0.62, 0.0, 0.0),
        }[pr.glasses_shape]
        head.lens_shape = (a, bt, bb, lift)
        head.glass_c = (head.glass_c[0], head.glass_c[1] + dy, head.glass_c[2])
        head.bridge_b = (ex - a * 0.98, ey + 0.006, head.glass_c[2])
        head.temple_a = (ex + a * 0.98, ey + 0.006, head.glass_c[2])
        head.hinge = (max(head.hinge[0], head.temple_a[0]), head.hinge[1], head.hinge[2])


def bank_items(head) -> dict:
    """Extra ellipsoids for the head's bank (evaluated at (|x|, y, z))."""
    pr = head.params
    items = {}
    if pr.eyelid > 0:
        items["lid"] = (head.eye_c, head.lid_r, head.eye_rot)
    if pr.beard in ("full", "goatee"):
        items["beard_hole"] = (head.beard_hole_c, head.beard_hole_r, None)
    return items


def mouth_items(head) -> list:
    """Extra ellipsoids evaluated with the lips (bent by the smile): teeth rows, moustache."""
    pr = head.params
    items = []
    if pr.teeth >= 1 and pr.mouth_open > 0:
        items.append((head.uteeth_c, head.uteeth_r, None))
    if pr.teeth >= 2 and pr.mouth_open > 0:
        items.append((head.lteeth_c, head.lteeth_r, None))
    if pr.beard in ("moustache", "full"):
        items.append((head.moustache_c, head.moustache_r, None))
    return items


def face_parts(head, p, y, z, E, skin, lips, parts: list, geom):
    """Append lids, teeth and beard to `parts`; returns the updated geometry distance."""
    pr = head.params
    if pr.eyelid > 0:
        lid = torch.maximum(E("lid"), head.lid_cut - y)
        parts.append((SKIN, SKIN, lid, 0.0, "lid"))
        geom = torch.minimum(geom, lid)
    k = 3  # lips[0:3] are the classic upper lip, lower lip and mouth cavity
    if pr.teeth >= 1 and pr.mouth_open > 0:
        teeth = lips[k]
        k += 1
        if pr.teeth >= 2:
            teeth = torch.minimum(teeth, lips[k])
            k += 1
        parts.append((MOUTH, MOUTH, teeth, 0.0, "teeth"))
        geom = torch.minimum(geom, teeth)
    if pr.beard in ("moustache", "full"):
        parts.append((BEARD_CLASS, BEARD_CLASS, lips[k], 0.0, "beard"))
        geom = torch.minimum(geom, lips[k])
    if pr.beard in ("full", "goatee"):
        beard = skin - pr.beard_thickness
        top = (y - head.beard_a - head.beard_b * z) * (1.0 / math.sqrt(1 + head.beard_b ** 2))
        beard = torch.maximum(torch.maximum(beard, top), head.beard_back_z - z)
        beard = torch.maximum(beard, -E("beard_hole"))
        if pr.beard == "goatee":
            beard = torch.maximum(beard, p[0] - head.goatee_w)
        parts.append((BEARD_CLASS, BEARD_CLASS, beard, 0.0, "beard"))
        geom = torch.minimum(geom, beard)
    return geom


def hair(head, p, E):
    """Distance of the rich hair styles (buzz, bob, ponytail, afro, curly)."""
    pr = head.params
    style = pr.hair_style
    x, y, z = p
    shell = E("hair")
    b = head.hair_b
    cut = (head.hair_a + b * z - y) * (1.0 / math.sqrt(1 + b * b))
    bump, freq = {"afro": (0.004, 48.0), "curly": (0.003, 55.0)}.get(style, (0.0, 0.0))
    if style in ("bob", "curly"):
        r = head.hair_r
        bottom = -0.14 if style == "bob" else -0.24
        curtain = sd_box(p, (0.0, (bottom + 0.1) / 2, -0.045), (r[0] - 0.006, (0.1 - bottom) / 2, 0.095),
                         rounding=0.03)
        shell = smin(shell, curtain, 0.04)
        lower = torch.maximum(z - 0.03, bottom + 0.006 * torch.sin(x * 60.0) - y)
        cut = torch.minimum(cut, lower)
    if style != "buzz":
        shell = shell + 0.0012 * torch.sin(torch.atan2(x, z + 0.05) * 38.0)
    if bump:
        shell = shell + bump * torch.sin(x * freq) * torch.sin(y * freq) * torch.sin(z * freq)
    out = smax(shell, cut, 0.5 * pr.hair_volume)
    if style == "ponytail":
        sc, sr = pr.skull_center, pr.skull_radii
        back = sc[2] - sr[2] - pr.hair_volume
        tail = sd_capsule(p, (0.0, sc[1] - 0.01, back + 0.01), (0.0, -0.14, back - 0.03), 0.026, 0.012)
        out = smin(out, tail, 0.012)
    if bump:  # keep the distance a lower bound despite the bumps (gradient up to 1 + bump*freq*sqrt 3)
        out = out * (1.0 / (1.0 + bump * freq * 1.74))
    return out


def _lens_2d(head, p):
    """Approximate 2D distance to the lens outline (negative inside) and local z at points p."""
    pr = head.params
    x, y, z = local(p, head.glass_c)
    a, bt, bb, lift = head.lens_shape
    if pr.glasses_shape in ("rect", "wide"):
        r = 0.008 if pr.glasses_shape == "rect" else 0.005
        qx, qy = x.abs() - (a - r), y.abs() - (bt - r)
        e = torch.sqrt(qx.clamp_min(0) ** 2 + qy.clamp_min(0) ** 2) + torch.maximum(qx, qy).clamp_max(0) - r
        return e, z
    if lift:
        y = y - lift * x.clamp_min(0) ** 2
    b = torch.where(y > 0, torch.full_like(y, bt), torch.full_like(y, bb))
    k = torch.sqrt((x * (1.0 / a)) ** 2 + (y / b) ** 2)
    return (k - 1.0) * min(a, bt, bb), z


def glasses_parts(head, p, parts: list, geom):
    """Frame (rims, bridge, temples) and lenses of the rich glasses."""
    pr = head.params
    t = pr.frame_thickness
    e, lz = _lens_2d(head, p)
    rim = torch.maximum(e.abs() - t, lz.abs() - t)
    rim = torch.minimum(rim, sd_capsule(p, head.bridge_a, head.bridge_b, t))
    rim = torch.minimum(rim, sd_capsule(p, head.temple_a, head.hinge, t * 1.1))
    rim = torch.minimum(rim, sd_capsule(p, head.hinge, head.temple_b, t * 1.1))
    parts.append((EYE_G, EYE_G, rim, 0.003, "glasses"))
    geom = torch.minimum(geom, rim)
    if not getattr(head, "no_lenses", False):
        lens = torch.maximum(e, lz.abs() - LENS_HALF)
        parts.append((EYE_G, EYE_G, lens, 0.001, "lens"))
        geom = torch.minimum(geom, lens)
    return geom


def has_lenses(head) -> bool:
    return bool(head.params.rich and head.params.glasses and head.params.glasses_shape)


class lenses_removed:
    """Within the block the head has no lens surfaces (to trace what lies behind them)."""

    def __init__(self, head):
        self.head = head

    def __enter__(self):
        self.head.no_lenses = True

    def __exit__(self, *exc):
        self.head.no_lenses = False


__all__ = ["BEARD_CLASS", "HAIR_STYLES", "layout", "bank_items", "mouth_items", "face_parts", "hair",
           "glasses_parts", "has_lenses", "lenses_removed"]
