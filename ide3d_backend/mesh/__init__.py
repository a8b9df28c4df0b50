"""Meshes from density fields: a labelled, coloured triangle mesh of a head (docs/mesh.md).

Everything works on plain callbacks (fields.py), so the same code meshes the generator,
a SynthHeads SDF turned into a density, or an analytic sphere. The package is cut along
the steps of the pipeline, each a set of small functions on numpy arrays:

    fields.py      the callback interface, batched evaluation, generator / SDF / sphere fields
    extraction.py  grid sampling (dense, coarse to fine) and marching cubes
    surface.py     extract_surface: the sampler for the job, then marching cubes
    lattice.py     a generator's density on the grid lattice from per-plane tables
    sparse.py      coarse to fine block by block: only blocks near the surface built and marched
    live.py        coarse meshes while painting: only changed blocks re-marched
    cleanup.py     unreferenced vertices, components, Taubin smoothing, decimation
    attributes.py  labels, colours and normals at the vertices, a face's class
    head_mesh.py   HeadMesh and the world-frame constants (model, Blender, Y-up metres)
    pipeline.py    mesh_from_fields, rendered_surface_level, extract_head_mesh
    baking.py      vertex colours baked from rendered views
    previews.py    point-splat pictures of a mesh

The names below are the package's public API; code inside the backend imports from
the submodule that holds a name.
"""
from .attributes import face_labels, vertex_colors, vertex_labels, vertex_normals
from .baking import DEFAULT_BAKE_YAWS, bake_colors_from_views, bake_head_colors, generator_views
from .cleanup import compact_faces, decimate, keep_largest_components, remove_unreferenced, taubin_smooth
from .extraction import (DEFAULT_LEVEL, PAD_VALUE, GridStats, estimate_margin, grid_coordinates,
                         marching_cubes, sample_grid_coarse_to_fine, sample_grid_dense)
from .fields import DEFAULT_BATCH, DensityFn, evaluate_points, generator_fields, sdf_to_density, sphere_density
from .head_mesh import HEAD_HEIGHT_METRES, HEAD_HEIGHT_UNITS, METRES_PER_UNIT, MODEL_TO_BLENDER, HeadMesh
from .pipeline import SURFACE_YAWS, extract_head_mesh, mesh_from_fields, rendered_surface_level
from .previews import splat_preview
from .surface import extract_surface

__all__ = [
    "DEFAULT_BAKE_YAWS", "DEFAULT_BATCH", "DEFAULT_LEVEL", "HEAD_HEIGHT_METRES", "HEAD_HEIGHT_UNITS",
    "METRES_PER_UNIT", "MODEL_TO_BLENDER", "PAD_VALUE", "SURFACE_YAWS", "DensityFn", "GridStats", "HeadMesh",
    "bake_colors_from_views", "bake_head_colors", "compact_faces", "decimate", "estimate_margin",
    "evaluate_points", "extract_head_mesh", "extract_surface", "face_labels", "generator_fields",
    "generator_views", "grid_coordinates", "keep_largest_components", "marching_cubes", "mesh_from_fields",
    "remove_unreferenced", "rendered_surface_level", "sample_grid_coarse_to_fine", "sample_grid_dense",
    "sdf_to_density", "sphere_density", "splat_preview", "taubin_smooth", "vertex_colors", "vertex_labels",
    "vertex_normals",
]
