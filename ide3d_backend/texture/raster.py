"""A vectorised triangle rasteriser with a depth buffer, on numpy: which triangle covers
each pixel centre and where (barycentrics). Used for the UV atlas (which surface point
a texel holds) and for camera depth maps (what a view sees)."""
from __future__ import annotations

import numpy as np

_CHUNK = 1 << 22  # candidate pixels per vectorised batch (bounds the temporaries)


def rasterize(xy: np.ndarray, height: int, width: int, z: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """Triangles (F, 3, 2) in pixel units (pixel (i, j) has its centre at (j+0.5, i+0.5))
    -> (face id (H, W) int32, -1 where empty; barycentrics (H, W, 3) float32).

    A pixel belongs to a triangle when its centre lies inside (edges included). With `z`
    (F, 3) the nearest triangle wins (perspective-correct: 1/z is interpolated, so z must
    be positive view depth); without, any covering triangle (atlases do not overlap).
    """
    xy = np.asarray(xy, np.float64)
    n_faces = len(xy)
    face_id = np.full(height * width, -1, np.int32)
    bary_out = np.zeros((height * width, 3), np.float32)
    if n_faces == 0:
        return face_id.reshape(height, width), bary_out.reshape(height, width, 3)
    lo = np.ceil(xy.min(1) - 0.5).astype(np.int64)          # first candidate column/row
    hi = np.floor(xy.max(1) - 0.5).astype(np.int64)
    lo = np.maximum(lo, 0)
    hi = np.minimum(hi, [width - 1, height - 1])
    extent = (hi - lo + 1).max(1)
    keep = extent > 0
    buckets = np.where(keep, np.ceil(np.log2(np.maximum(extent, 1))).astype(np.int64), -1)
    pix_all, key_all, face_all, bary_all = [], [], [], []
    for b in np.unique(buckets[keep]):
        side = 1 << int(b)
        tris = np.flatnonzero(buckets == b)
        oy, ox = np.divmod(np.arange(side * side), side)
        per = max(1, _CHUNK // (side * side))
        for s in range(0, len(tris), per):
            t = tris[s:s + per]
            px = lo[t, 0][:, None] + ox[None]                  # (T, side^2)
            py = lo[t, 1][:, None] + oy[None]
            valid = (px <= hi[t, 0][:, None]) & (py <= hi[t, 1][:, None])
            cx, cy = px + 0.5, py + 0.5
            a, bb, c = xy[t, 0], xy[t, 1], xy[t, 2]
            area = (bb[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (bb[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
            ok = np.abs(area) > 1e-12
            inv = np.where(ok, 1.0 / np.where(ok, area, 1.0), 0.0)[:, None]
            w0 = ((bb[:, 0, None] - cx) * (c[:, 1, None] - cy) - (bb[:, 1, None] - cy) * (c[:, 0, None] - cx)) * inv
            w1 = ((c[:, 0, None] - cx) * (a[:, 1, None] - cy) - (c[:, 1, None] - cy) * (a[:, 0, None] - cx)) * inv
            w2 = 1.0 - w0 - w1
            eps = -1e-9
            inside = valid & ok[:, None] & (w0 >= eps) & (w1 >= eps) & (w2 >= eps)
            ti, ci = np.nonzero(inside)
            if not len(ti):
                continue
            w = np.stack([w0[ti, ci], w1[ti, ci], w2[ti, ci]], 1)
            faces = t[ti]
            pix = py[ti, ci] * width + px[ti, ci]
            if z is not None:
                inv_z = w / np.asarray(z, np.float64)[faces]
                depth = 1.0 / np.maximum(inv_z.sum(1), 1e-12)
                w = inv_z * depth[:, None]                       # perspective-correct barycentrics
            else:
                depth = np.zeros(len(pix))
            pix_all.append(pix)
            key_all.append(depth)
            face_all.append(faces)
            bary_all.append(w)
    if not pix_all:
        return face_id.reshape(height, width), bary_out.reshape(height, width, 3)
    pix = np.concatenate(pix_all)
    depth = np.concatenate(key_all)
    faces = np.concatenate(face_all)
    bary = np.concatenate(bary_all)
    order = np.lexsort((depth, pix))                            # per pixel, nearest first
    pix, faces, bary = pix[order], faces[order], bary[order]
    first = np.ones(len(pix), bool)
    first[1:] = pix[1:] != pix[:-1]
    face_id[pix[first]] = faces[first]
    bary_out[pix[first]] = np.clip(bary[first], 0.0, 1.0)
    return face_id.reshape(height, width), bary_out.reshape(height, width, 3)
