"""Identity distance between two face pictures, for evaluation (bench/real_photos.py).

dlib's face-recognition ResNet (`face_recognition_models`, public domain) maps a face to a
128-d descriptor; Euclidean distance below 0.6 means "same person" (LFW 99.38 %).
dlib's own HOG detector misses small or blurry faces, so the caller passes the face box
(from the MediaPipe landmarks); dlib's 5-point shape model (not the 68-point one, whose
training data has non-commercial terms) then aligns the chip the network reads.

Both packages are in the `bench` extra: the product never needs them.
"""
from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import numpy as np

SAME_PERSON = 0.6  # dlib's threshold on the descriptor distance

_lock = threading.Lock()
_models: tuple | None = None


class IdentityUnavailable(RuntimeError):
    """dlib or its model files are not installed."""


def _model_dir() -> Path:
    # Located without importing the package: its __init__ needs pkg_resources, which
    # current setuptools no longer ships.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise IdentityUnavailable("identity scores need `face_recognition_models`: "
                                  "pip install -e '.[bench]'")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def _load():
    global _models
    with _lock:
        if _models is None:
            try:
                import dlib
            except ImportError:
                raise IdentityUnavailable("identity scores need dlib: pip install -e '.[bench]'") from None
            d = _model_dir()
            _models = (dlib, dlib.shape_predictor(str(d / "shape_predictor_5_face_landmarks.dat")),
                       dlib.face_recognition_model_v1(str(d / "dlib_face_recognition_resnet_model_v1.dat")))
    return _models


def embedding(image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """128-d identity descriptor of the face inside `box` = (x0, y0, x1, y1) pixels of an
    (H, W, 3) uint8 RGB image."""
    dlib, shape_model, net = _load()
    image = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    rect = dlib.rectangle(x0, y0, x1, y1)
    with _lock:  # the dlib objects are not documented as thread-safe
        shape = shape_model(image, rect)
        return np.asarray(net.compute_face_descriptor(image, shape), dtype=np.float64)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)))
