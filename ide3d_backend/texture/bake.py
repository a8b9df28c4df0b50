"""Baking the colour texture of an atlas from images of the head (issue 16, item 2).

Sources, in order of trust:
  1. the input photo through its camera (alpha 1 where seen frontally, feathered to 0 at
     grazing angles, occluded texels excluded by the depth test against the mesh);
  2. the generator's super-resolved renders from K views, blended by cos^p (the most
     frontal view dominates) for what the photo does not see;
  3. optionally the mirrored photo (the photo of the mirrored head: the other side of a
     near-symmetric face) with a lower alpha, between the renders and the photo.
Texels no image sees (under the chin, inside folds) keep the mesh's vertex colours.
Before blending, the renders and the vertex colours are colour-matched to the photo (a
per-channel gain and offset fitted where both see the surface), so there is no step
where the photo ends. The result is sRGB, with the gutter padded.

Everything takes plain arrays: the mesh, a photo with its 25-d camera label, and a
`render(label) -> (H, W, 3)` callable, so it runs the same for a session, SynthHeads or a
test scene.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .config import BakeConfig
from .padding import dilate_into_gutter
from .texels import TexelSurface
from .views import mesh_depth, sample_image, texel_view

Render = Callable[[np.ndarray], np.ndarray]


@dataclass
class Source:
    """One image of the head and the camera that took it."""
    label: np.ndarray          # 25-d camera label
    image: np.ndarray          # (H, W, 3) uint8 or float in [0, 1], sRGB
    kind: str                  # "photo", "mirror" or "render"


@dataclass
class BakeResult:
    texture: np.ndarray        # (S, S, 3) uint8 sRGB
    coverage: dict             # fraction of the texels each source coloured
    warnings: list = field(default_factory=list)
    seconds: dict = field(default_factory=dict)


def mirror_label(label) -> np.ndarray:
    """Camera of the horizontally mirrored image: the world mirrored in x (x -> -x)."""
    out = np.array(label, np.float64).reshape(25).copy()
    out[[1, 2, 3, 4, 8]] *= -1
    return out


def photo_sources(photo: np.ndarray | None, label, use_mirror: bool) -> list[Source]:
    if photo is None:
        return []
    out = [Source(np.asarray(label, np.float64), np.asarray(photo), "photo")]
    if use_mirror:
        out.append(Source(mirror_label(label), np.ascontiguousarray(np.asarray(photo)[:, ::-1]), "mirror"))
    return out


def render_sources(render: Render | None, labels) -> list[Source]:
    return [] if render is None else [Source(np.asarray(l, np.float64), np.asarray(render(l)), "render")
                                      for l in labels]


def _affine_match(src: np.ndarray, dst: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel gain, offset with gain*src+offset ~ dst (weighted least squares); gains
    kept in 0.5..2 so a small overlap cannot flip colours."""
    w = weight / max(weight.sum(), 1e-12)
    ms, md = (w[:, None] * src).sum(0), (w[:, None] * dst).sum(0)
    var = (w[:, None] * (src - ms) ** 2).sum(0)
    cov = (w[:, None] * (src - ms) * (dst - md)).sum(0)
    gain = np.clip(cov / np.maximum(var, 1e-6), 0.5, 2.0)
    return gain, md - gain * ms


