"""The whole pipeline: fields -> surface -> cleanup -> attributes -> HeadMesh
(`mesh_from_fields`), and its front door for one generator latent (`extract_head_mesh`,
with `rendered_surface_level` choosing where to put the surface)."""
from __future__ import annotations

import dataclasses
import time
from typing import Callable

import numpy as np
import torch

from ..camera import label_from_angles
from ..model.ray_sampler import sample_rays
from ..semantics import NUM_CLASSES
from .attributes import vertex_colors, vertex_labels, vertex_normals
from .cleanup import decimate, keep_largest_components, taubin_smooth
from .extraction import DEFAULT_LEVEL
from .surface import extract_surface
from .fields import DEFAULT_BATCH, DensityFn, generator_fields
from .head_mesh import HeadMesh


def mesh_from_fields(density_fn: DensityFn, label_fn: Callable | None = None, color_fn: Callable | None = None,
                     resolution: int = 256, box: float = 1.0, level: float = DEFAULT_LEVEL,
                     coarse_to_fine: bool = True, smooth: int = 0, target_faces: int | None = None,
                     keep_components: float | None = None, largest_component: bool = True,
                     batch: int = DEFAULT_BATCH, factor: int = 4, dilation: int = 0,
                     margin: float | str | None = "auto", lattice: bool = True, sparse: bool = True) -> HeadMesh:
    """Extract, clean up and attribute a mesh from callbacks (callbacks as in fields.py).

    keep_components: None keeps only the largest component; a fraction keeps every
    component with at least that fraction of the largest's faces (needs largest_component).
    Missing label_fn gives label 1 (skin); missing color_fn gives mid grey. `lattice=False`
    samples every grid point through density_fn (the reference path; lattice.py);
    `sparse=False` fills and marches the whole fine grid (sparse.py).
    """
    t0 = time.perf_counter()
    verts, faces, stats = extract_surface(density_fn, resolution, box, level, coarse_to_fine, factor,
                                          dilation, batch, margin, lattice, sparse)
    t1 = time.perf_counter()
    raw_faces = len(faces)
    if largest_component and len(faces):
        verts, faces = keep_largest_components(verts, faces, keep_components)
    if smooth:
        verts = taubin_smooth(verts, faces, smooth)
    if target_faces is not None and len(faces) > target_faces:
        verts, faces = decimate(verts, faces, target_faces)
    t2 = time.perf_counter()
    labels = (vertex_labels(label_fn, verts, batch) if label_fn is not None
              else np.ones(len(verts), np.uint8))
    if labels.size and labels.max() >= NUM_CLASSES:
        raise ValueError(f"label_fn returned class ids beyond {NUM_CLASSES - 1}")
    colors = (vertex_colors(color_fn, verts, batch) if color_fn is not None
              else np.full((len(verts), 3), 128, np.uint8))
    t3 = time.perf_counter()
    info = dataclasses.asdict(stats)
    info.update(level=float(level), box=float(box), raw_faces=raw_faces, seconds_extract=t1 - t0,
                seconds_cleanup=t2 - t1, seconds_attributes=t3 - t2, seconds_total=t3 - t0)
    return HeadMesh(verts, faces, vertex_normals(verts, faces), colors, labels, stats=info)


SURFACE_YAWS = (-0.6, 0.0, 0.6)


def rendered_surface_level(G, ws: torch.Tensor, planes=None, yaws=SURFACE_YAWS, resolution: int | None = None,
                           min_opacity: float = 0.95) -> float:
    """The density at which the rendered images see the surface: the median sigma at the
    expected ray-termination points (volume-rendered depth) of opaque pixels.

    A fixed level (EG3D's 10) suits a generator whose density has become sharp; a softer
    density (a model early in training) is seen where it starts to rise, and a fixed level
    would carve a mesh smaller than the rendered head. Meshing at this level puts the mesh
    where the renders put the surface. Falls back to DEFAULT_LEVEL when nothing is opaque."""
    with torch.no_grad():
        if planes is None:
            planes = G.planes(ws)
        r = resolution or G.neural_resolution
        samples = []
        for yaw in yaws:
            c = torch.as_tensor(np.asarray(label_from_angles(float(yaw), 0.0), np.float32))[None].to(ws.device)
            out = G.synthesis(ws, c, neural_resolution=r, planes=planes, superres=False)
            o, d = sample_rays(c, r)
            opaque = out["opacity"].reshape(1, -1) > min_opacity
            if opaque.any():
                xyz = o[opaque] + out["depth"].reshape(1, -1)[opaque][:, None] * d[opaque]
                sigma, _ = G.decoder.decode_semantic(planes.semantic, xyz[None].to(planes.semantic.dtype))
                samples.append(sigma.reshape(-1))
    if not samples:
        return DEFAULT_LEVEL
    return float(torch.cat(samples).median())


def extract_head_mesh(G, ws: torch.Tensor, resolution: int = 256, level: float | None = DEFAULT_LEVEL,
                      coarse_to_fine: bool = True, smooth: int = 0, target_faces: int | None = None,
                      planes=None, keep_components: float | None = None, batch: int = DEFAULT_BATCH,
                      lattice: bool = True, sparse: bool = True) -> HeadMesh:
    """The labelled, coloured head mesh of one latent, in the model frame
    (use `.to_blender_frame()` for Blender). Colours come from the texture decoder.
    `level=None` meshes at `rendered_surface_level` (where the renders see the surface)."""
    if planes is None:
        planes = G.planes(ws)
    if level is None:
        level = rendered_surface_level(G, ws, planes)
    density_fn, label_fn, color_fn = generator_fields(G, ws, planes)
    return mesh_from_fields(density_fn, label_fn, color_fn, resolution, G.cfg.render.box_warp, level,
                            coarse_to_fine, smooth, target_faces, keep_components, batch=batch, lattice=lattice,
                            sparse=sparse)
