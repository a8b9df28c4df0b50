"""SynthHeads: procedural 3D heads with 19-class semantics, cameras and exact geometry.

    head = sample_head(seed)                 # HeadParams + SDF + albedo (classic variety)
    head = sample_head(seed, "rich")         # lights, expressions, beards, ... (variety.py)
    out = render_head(head, label, 128)      # rgb, mask (class ids), depth
    v, f, labels = ground_truth_mesh(head)   # watertight labelled mesh
    write_dataset("out", count=100, resolution=128, views=2)

Convention: l_* = the person's left = world +x side (appears on the image
RIGHT in a frontal view).
"""
from .params import HeadParams
from .variety import Variety, sample_params
from .shapes import Head, build_head, sample_head
from .render import render_head, render_views

__all__ = ["HeadParams", "Variety", "sample_params", "Head", "build_head", "sample_head", "render_head",
           "render_views", "ground_truth_mesh", "write_dataset", "make_grid"]


def __getattr__(name):  # lazy: mesh/writer pull in mcubes and PIL
    if name == "ground_truth_mesh":
        from .mesh import ground_truth_mesh
        return ground_truth_mesh
    if name in ("write_dataset", "make_grid"):
        from . import writer
        return getattr(writer, name)
    raise AttributeError(name)
