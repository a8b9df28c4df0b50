"""Signed-distance primitives on point components (x, y, z), each a float32 tensor (N,).

Elementwise ops on separate components are much cheaper on the CPU than
reductions over a trailing axis of size 3.
"""
from __future__ import annotations

import math

import numpy as np
import torch

BOX_HALF = 0.49  # everything is clipped to this cube (inside the tri-plane cube [-0.5, 0.5]^3)

# Class ids (CelebAMask-HQ order, see semantics.py).
SKIN, NOSE, EYE_G, L_EYE, R_EYE, L_BROW, R_BROW, L_EAR, R_EAR = 1, 2, 3, 4, 5, 6, 7, 8, 9
MOUTH, U_LIP, L_LIP, HAIR, HAT, EAR_R, NECK_L, NECK, CLOTH = 10, 11, 12, 13, 14, 15, 16, 17, 18


class torch_threads:
    """Run a block with a given torch intra-op thread count (restored afterwards).

    Tracing issues many small ops, where extra threads only add overhead and
    suffer badly when the CPU is shared; one thread is faster and predictable."""

    def __init__(self, n: int | None):
        self.n = n

    def __enter__(self):
        self.old = torch.get_num_threads()
        if self.n:
            torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        torch.set_num_threads(self.old)


# ----------------------------------------------------------------------------- primitives

def _length(x, y, z=None):
    if z is None:
        return torch.sqrt(x * x + y * y)
    return torch.sqrt(x * x + y * y + z * z)


def rotation(yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0) -> list:
    """Rows are the local axes in world coordinates (local = R @ (p - c)).

    Built as Rz(roll) @ Rx(pitch) @ Ry(yaw) applied to world offsets."""
    cy, sy, cx, sx, cz, sz = (math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch),
                              math.cos(roll), math.sin(roll))
    ry = np.array([[cy, 0, -sy], [0, 1, 0], [sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cx, sx], [0, -sx, cx]])
    rz = np.array([[cz, sz, 0], [-sz, cz, 0], [0, 0, 1]])
    return (rz @ rx @ ry).tolist()


def local(p, c, rot=None):
    x, y, z = p[0] - c[0], p[1] - c[1], p[2] - c[2]
    if rot is not None:
        (a, b, e), (d, f, g), (h, i, j) = rot
        x, y, z = a * x + b * y + e * z, d * x + f * y + g * z, h * x + i * y + j * z
    return x, y, z


def sd_sphere(p, c, r):
    x, y, z = local(p, c)
    return _length(x, y, z) - r


def sd_ellipsoid(p, c, r, rot=None):
    """Inigo Quilez's ellipsoid approximation (exact on the surface, good near it)."""
    x, y, z = local(p, c, rot)
    ax, ay, az = x * (1.0 / r[0]), y * (1.0 / r[1]), z * (1.0 / r[2])
    k0 = _length(ax, ay, az)
    k1 = _length(ax * (1.0 / r[0]), ay * (1.0 / r[1]), az * (1.0 / r[2]))
    return k0 * (k0 - 1.0) / k1.clamp_min(1e-6)


def sd_capsule(p, a, b, r, r2=None):
    """Capsule from a to b with radius r (linearly tapering to r2 if given)."""
    bax, bay, baz = b[0] - a[0], b[1] - a[1], b[2] - a[2]
    inv = 1.0 / (bax * bax + bay * bay + baz * baz)
    px, py, pz = p[0] - a[0], p[1] - a[1], p[2] - a[2]
    h = ((px * bax + py * bay + pz * baz) * inv).clamp(0.0, 1.0)
    d = _length(px - bax * h, py - bay * h, pz - baz * h)
    if r2 is None:
        return d - r
    return d - (r + (r2 - r) * h)


def sd_torus(p, c, big_r, small_r, rot=None, squash=1.0):
    """Torus around the local z axis (ring in the local xy plane); squash scales local y."""
    x, y, z = local(p, c, rot)
    if squash != 1.0:
        y = y * (1.0 / squash)
    q = _length(x, y) - big_r
    return _length(q, z) - small_r


def sd_round_rect_frame(p, c, half, radius, thickness):
    """Outline of a rounded rectangle in the local xy plane, with square-ish section."""
    x, y, z = local(p, c)
    qx = x.abs() - (half[0] - radius)
    qy = y.abs() - (half[1] - radius)
    outside = _length(qx.clamp_min(0), qy.clamp_min(0))
    d2 = outside + torch.maximum(qx, qy).clamp_max(0) - radius
    return torch.maximum(d2.abs() - thickness, z.abs() - thickness)


def sd_box(p, c, half, rot=None, rounding=0.0):
    x, y, z = local(p, c, rot)
    qx, qy, qz = x.abs() - half[0], y.abs() - half[1], z.abs() - half[2]
    outside = _length(qx.clamp_min(0), qy.clamp_min(0), qz.clamp_min(0))
    inside = torch.maximum(torch.maximum(qx, qy), qz).clamp_max(0)
    return outside + inside - rounding


def smin(a, b, k):
    """Polynomial smooth minimum (union) with blend radius k."""
    h = (0.5 + 0.5 * (b - a) / k).clamp(0.0, 1.0)
    return b + (a - b) * h - k * h * (1.0 - h)


def smax(a, b, k):
    """Smooth maximum (intersection / subtraction with -b)."""
    return -smin(-a, -b, k)


def _components(points: torch.Tensor):
    points = points.float()
    return points[:, 0], points[:, 1], points[:, 2]


class EllipsoidBank:
    """K ellipsoids (centre, radii, optional rotation) evaluated in one go: (N,) -> (K, N).

    Rows are contiguous, so later elementwise ops on one ellipsoid stay fast."""

    def __init__(self, items):
        c = np.array([it[0] for it in items], dtype=np.float64)
        r = np.array([it[1] for it in items], dtype=np.float64)
        rot = np.stack([np.eye(3) if it[2] is None else np.asarray(it[2], dtype=np.float64)
                        for it in items])
        a = rot / r[:, :, None]  # rows: local axis / radius  -> scaled local coordinates
        t = lambda v: torch.tensor(v, dtype=torch.float32)[:, None]  # noqa: E731
        self.c = [t(c[:, i]) for i in range(3)]
        self.a = [[t(a[:, i, j]) for j in range(3)] for i in range(3)]
        self.inv_r = [t(1.0 / r[:, i]) for i in range(3)]
        self.rotated = [bool(it[2] is not None) for it in items]
        self.any_rot = any(self.rotated)

    def __call__(self, x, y, z) -> torch.Tensor:
        X = x[None] - self.c[0]
        Y = y[None] - self.c[1]
        Z = z[None] - self.c[2]
        a = self.a
        if self.any_rot:
            u = X * a[0][0] + Y * a[0][1] + Z * a[0][2]
            v = X * a[1][0] + Y * a[1][1] + Z * a[1][2]
            w = X * a[2][0] + Y * a[2][1] + Z * a[2][2]
        else:
            u, v, w = X * a[0][0], Y * a[1][1], Z * a[2][2]
        k0 = torch.sqrt(u * u + v * v + w * w)
        u, v, w = u * self.inv_r[0], v * self.inv_r[1], w * self.inv_r[2]
        k1 = torch.sqrt(u * u + v * v + w * w).clamp_min(1e-6)
        return k0 * (k0 - 1.0) / k1