def bake_texture(surface: TexelSurface, vertices: np.ndarray, faces: np.ndarray, sources: list[Source],
                 cfg: BakeConfig | None = None, only: np.ndarray | None = None,
                 base: np.ndarray | None = None, depth_cache: dict | None = None) -> BakeResult:
    """Bake `surface`'s texels from `sources` (see the module docstring).

    only: boolean (N,) over the surface's texels; the others keep `base` (an existing
    texture, (S, S, 3) uint8) - a region re-bake. depth_cache: a dict reused across calls
    on the same mesh (depth maps keyed by camera label and image size)."""
    cfg = cfg or BakeConfig(size=surface.size)
    t0 = time.perf_counter()
    warnings = []
    sel = np.ones(len(surface.index), bool) if only is None else np.asarray(only, bool)
    pts, nrm = surface.points[sel], surface.normals[sel]
    n = len(pts)
    seconds = {"depth": 0.0, "sample": 0.0}
    per_kind: dict[str, list] = {"photo": [], "mirror": [], "render": []}
    for src in sources:
        ih, iw = src.image.shape[:2]
        scale = max(1, -(-cfg.depth_resolution // max(ih, iw)))   # depth map: an integer multiple of the image
        dsize = (ih * scale, iw * scale)
        key = (np.asarray(src.label, np.float64).round(6).tobytes(), dsize)
        t = time.perf_counter()
        depth = None if depth_cache is None else depth_cache.get(key)
        if depth is None:
            depth = mesh_depth(src.label, vertices, faces, dsize)
            if depth_cache is not None:
                depth_cache[key] = depth
        seconds["depth"] += time.perf_counter() - t
        t = time.perf_counter()
        photo_like = src.kind in ("photo", "mirror")
        tv = texel_view(src.label, pts, nrm, depth, cfg.photo_cos_min if photo_like else cfg.cos_min,
                        cfg.photo_cos_full if photo_like else cfg.cos_full, cfg.depth_tolerance, (ih, iw))
        seen = tv.weight > 0
        col = np.zeros((n, 3))
        col[seen] = sample_image(src.image, tv.xy[seen])
        per_kind[src.kind].append((tv.weight, np.clip(tv.cos, 0, 1), col))
        seconds["sample"] += time.perf_counter() - t
    t = time.perf_counter()

    # renders: blend by weight * cos^p
    r_w = np.zeros(n)
    r_col = np.zeros((n, 3))
    for w, cos, col in per_kind["render"]:
        ww = w * cos ** cfg.render_power
        r_w += ww
        r_col += ww[:, None] * col
    r_seen = r_w > 1e-6
    r_col[r_seen] /= r_w[r_seen, None]
    fallback = surface.colors[sel].copy()
    photo = per_kind["photo"][0] if per_kind["photo"] else None
    mirror = per_kind["mirror"][0] if per_kind["mirror"] else None
    if photo is None:
        warnings.append("no photo in this session (sampled or drawn head): the texture is baked from "
                        "the generator's renders only")
    if cfg.match_colours and photo is not None:
        both = (photo[0] > 0.5) & r_seen
        if both.sum() >= 64:
            gain, offset = _affine_match(r_col[both], photo[2][both], photo[0][both])
            r_col = np.clip(r_col * gain + offset, 0, 1)
        both = (photo[0] > 0.5)
        if both.sum() >= 64:
            gain, offset = _affine_match(fallback[both], photo[2][both], photo[0][both])
            fallback = np.clip(fallback * gain + offset, 0, 1)
    colour = np.where(r_seen[:, None], r_col, fallback)
    # renders seen only at grazing angles fade into the vertex colours
    r_alpha = np.clip(r_w / max(0.5 ** cfg.render_power, 1e-6), 0, 1)
    colour = r_alpha[:, None] * colour + (1 - r_alpha[:, None]) * fallback
    coverage = {"render": float(r_seen.mean()) if n else 0.0}
    if mirror is not None:
        a = cfg.mirror_weight * mirror[0]
        colour = a[:, None] * mirror[2] + (1 - a[:, None]) * colour
        coverage["mirror"] = float((mirror[0] > 0).mean()) if n else 0.0
    if photo is not None:
        a = photo[0]
        colour = a[:, None] * photo[2] + (1 - a[:, None]) * colour
        coverage["photo"] = float((photo[0] > 0).mean()) if n else 0.0
    coverage["unseen"] = float((~r_seen & ((photo[0] if photo is not None else np.zeros(n)) == 0)).mean()) if n else 0.0

    s = surface.size
    img = (np.zeros((s * s, 3), np.float32) if base is None
           else np.asarray(base, np.float32).reshape(-1, 3) / 255.0)
    filled = np.zeros(s * s, bool)
    filled[surface.index] = True
    img[surface.index[sel]] = colour
    img, _ = dilate_into_gutter(img.reshape(s, s, 3), filled.reshape(s, s), cfg.padding)
    seconds["blend"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - t0
    tex = np.clip(np.round(np.asarray(img) * 255), 0, 255).astype(np.uint8).reshape(s, s, 3)
    return BakeResult(tex, coverage, warnings, seconds)
