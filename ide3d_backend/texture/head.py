"""The front door: a HeadMesh in, a textured HeadMesh out (UV atlas + baked texture),
and region re-bakes that reuse the atlas and the depth maps (issue 16, items 1-3).

Inputs are plain: the mesh, the photo with its 25-d camera label (or none), and
`render(label) -> (H, W, 3)` giving the generator's super-resolved image from a camera.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..camera import label_from_angles
from ..mesh.head_mesh import HeadMesh
from .atlas import Atlas, build_atlas
from .bake import BakeResult, Render, Source, bake_texture, photo_sources, render_sources
from .config import BakeConfig
from .texels import TexelSurface, texel_surface


@dataclass
class TexturedHead:
    """A textured head and what a re-bake needs (atlas, texel surface, cached depth maps)."""
    mesh: HeadMesh                 # cut along the UV seams, with uvs and texture
    atlas: Atlas
    surface: TexelSurface
    cfg: BakeConfig
    photo_label: np.ndarray | None
    result: BakeResult
    depth_cache: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)

    @property
    def texture(self) -> np.ndarray:
        return self.mesh.texture


def _cut_mesh(hm: HeadMesh, atlas: Atlas) -> HeadMesh:
    vm = atlas.vmapping
    return HeadMesh(hm.vertices[vm], atlas.faces, hm.normals[vm], hm.colors[vm], hm.labels[vm], hm.frame,
                    dict(hm.stats), uvs=atlas.uvs)


def view_labels(views) -> list[np.ndarray]:
    """25-d labels of (yaw, pitch) pairs (camera.py's look-at convention)."""
    return [label_from_angles(float(y), float(p)) for y, p in views]


def texture_head(hm: HeadMesh, photo: np.ndarray | None = None, photo_label=None, render: Render | None = None,
                 cfg: BakeConfig | None = None) -> TexturedHead:
    """Unwrap `hm` (model frame) and bake its texture from the photo, the mirrored photo and
    the renders (texture.bake). Without a photo the texture comes from the renders only
    (the result's warnings say so); without either, from the vertex colours."""
    cfg = cfg or BakeConfig()
    hm._require_frame("model")
    if photo is not None and photo_label is None:
        raise ValueError("a photo needs its camera label")
    t0 = time.perf_counter()
    atlas = build_atlas(hm.vertices, hm.faces, hm.face_labels, cfg.size, cfg.chart_padding)
    t1 = time.perf_counter()
    mesh = _cut_mesh(hm, atlas)
    surface = texel_surface(atlas, hm.vertices, hm.normals, hm.labels, hm.colors)
    t2 = time.perf_counter()
    sources = photo_sources(photo, photo_label, cfg.use_mirror)
    sources += render_sources(render, view_labels(cfg.render_views))
    t3 = time.perf_counter()
    cache: dict = {}
    result = bake_texture(surface, hm.vertices, hm.faces, sources, cfg, depth_cache=cache)
    t4 = time.perf_counter()
    mesh.texture = result.texture
    seconds = {"atlas": t1 - t0, "texels": t2 - t1, "renders": t3 - t2, "bake": t4 - t3, "total": t4 - t0}
    mesh.stats["texture"] = {"size": cfg.size, "charts": atlas.stats["charts"], "coverage": result.coverage,
                             "warnings": list(result.warnings), "seconds": seconds}
    return TexturedHead(mesh, atlas, surface, cfg,
                        None if photo_label is None else np.asarray(photo_label, np.float64),
                        result, cache, seconds)


def rebake(th: TexturedHead, hm: HeadMesh, classes=None, photo: np.ndarray | None = None,
           render: Render | None = None, keep_photo: bool = True) -> TexturedHead:
    """Re-bake after a texture edit on the same geometry (`hm`: the uncut mesh of the new
    state, whose vertex colours are the fallback). `classes`: only texels whose label is
    in them change (a region style); None re-bakes every texel (a texture swap), from
    the renders only unless `keep_photo` (then the photo keeps its place in front)."""
    t0 = time.perf_counter()
    vm = th.atlas.vmapping
    if len(vm) and (vm.max() >= len(hm.vertices)
                    or not np.array_equal(hm.vertices[vm], th.mesh.vertices)):
        raise ValueError("the mesh changed shape: extract it again and call texture_head")
    surface = th.surface.with_colors(hm.colors)
    sources: list[Source] = photo_sources(photo if keep_photo else None, th.photo_label, th.cfg.use_mirror)
    sources += render_sources(render, view_labels(th.cfg.render_views))
    only = None if classes is None else np.isin(surface.labels, np.asarray(list(classes), np.int64))
    result = bake_texture(surface, hm.vertices, hm.faces, sources, th.cfg, only=only,
                          base=None if only is None else th.mesh.texture, depth_cache=th.depth_cache)
    mesh = th.mesh.copy()
    mesh.colors = hm.colors[vm]
    mesh.texture = result.texture
    seconds = {"rebake": time.perf_counter() - t0, "bake": result.seconds.get("total", 0.0)}
    return TexturedHead(mesh, th.atlas, surface, th.cfg, th.photo_label, result, th.depth_cache, seconds)
