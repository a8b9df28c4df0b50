"""`HeadMesh`, the result every mesh step hands on, and the world-frame constants
(the one place they live): the model frame and the frames Blender and the exporters want."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from .attributes import face_labels

# Model frame: y up, face toward +z, crown-to-chin ~0.45 units (camera.py).
# Blender: Z up, metres, face toward -Y. A real head is ~0.23 m crown to chin.
HEAD_HEIGHT_UNITS = 0.45
HEAD_HEIGHT_METRES = 0.23
METRES_PER_UNIT = HEAD_HEIGHT_METRES / HEAD_HEIGHT_UNITS  # ~0.511
# x_b = x, y_b = -z, z_b = y (a proper rotation, det +1).
MODEL_TO_BLENDER = np.array([[1.0, 0.0, 0.0],
                             [0.0, 0.0, -1.0],
                             [0.0, 1.0, 0.0]])


@dataclass
class HeadMesh:
    vertices: np.ndarray            # (V, 3) float32
    faces: np.ndarray               # (F, 3) int32
    normals: np.ndarray             # (V, 3) float32, unit, outward
    colors: np.ndarray              # (V, 3) uint8, sRGB
    labels: np.ndarray              # (V,) uint8 class ids (semantics.py)
    frame: str = "model"            # "model" (y up, +z face, units), "blender" (Z up, -Y face, metres)
    stats: dict = field(default_factory=dict)
    uvs: np.ndarray | None = None   # (V, 2) float32 in [0, 1], v down (glTF); set by texture.atlas
    texture: np.ndarray | None = None  # (S, S, 3) uint8 sRGB colour texture for the uvs

    def __post_init__(self):
        self.vertices = np.ascontiguousarray(self.vertices, dtype=np.float32)
        self.faces = np.ascontiguousarray(self.faces, dtype=np.int32)
        self.normals = np.ascontiguousarray(self.normals, dtype=np.float32)
        self.colors = np.ascontiguousarray(self.colors, dtype=np.uint8)
        self.labels = np.ascontiguousarray(self.labels, dtype=np.uint8)
        v = len(self.vertices)
        if self.faces.ndim != 2 or self.faces.shape[1:] != (3,):
            raise ValueError(f"faces must be (F, 3), got {self.faces.shape}")
        if self.faces.size and (self.faces.min() < 0 or self.faces.max() >= v):
            raise ValueError("face index out of range")
        if self.uvs is not None:
            self.uvs = np.ascontiguousarray(self.uvs, dtype=np.float32)
            if self.uvs.shape != (v, 2):
                raise ValueError(f"uvs must be {(v, 2)}, got {self.uvs.shape}")
        if self.texture is not None:
            self.texture = np.ascontiguousarray(self.texture, dtype=np.uint8)
            if self.texture.ndim != 3 or self.texture.shape[2] != 3:
                raise ValueError(f"texture must be (H, W, 3) uint8, got {self.texture.shape}")
        for name, arr, shape in (("normals", self.normals, (v, 3)), ("colors", self.colors, (v, 3)),
                                 ("labels", self.labels, (v,))):
            if arr.shape != shape:
                raise ValueError(f"{name} must be {shape}, got {arr.shape}")

    def copy(self) -> "HeadMesh":
        return dataclasses.replace(self, vertices=self.vertices.copy(), faces=self.faces.copy(),
                                   normals=self.normals.copy(), colors=self.colors.copy(),
                                   labels=self.labels.copy(), stats=dict(self.stats),
                                   uvs=None if self.uvs is None else self.uvs.copy(),
                                   texture=None if self.texture is None else self.texture.copy())

    def transformed(self, rotation: np.ndarray, scale: float, frame: str) -> "HeadMesh":
        """A copy with vertices -> scale * R v and normals -> R n (R a rotation)."""
        r = np.asarray(rotation, dtype=np.float64)
        out = self.copy()
        out.vertices = (self.vertices.astype(np.float64) @ r.T * scale).astype(np.float32)
        out.normals = (self.normals.astype(np.float64) @ r.T).astype(np.float32)
        out.frame = frame
        return out

    def to_blender_frame(self) -> "HeadMesh":
        """Z up, metres, face toward -Y: x_b = s x, y_b = -s z, z_b = s y (s = METRES_PER_UNIT)."""
        self._require_frame("model")
        return self.transformed(MODEL_TO_BLENDER, METRES_PER_UNIT, "blender")

    def to_yup_metres(self) -> "HeadMesh":
        """glTF/OBJ convention (Y up, face +Z) in metres; Blender's glTF and OBJ importers
        rotate Y-up files by exactly MODEL_TO_BLENDER, landing on `to_blender_frame()`."""
        self._require_frame("model")
        return self.transformed(np.eye(3), METRES_PER_UNIT, "yup_metres")

    def _require_frame(self, frame: str):
        if self.frame != frame:
            raise ValueError(f"this mesh is in the {self.frame!r} frame; expected {frame!r}")

    def to_trimesh(self):
        import trimesh
        return trimesh.Trimesh(self.vertices, self.faces, vertex_normals=self.normals,
                               vertex_colors=self.colors, process=False)

    @property
    def face_labels(self) -> np.ndarray:
        return face_labels(self.faces, self.labels)
