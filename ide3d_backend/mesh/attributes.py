"""Per-vertex and per-face attributes of a mesh: class labels and colours sampled from
the field callbacks at the vertices, area-weighted normals, a face's class."""
from __future__ import annotations

from typing import Callable

import numpy as np

from .fields import DEFAULT_BATCH, evaluate_points


def vertex_labels(label_fn: Callable, verts: np.ndarray, batch: int = DEFAULT_BATCH) -> np.ndarray:
    """argmax of label_fn's logits [N, C] (or its ids [N]) at the vertices -> uint8."""
    if len(verts) == 0:
        return np.zeros(0, np.uint8)
    out = evaluate_points(label_fn, verts, batch)
    if out.ndim == 2:
        out = out.argmax(1)
    return out.reshape(-1).astype(np.uint8)


def vertex_colors(color_fn: Callable, verts: np.ndarray, batch: int = DEFAULT_BATCH) -> np.ndarray:
    """color_fn's rgb in [0, 1] at the vertices -> uint8 (V, 3)."""
    if len(verts) == 0:
        return np.zeros((0, 3), np.uint8)
    rgb = evaluate_points(color_fn, verts, batch).reshape(len(verts), -1)[:, :3]
    return np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8)


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals (unit; zero for unreferenced vertices)."""
    if len(faces) == 0:
        return np.zeros_like(verts, dtype=np.float32)
    v = verts.astype(np.float64)
    fn = np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])
    n = np.zeros_like(v)
    for c in range(3):
        np.add.at(n, faces[:, c], fn)
    length = np.linalg.norm(n, axis=1, keepdims=True)
    return (n / np.maximum(length, 1e-20)).astype(np.float32)


def face_labels(faces: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """A face's class: the label two or three of its vertices share, else its first vertex's."""
    if len(faces) == 0:
        return np.zeros(0, np.uint8)
    l = labels[faces]
    out = l[:, 0].copy()
    same12 = l[:, 1] == l[:, 2]
    out[same12] = l[same12, 1]
    return out
