"""MediaPipe face mesh, face detection and selfie segmentation, created lazily once per
process (the graphs are not thread-safe, so each runs under its own lock).

Landmarks come back in photo pixels: x, y continuous (pixel i covers [i, i+1)) and z,
MediaPipe's relative depth, on the same pixel scale (smaller = nearer the camera).
The models ship inside the mediapipe wheel (0.10.21); nothing is downloaded.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

NUM_LANDMARKS = 478  # 468 mesh points + 10 iris points (refine_landmarks)

_GRAPHS: dict[str, object] = {}
_LOCKS = {name: threading.Lock() for name in ("mesh", "detector", "selfie")}
_CREATE = threading.Lock()


class LandmarkError(RuntimeError):
    """MediaPipe is missing or broken in this installation."""


@dataclass
class FaceLandmarks:
    points: np.ndarray      # (478, 3) float64: x, y in photo pixels, z relative depth (pixels)
    box: tuple[float, float, float, float]  # x, y, w, h: tight box of the mesh points

    @property
    def width(self) -> float:
        return self.box[2]


def _solutions():
    try:
        from mediapipe.python import solutions
    except ImportError as exc:  # pragma: no cover - a dependency of the backend
        raise LandmarkError(f"the photo front end needs mediapipe==0.10.21 ({exc}); "
                            "run `pip install mediapipe==0.10.21`") from None
    return solutions


def _graph(name: str):
    """The MediaPipe graph `name`, built on first use (building one takes ~0.2 s)."""
    if name not in _GRAPHS:
        with _CREATE:
            if name not in _GRAPHS:
                s = _solutions()
                if name == "mesh":
                    _GRAPHS[name] = s.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True,
                                                         max_num_faces=4, min_detection_confidence=0.4)
                elif name == "detector":  # full-range model: small faces in group photos too
                    _GRAPHS[name] = s.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.4)
                else:
                    _GRAPHS[name] = s.selfie_segmentation.SelfieSegmentation(model_selection=0)
    return _GRAPHS[name]


def _rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"need an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}")
    return np.ascontiguousarray(image)


def detect_landmarks(image: np.ndarray) -> list[FaceLandmarks]:
    """Every face the mesh finds (up to 4), largest first; [] when there is none."""
    rgb = _rgb(image)
    h, w = rgb.shape[:2]
    with _LOCKS["mesh"]:
        result = _graph("mesh").process(rgb)
    faces = []
    for lms in result.multi_face_landmarks or []:
        p = np.array([(l.x * w, l.y * h, l.z * w) for l in lms.landmark], dtype=np.float64)
        lo, hi = p[:, :2].min(0), p[:, :2].max(0)
        faces.append(FaceLandmarks(p, (float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1]))))
    return sorted(faces, key=lambda f: f.box[2] * f.box[3], reverse=True)


def detect_faces(image: np.ndarray) -> list[tuple[float, float, float, float, float]]:
    """Face boxes (x, y, w, h, score) in pixels from the face detector (it also sees faces
    too small or too turned for the mesh); largest first."""
    rgb = _rgb(image)
    h, w = rgb.shape[:2]
    with _LOCKS["detector"]:
        result = _graph("detector").process(rgb)
    boxes = []
    for d in result.detections or []:
        b = d.location_data.relative_bounding_box
        boxes.append((b.xmin * w, b.ymin * h, b.width * w, b.height * h, float(d.score[0])))
    return sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)


def segment_person(image: np.ndarray) -> np.ndarray:
    """(H, W) float32 probability that a pixel belongs to the person (selfie segmentation)."""
    rgb = _rgb(image)
    with _LOCKS["selfie"]:
        result = _graph("selfie").process(rgb)
    return np.asarray(result.segmentation_mask, dtype=np.float32)


def connection_sets() -> dict[str, frozenset]:
    """MediaPipe's contour edge sets by its own names (the tool building the landmark asset
    orders them into polygons; runtime code reads the asset instead)."""
    c = _solutions().face_mesh_connections
    return {"lips": c.FACEMESH_LIPS, "left_eye": c.FACEMESH_LEFT_EYE, "right_eye": c.FACEMESH_RIGHT_EYE,
            "left_brow": c.FACEMESH_LEFT_EYEBROW, "right_brow": c.FACEMESH_RIGHT_EYEBROW,
            "left_iris": c.FACEMESH_LEFT_IRIS, "right_iris": c.FACEMESH_RIGHT_IRIS,
            "face_oval": c.FACEMESH_FACE_OVAL, "nose": c.FACEMESH_NOSE}
