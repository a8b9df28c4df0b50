"""The composition of one synthetic head from signed-distance parts (primitives: sdf.py).

The head is left/right symmetric in geometry (textures are not), so all parts
are evaluated once at (|x|, y, z); paired classes (eyes, brows, ears) are told
apart by the sign of x afterwards. The person's left (l_*) is the world +x
side, which appears on the image RIGHT in a frontal view.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from . import rich_shapes
from .params import HeadParams
from .variety import sample_params
from .sdf import (  # noqa: F401  (primitives and class ids are re-exported for appearance/render)
    BOX_HALF, CLOTH, EAR_R, EYE_G, HAIR, HAT, L_BROW, L_EAR, L_EYE, L_LIP, MOUTH, NECK, NECK_L, NOSE,
    R_BROW, R_EAR, R_EYE, SKIN, U_LIP, EllipsoidBank, _components, _length, local, rotation, sd_box,
    sd_capsule, sd_ellipsoid, sd_round_rect_frame, sd_sphere, sd_torus, smax, smin, torch_threads)


# Names of the parts (the 5th item of each part in Head._parts), for material-aware colours.
MATERIALS = ("skin", "nose", "ear", "neck", "eye", "brow", "lip", "mouth", "cloth", "hair", "hat",
             "glasses", "earring", "necklace", "lid", "beard", "teeth", "lens")


# ----------------------------------------------------------------------------- the head

class Head:
    """One synthetic head: `sdf(points) -> (distance, class)` and `albedo(points, class)`.

    `params` holds every random choice (see params.py); the layout (feature
    positions placed on the face surface) is derived from them at construction.
    """

    def __init__(self, params: HeadParams):
        self.params = params
        with torch.no_grad(), torch_threads(1):
            self._layout()
            self._build_banks()

    # -- layout ---------------------------------------------------------------
    def _skin_base(self, p):
        pr = self.params
        d = sd_ellipsoid(p, pr.skull_center, pr.skull_radii)
        d = smin(d, sd_ellipsoid(p, pr.jaw_center, pr.jaw_radii), 0.04)
        d = smin(d, sd_sphere(p, self.chin_c, pr.chin_radius), 0.035)
        d = smin(d, sd_ellipsoid(p, self.jaw_angle_c, self.jaw_angle_r), 0.04)
        if hasattr(self, "cheek_c"):
            d = smin(d, sd_ellipsoid(p, self.cheek_c, self.cheek_r), 0.03)
        return d

    @staticmethod
    def _surface(fn, origins, direction, lo=0.0, hi=0.6, iters=26) -> np.ndarray:
        """Distance along `direction` from each origin (outside the shape) to fn's surface,
        by bisection between t=lo (outside) and t=hi (inside)."""
        o = torch.tensor(np.asarray(origins, dtype=np.float32))
        d = torch.tensor(np.asarray(direction, dtype=np.float32))
        a = torch.full((o.shape[0],), float(lo))
        b = torch.full((o.shape[0],), float(hi))
        for _ in range(iters):
            m = 0.5 * (a + b)
            q = o + m[:, None] * d
            inside = fn((q[:, 0], q[:, 1], q[:, 2])) < 0
            b = torch.where(inside, m, b)
            a = torch.where(inside, a, m)
        return (0.5 * (a + b)).numpy()

    def _front_z(self, fn, xs, ys) -> np.ndarray:
        """z of the front surface of fn at (x, y), marching along -z from z=0.45."""
        xs, ys = np.broadcast_arrays(np.asarray(xs, float), np.asarray(ys, float))
        o = np.stack([xs, ys, np.full_like(xs, 0.45)], -1).reshape(-1, 3)
        t = self._surface(fn, o, (0.0, 0.0, -1.0), 0.0, 0.6)
        return (0.45 - t).reshape(xs.shape)

    def _side_x(self, fn, ys, zs) -> np.ndarray:
        ys, zs = np.broadcast_arrays(np.asarray(ys, float), np.asarray(zs, float))
        o = np.stack([np.full_like(ys, 0.45), ys, zs], -1).reshape(-1, 3)
        t = self._surface(fn, o, (-1.0, 0.0, 0.0), 0.0, 0.45)
        return (0.45 - t).reshape(ys.shape)

    def _layout(self):
        pr = self.params
        jc, jr = pr.jaw_center, pr.jaw_radii
        # chin: sphere under the front of the jaw
        cy = pr.chin_y + pr.chin_radius
        t = max(0.0, 1 - ((cy - jc[1]) / jr[1]) ** 2)
        jaw_front = jc[2] + jr[2] * math.sqrt(t)
        self.chin_c = (0.0, cy, jaw_front - pr.chin_radius + 0.004)
        self.jaw_angle_c = (pr.jaw_angle_x, -0.112, -0.02)
        self.jaw_angle_r = (0.036, 0.042, 0.062)
        # cheeks
        s = float(self._front_z(self._skin_base, pr.cheek_x, -0.008))
        self.cheek_c = (pr.cheek_x - 0.006, -0.004, s - 0.88 * pr.cheek_size)
        self.cheek_r = (pr.cheek_size, 0.8 * pr.cheek_size, pr.cheek_size)
        base = self._skin_base

        # eyes (lens-shaped, turned outward with the face surface) and their sockets
        ex, ey = pr.eye_x, pr.eye_y
        zs = self._front_z(base, [ex, ex - pr.eye_w, ex + pr.eye_w], [ey, ey, ey])
        yaw = math.atan2(zs[1] - zs[2], 2 * pr.eye_w)
        self.eye_c = (ex, ey, float(zs[0]) - 0.0075)
        self.eye_r = (pr.eye_w, pr.eye_h, 0.0115)
        self.eye_rot = rotation(yaw=yaw * 0.8)
        self.socket_r = (pr.eye_w + 0.0035, pr.eye_h + 0.004, 0.02)
        self.eye_front = float(zs[0])

        # brows: arched, following the forehead
        by = ey + pr.brow_gap + pr.brow_raise
        bx = ex + 0.004
        zb = self._front_z(base, [bx, bx - 0.022, bx + 0.022], [by, by, by])
        byaw = math.atan2(zb[1] - zb[2], 0.044)
        self.brow_c = (bx, by, float(zb[0]) - 0.0015)
        self.brow_r = (0.029, pr.brow_thickness, 0.0055)
        self.brow_rot = rotation(yaw=byaw, roll=-pr.brow_tilt)

        # nose: tapered bridge, tip ball, two alae
        tip_y = ey - pr.nose_length
        s0 = float(self._front_z(base, 0.0, tip_y))
        sb = float(self._front_z(base, 0.0, ey + 0.008))
        tip_r = pr.nose_width * 0.8
        self.nose_top = (0.0, ey + 0.01, sb - 0.007)
        self.nose_tip = (0.0, tip_y, s0 + pr.nose_projection - tip_r)
        self.nose_tip_r = tip_r
        self.ala_c = (pr.nose_width * 0.95, tip_y - 0.005, self.nose_tip[2] - 0.026)
        self.ala_r = pr.nose_width * 0.6
        self.nose_front = self.nose_tip[2] + tip_r
        self.nose_bridge_z = sb

        # lips and mouth
        my = pr.mouth_y
        sm = float(self._front_z(base, 0.0, my))
        self.mouth_surface = sm
        op = pr.mouth_open
        self.ulip_c = (0.0, my + op / 2 + pr.upper_lip * 0.75, sm - 0.0045)
        self.ulip_r = (pr.mouth_width, pr.upper_lip, 0.0145)
        self.llip_c = (0.0, my - op / 2 - pr.lower_lip * 0.75, sm - 0.0065)
        self.llip_r = (pr.mouth_width * 0.86, pr.lower_lip, 0.0145)
        self.mouth_c = (0.0, my, sm - 0.016)
        self.mouth_r = (pr.mouth_width * 0.9, op / 2 + 0.005, 0.018)
        self.slot_c = (0.0, my, sm - 0.002)
        self.slot_r = (pr.mouth_width * 0.88, op / 2 + 0.0025, 0.03)

        # ears: flattened ellipsoids on the side of the skull, flaring backwards
        sx = float(self._side_x(base, 0.0, -0.02))
        es = pr.ear_size
        self.ear_c = (sx + 0.006, 0.0, -0.02)
        self.ear_r = (0.011, 0.041 * es, 0.026 * es)
        self.ear_rot = rotation(yaw=-0.35)
        self.ear_hole_c = (sx + 0.016, 0.002, -0.016)
        self.ear_hole_r = (0.008, 0.027 * es, 0.016 * es)
        self.head_side = sx

        # neck and torso
        nr = pr.neck_radius
        self.neck_a, self.neck_b = (0.0, -0.05, -0.035), (0.0, -0.5, -0.055)
        sw = pr.shoulder_width
        self.chest_c, self.chest_r = (0.0, -0.53, -0.045), (sw * 1.25, 0.25, 0.13)
        self.shoulder_c, self.shoulder_r = (sw, -0.335, -0.05), (0.12, 0.075, 0.1)
        self.neckline_c = (0.0, -0.27, 0.0)
        self.neckline_r = (nr + pr.neckline_width * 0.6, 0.045 + pr.neckline_depth, 0.25)

        # hair
        hv = pr.hair_volume
        sc, sr = pr.skull_center, pr.skull_radii
        self.hair_r = (sr[0] + hv, sr[1] + hv, sr[2] + hv)
        self.skull_top = sc[1] + sr[1]
        front_z = sc[2] + sr[2] * math.sqrt(max(0.0, 1 - ((pr.hairline - sc[1]) / sr[1]) ** 2))
        # hair where y > a + b z: front hairline at pr.hairline, sides at ~0.05
        self.hair_a = 0.05
        self.hair_b = (pr.hairline - self.hair_a) / max(front_z, 0.05)
        fringe_y = ey + pr.brow_gap + 0.022
        self.fringe_b = (fringe_y - self.hair_a) / max(front_z, 0.05)
        self.bun_c, self.bun_r = (0.0, self.skull_top - 0.02, sc[2] - sr[2] + 0.02), 0.062

        # hat
        self.hat_r = (sr[0] + hv + 0.012, sr[1] + hv + 0.012, sr[2] + hv + 0.012)
        hat_front_y = pr.hairline + 0.005
        self.hat_b = 0.75
        self.hat_a = hat_front_y - self.hat_b * front_z
        self.brim_c = (0.0, hat_front_y + 0.006, front_z + 0.05)
        self.brim_r = (0.115, 0.006, 0.1)

        # glasses
        gs = pr.glasses_size
        zg = self.eye_front + 0.022
        self.glass_c = (ex, ey + 0.002, zg)
        self.glass_R = gs
        zbr = max(zg, self.nose_bridge_z + 0.01)
        self.bridge_a, self.bridge_b = (0.0, ey + 0.008, zbr), (ex - gs * 1.05, ey + 0.006, zg)
        hinge_z = zg - 0.03
        hx = float(self._side_x(base, ey + 0.006, hinge_z)) + 0.007
        back_x = float(self._side_x(base, ey + 0.01, -0.045)) + 0.008
        self.temple_a = (ex + gs * (1.2 if not pr.glasses_round else 1.0), ey + 0.006, zg)
        self.hinge = (max(hx, self.temple_a[0]), ey + 0.008, hinge_z)
        self.temple_b = (back_x, ey + 0.012, -0.045)

        # earrings: at the ear lobe
        lobe_y = self.ear_c[1] - self.ear_r[1] * 0.85
        self.stud_c = (self.ear_c[0] + 0.005, lobe_y + 0.004, self.ear_c[2] + 0.006)
        self.hoop_c = (self.ear_c[0] + 0.005, lobe_y - 0.009, self.ear_c[2] + 0.006)

        # necklace: a tilted ring around the neck
        self.necklace_c = (0.0, -0.215, -0.04)
        self.necklace_R = nr + 0.007
        self.necklace_rot = rotation(pitch=-math.pi / 2 + 0.4)  # ring axis ~ y, front lower
        self.pendant_c = (0.0, -0.215 - self.necklace_R * math.sin(0.4) - 0.008,
                          -0.04 + self.necklace_R * math.cos(0.4) + 0.006)
        if pr.rich:
            rich_shapes.layout(self)

    # -- evaluation -----------------------------------------------------------
    def _build_banks(self):
        """All ellipsoids (and spheres) evaluated together, to cut per-op overhead."""
        pr = self.params
        items = {
            "skull": (pr.skull_center, pr.skull_radii, None),
            "jaw": (pr.jaw_center, pr.jaw_radii, None),
            "chin": (self.chin_c, (pr.chin_radius,) * 3, None),
            "jaw_angle": (self.jaw_angle_c, self.jaw_angle_r, None),
            "cheek": (self.cheek_c, self.cheek_r, None),
            "socket": (self.eye_c, self.socket_r, self.eye_rot),
            "eye": (self.eye_c, self.eye_r, self.eye_rot),
            "nose_tip": (self.nose_tip, (self.nose_tip_r,) * 3, None),
            "ala": (self.ala_c, (self.ala_r,) * 3, None),
            "ear": (self.ear_c, self.ear_r, self.ear_rot),
            "ear_hole": (self.ear_hole_c, self.ear_hole_r, self.ear_rot),
            "chest": (self.chest_c, self.chest_r, None),
            "shoulder": (self.shoulder_c, self.shoulder_r, None),
            "chest_cloth": (self.chest_c, tuple(r + 0.011 for r in self.chest_r), None),
            "shoulder_cloth": (self.shoulder_c, tuple(r + 0.011 for r in self.shoulder_r), None),
            "neckline": (self.neckline_c, self.neckline_r, None),
        }
        if pr.mouth_open > 0:
            items["slot"] = (self.slot_c, self.slot_r, None)
        if pr.hair_style != "bald":
            items["hair"] = (pr.skull_center, self.hair_r, None)
        if pr.hair_style == "bun":
            items["bun"] = (self.bun_c, (self.bun_r,) * 3, None)
        if pr.hat:
            items["hat"] = (pr.skull_center, self.hat_r, None)
            if pr.hat_brim:
                items["brim"] = (self.brim_c, self.brim_r, None)
        if pr.earrings and not pr.earring_hoop:
            items["stud"] = (self.stud_c, (0.0055,) * 3, None)
        if pr.necklace:
            items["pendant"] = (self.pendant_c, (0.0065,) * 3, None)
        lip_items = [(self.ulip_c, self.ulip_r, None), (self.llip_c, self.llip_r, None),
                     (self.mouth_c, self.mouth_r, None)]
        if pr.rich:
            items.update(rich_shapes.bank_items(self))
            lip_items += rich_shapes.mouth_items(self)
        self._bank = EllipsoidBank(list(items.values()))
        self._bank_index = {k: n for n, k in enumerate(items)}
        self._lip_bank = EllipsoidBank(lip_items)

    def _parts(self, x, y, z):
        """Geometry distance and the list of (class_pos, class_neg, distance, bias)."""
        pr = self.params
        ax = x.abs()
        p = (ax, y, z)
        bank = self._bank(ax, y, z)
        col = self._bank_index

        def E(name):
            return bank[col[name]]

        parts = []
        skin = smin(E("skull"), E("jaw"), 0.04)
        skin = smin(skin, E("chin"), 0.035)
        skin = smin(skin, E("jaw_angle"), 0.04)
        skin = smin(skin, E("cheek"), 0.03)
        skin = smax(skin, -E("socket"), 0.004)
        if pr.mouth_open > 0:
            skin = smax(skin, -E("slot"), 0.003)
        nose = sd_capsule(p, self.nose_top, self.nose_tip, 0.007, pr.nose_width * 0.5)
        nose = smin(nose, E("nose_tip"), 0.01)
        nose = smin(nose, E("ala"), 0.01)
        ear = smax(E("ear"), -E("ear_hole"), 0.003)
        neck = sd_capsule(p, self.neck_a, self.neck_b, pr.neck_radius)
        torso = smin(E("chest"), E("shoulder"), 0.06)
        neck = smin(neck, torso, 0.09)
        body = smin(smin(smin(skin, nose, 0.012), ear, 0.006), neck, 0.03)
        parts += [(SKIN, SKIN, skin, 0.0, "skin"), (NOSE, NOSE, nose, 0.0, "nose"),
                  (L_EAR, R_EAR, ear, 0.0, "ear"), (NECK, NECK, neck, 0.0, "neck")]

        eye = E("eye")
        brow = sd_ellipsoid((ax, y + 9.0 * (ax - self.brow_c[0]) ** 2, z),
                            self.brow_c, self.brow_r, self.brow_rot)
        # smile: lift the mouth corners
        lips = self._lip_bank(ax, y - pr.smile * 3.6 * ax * ax, z)
        ulip, llip, mouth = lips[0], lips[1], lips[2]
        parts += [(L_EYE, R_EYE, eye, 0.0, "eye"), (L_BROW, R_BROW, brow, 0.0, "brow"),
                  (U_LIP, U_LIP, ulip, 0.0, "lip"), (L_LIP, L_LIP, llip, 0.0, "lip"),
                  (MOUTH, MOUTH, mouth, 0.0, "mouth")]
        geom = torch.minimum(torch.minimum(body, eye), torch.minimum(brow, lips.amin(0)))
        if pr.rich:  # eyelids, teeth, beards (rich_shapes.py)
            geom = rich_shapes.face_parts(self, p, y, z, E, skin, lips, parts, geom)

        # clothing: an inflated torso with a neckline cut out
        cloth = smin(E("chest_cloth"), E("shoulder_cloth"), 0.06)
        cloth = smax(cloth, -E("neckline"), 0.01)
        parts.append((CLOTH, CLOTH, cloth, 0.001, "cloth"))
        geom = torch.minimum(geom, cloth)

        if pr.hair_style != "bald":
            hair = self._hair(p, E)
            parts.append((HAIR, HAIR, hair, 0.0005, "hair"))
            geom = torch.minimum(geom, hair)
        if pr.hat:
            cut = (self.hat_a + self.hat_b * z - y) * (1.0 / math.sqrt(1 + self.hat_b ** 2))
            hat = torch.maximum(E("hat"), cut)
            if pr.hat_brim:
                brim = torch.maximum(E("brim"), self.brim_c[2] - 0.07 - z)
                hat = torch.minimum(hat, brim)
            parts.append((HAT, HAT, hat, 0.002, "hat"))
            geom = torch.minimum(geom, hat)
        if pr.glasses and pr.glasses_shape:
            geom = rich_shapes.glasses_parts(self, p, parts, geom)
        elif pr.glasses:
            if pr.glasses_round:
                rim = sd_torus(p, self.glass_c, self.glass_R, 0.0032)
            else:
                rim = sd_round_rect_frame(p, self.glass_c, (self.glass_R * 1.2, self.glass_R * 0.78),
                                          0.012, 0.0028)
            rim = torch.minimum(rim, sd_capsule(p, self.bridge_a, self.bridge_b, 0.0028))
            rim = torch.minimum(rim, sd_capsule(p, self.temple_a, self.hinge, 0.003))
            rim = torch.minimum(rim, sd_capsule(p, self.hinge, self.temple_b, 0.003))
            parts.append((EYE_G, EYE_G, rim, 0.003, "glasses"))
            geom = torch.minimum(geom, rim)
        if pr.earrings:
            if pr.earring_hoop:
                ring = sd_torus(p, self.hoop_c, 0.011, 0.0022, rotation(yaw=math.pi / 2))
            else:
                ring = E("stud")
            parts.append((EAR_R, EAR_R, ring, 0.002, "earring"))
            geom = torch.minimum(geom, ring)
        if pr.necklace:
            chain = sd_torus(p, self.necklace_c, self.necklace_R, 0.0022, self.necklace_rot)
            chain = torch.minimum(chain, E("pendant"))
            parts.append((NECK_L, NECK_L, chain, 0.002, "necklace"))
            geom = torch.minimum(geom, chain)

        # clip to the cube
        box = torch.maximum(torch.maximum(ax, y.abs()), z.abs()) - BOX_HALF
        geom = torch.maximum(geom, box)
        return geom, parts

    def _classic_hair(self, p, E):
        pr = self.params
        style = pr.hair_style
        x, y, z = p
        shell = E("hair")
        # gentle strand ridges around the vertical axis
        shell = shell + 0.0012 * torch.sin(torch.atan2(x, z + 0.05) * 38.0)
        b = self.fringe_b if style == "fringe" else self.hair_b
        cut = (self.hair_a + b * z - y) * (1.0 / math.sqrt(1 + b * b))
        if style == "fringe":
            cut = cut + 0.006 * torch.sin(x * 70.0)
        if style == "long":
            r = self.hair_r
            curtain = sd_box(p, (0.0, -0.12, -0.065), (r[0] - 0.01, 0.19, 0.085), rounding=0.025)
            shell = smin(shell, curtain, 0.05)
            lower = torch.maximum(z - 0.012, -0.3 + 0.01 * torch.sin(x * 50.0) - y)
            cut = torch.minimum(cut, lower)
        hair = smax(shell, cut, 0.5 * pr.hair_volume)
        if style == "bun":
            hair = smin(hair, E("bun"), 0.02)
        return hair

    def _hair(self, p, E):
        if self.params.hair_style in rich_shapes.HAIR_STYLES:
            return rich_shapes.hair(self, p, E)
        return self._classic_hair(p, E)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Conservative axis-aligned box (lo, hi) around the whole surface (cached)."""
        if getattr(self, "_bounds", None) is None:
            n = 32
            g = torch.linspace(-0.5, 0.5, n)
            xs, ys, zs = torch.meshgrid(g, g, g, indexing="ij")
            with torch.no_grad(), torch_threads(1):
                d = self._parts(xs.reshape(-1), ys.reshape(-1), zs.reshape(-1))[0]
            near = d < 1.0 / (n - 1)
            pts = torch.stack([xs.reshape(-1), ys.reshape(-1), zs.reshape(-1)], -1)[near]
            margin = 1.5 / (n - 1)
            lo = (pts.min(0).values - margin).clamp(-0.5, 0.5).numpy()
            hi = (pts.max(0).values + margin).clamp(-0.5, 0.5).numpy()
            self._bounds = (lo, hi)
        return self._bounds

    # -- public API -------------------------------------------------------------
    def distance(self, points: torch.Tensor) -> torch.Tensor:
        """Signed distance (N,) at world points (N, 3); negative inside."""
        x, y, z = _components(points)
        return self._parts(x, y, z)[0]

    def sdf(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(distance (N,), class id (N,) long) at world points (N, 3).

        The class is that of the part with the smallest distance (minus a small
        priority bias for accessories, hair and clothes)."""
        x, y, z = _components(points)
        geom, parts = self._parts(x, y, z)
        return geom, self._classify(x, parts)[0]

    def sdf_material(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(distance, class id, material id) at points; material ids index MATERIALS
        (the part that won the class rule: e.g. teeth vs mouth cavity, beard vs skin)."""
        x, y, z = _components(points)
        geom, parts = self._parts(x, y, z)
        cls, idx = self._classify(x, parts)
        mat = torch.tensor([MATERIALS.index(part[4]) for part in parts], dtype=torch.long)
        return geom, cls, mat[idx]

    @staticmethod
    def _classify(x, parts) -> tuple[torch.Tensor, torch.Tensor]:
        stack = torch.stack([part[2] - part[3] for part in parts], -1)
        idx = stack.argmin(-1)
        pos = torch.tensor([part[0] for part in parts], dtype=torch.long)
        neg = torch.tensor([part[1] for part in parts], dtype=torch.long)
        return torch.where(x >= 0, pos[idx], neg[idx]), idx


def build_head(params: HeadParams) -> Head:
    return Head(params)


def sample_head(seed: int, variety="classic") -> Head:
    """The head of `seed` (deterministic) in a variety preset ("classic" or "rich")."""
    return Head(sample_params(seed, variety))
