"""Vertex colours baked from rendered views: each vertex takes the colour of the view
that sees it most frontally, where it is in the image and not occluded (docs/mesh.md)."""
from __future__ import annotations

import numpy as np
import torch

from ..camera import label_from_angles, project, split_label
from .head_mesh import HeadMesh

DEFAULT_BAKE_YAWS = (-1.0, -0.5, 0.0, 0.5, 1.0)


def _sample_map(img: np.ndarray, uv: np.ndarray, mode: str) -> np.ndarray:
    """Sample an (H, W[, C]) map at uv in [0,1] image units (pixel centres at (i+0.5)/W).
    mode 'bilinear', or 'min4' / 'max4' (the smallest / largest of the 4 neighbours)."""
    h, w = img.shape[:2]
    x = np.clip(uv[:, 0] * w - 0.5, 0, w - 1)
    y = np.clip(uv[:, 1] * h - 0.5, 0, h - 1)
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    if mode in ("min4", "max4"):
        f = np.minimum if mode == "min4" else np.maximum
        return f(f(img[y0, x0], img[y0, x1]), f(img[y1, x0], img[y1, x1]))
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    im = img.reshape(h, w, -1).astype(np.float64)
    out = (im[y0, x0] * (1 - fx) * (1 - fy) + im[y0, x1] * fx * (1 - fy)
           + im[y1, x0] * (1 - fx) * fy + im[y1, x1] * fx * fy)
    return out


def bake_colors_from_views(vertices: np.ndarray, normals: np.ndarray, views: list[dict],
                           depth_tolerance: float = 0.015, min_cos: float = 0.1
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Per-vertex colour from rendered views: each vertex takes the colour of the view
    that sees it most frontally (largest cos between its normal and the direction to the
    camera) among the views where it is inside the image and not occluded.

    views: dicts with `label` (25,), `rgb` (H, W, 3) uint8 or float in [0, 1], and `depth`
    (h, w): distance along the unit ray from the camera centre (+inf = background); the
    two maps may have different resolutions. A vertex counts as seen by a view when the
    4 depth pixels around it all lie within `depth_tolerance` of its distance to the
    camera: nothing in front of it (occlusion) and no background or farther surface
    blended into its colour sample (silhouettes, occluding edges).
    Returns (colors (V, 3) uint8, view index (V,) int, -1 where no view sees the vertex).
    """
    v = np.asarray(vertices, np.float64)
    n = np.asarray(normals, np.float64)
    best = np.full(len(v), -np.inf)
    choice = np.full(len(v), -1, np.int64)
    colors = np.zeros((len(v), 3))
    for i, view in enumerate(views):
        cam2world, _ = split_label(view["label"])
        origin = cam2world[:3, 3]
        uv, _ = project(view["label"], v)
        to_cam = origin - v
        dist = np.linalg.norm(to_cam, axis=1)
        cos = np.sum(n * to_cam, 1) / np.maximum(dist, 1e-12)
        inside = (uv >= 0).all(1) & (uv <= 1).all(1) & np.isfinite(uv).all(1)
        depth = np.asarray(view["depth"], np.float64).reshape(np.shape(view["depth"])[-2:])
        d_min = np.full(len(v), -np.inf)
        d_max = np.full(len(v), np.inf)
        d_min[inside] = _sample_map(depth, uv[inside], "min4")
        d_max[inside] = _sample_map(depth, uv[inside], "max4")
        visible = (inside & (d_min >= dist - depth_tolerance) & (d_max <= dist + depth_tolerance)
                   & (cos > min_cos))
        better = visible & (cos > best)
        if better.any():
            rgb = np.asarray(view["rgb"])
            scale = 255.0 if rgb.dtype != np.uint8 else 1.0
            colors[better] = _sample_map(rgb, uv[better], "bilinear")[:, :3] * scale
            best[better] = cos[better]
            choice[better] = i
    return np.clip(np.round(colors), 0, 255).astype(np.uint8), choice


def generator_views(G, ws: torch.Tensor, yaws=DEFAULT_BAKE_YAWS, pitch: float = 0.0, planes=None,
                    neural_resolution: int | None = None, superres: bool = True) -> list[dict]:
    """Render views of one latent for `bake_colors_from_views`: the super-resolved image
    (or the raw neural image) as rgb and the volume-rendered depth."""
    views = []
    with torch.no_grad():
        if planes is None:
            planes = G.planes(ws)
        for yaw in yaws:
            label = label_from_angles(float(yaw), float(pitch))
            c = torch.as_tensor(np.asarray(label, np.float32))[None].to(ws.device)
            out = G.synthesis(ws, c, neural_resolution=neural_resolution, planes=planes, superres=superres)
            img = out["image"] if superres else out["image_raw"]
            rgb = ((img[0].permute(1, 2, 0).clamp(-1, 1) + 1) / 2).cpu().numpy()
            views.append({"label": label, "rgb": rgb, "depth": out["depth"][0, 0].cpu().numpy()})
    return views


def bake_head_colors(G, ws: torch.Tensor, hm: HeadMesh, yaws=DEFAULT_BAKE_YAWS, planes=None,
                     **view_kwargs) -> HeadMesh:
    """A copy of a model-frame head mesh with colours baked from rendered views;
    vertices no view sees keep their decoder colours."""
    hm._require_frame("model")
    views = generator_views(G, ws, yaws, planes=planes, **view_kwargs)
    baked, choice = bake_colors_from_views(hm.vertices, hm.normals, views)
    out = hm.copy()
    seen = choice >= 0
    out.colors[seen] = baked[seen]
    out.stats["baked_fraction"] = float(seen.mean()) if len(seen) else 0.0
    return out
