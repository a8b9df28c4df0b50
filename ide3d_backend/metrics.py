"""Evaluation scores: image PSNR, image sharpness (Laplacian energy), the skin tone of a
render against its photo (CIELAB), semantic-mask IoU (per image and pooled per class),
and the Chamfer distance between point sets, over the whole volume and over the part a
frontal portrait frames. Used by the quality benchmarks (bench/quality.py,
bench/train_fit.py, bench/real_photos.py)."""
from __future__ import annotations

import numpy as np

from ide3d_backend import camera, semantics
from ide3d_backend.export import srgb_to_linear


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / max(mse, 1e-10)))


def laplacian_energy(image: np.ndarray) -> float:
    """Sharpness of an image: the mean square of the 5-point Laplacian of its luminance
    (in [0, 1] units: uint8 images are scaled, float images taken as given) over the
    interior pixels. Blur lowers it, fine detail raises it; compare it between images of
    the same content and size (a ratio to ground truth)."""
    img = image.astype(np.float64)
    if img.ndim == 3:
        img = img[..., :3] @ np.array([0.299, 0.587, 0.114])
    img = img / 255.0 if image.dtype == np.uint8 else img
    if min(img.shape) < 3:
        raise ValueError(f"Laplacian energy needs an image of at least 3x3 pixels, got {img.shape}")
    lap = img[:-2, 1:-1] + img[2:, 1:-1] + img[1:-1, :-2] + img[1:-1, 2:] - 4 * img[1:-1, 1:-1]
    return float(np.mean(lap ** 2))


# sRGB (D65) -> XYZ, IEC 61966-2-1; the white point of D65 in XYZ.
_SRGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
_D65_WHITE = np.array([0.95047, 1.0, 1.08883])


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (L* in [0, 100]) of sRGB colours, [..., 3] uint8 (0-255) or float (0-1)."""
    linear = srgb_to_linear(rgb / 255.0 if rgb.dtype == np.uint8 else rgb)
    xyz = linear @ _SRGB_TO_XYZ.T / _D65_WHITE
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def skin_tone(rgb: np.ndarray, labels: np.ndarray, min_pixels: int = 20) -> np.ndarray | None:
    """Mean CIELAB colour of an image's skin-class pixels (None if fewer than min_pixels)."""
    skin = labels == semantics.class_id("skin")
    if skin.sum() < min_pixels:
        return None
    return srgb_to_lab(rgb[skin]).mean(0)


def skin_tone_difference(photo: np.ndarray, photo_labels: np.ndarray, render: np.ndarray,
                         render_labels: np.ndarray) -> dict | None:
    """How far a render's skin is from the photo's: each image's skin pixels (by its own
    mask) averaged in CIELAB; delta_lightness = render L* - photo L* (negative: darker),
    delta_e = the CIE76 distance of the two means (about 2.3 is a just-noticeable step)."""
    a, b = skin_tone(photo, photo_labels), skin_tone(render, render_labels)
    if a is None or b is None:
        return None
    return {"photo_lab": a.tolist(), "render_lab": b.tolist(),
            "delta_lightness": float(b[0] - a[0]), "delta_e": float(np.linalg.norm(b - a))}


def intersections_unions(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel counts of intersection and union per class, [NUM_CLASSES] each."""
    k = semantics.NUM_CLASSES
    pair = np.bincount(pred.astype(np.int64).ravel() * k + gt.astype(np.int64).ravel(), minlength=k * k).reshape(k, k)
    inter = np.diag(pair)
    return inter, pair.sum(0) + pair.sum(1) - inter


def miou_from_counts(inter: np.ndarray, union: np.ndarray) -> float:
    """Mean IoU over the classes present in either mask."""
    present = union > 0
    return float(np.mean(inter[present] / union[present]))


def miou(pred: np.ndarray, gt: np.ndarray) -> float:
    return miou_from_counts(*intersections_unions(pred, gt))


class MaskScores:
    """Accumulates masks' scores: per-image mIoU (classes in either mask) and, over
    all images added, the pooled IoU of every class (where the mIoU is lost)."""

    def __init__(self):
        self.per_image: list[float] = []
        self.inter = np.zeros(semantics.NUM_CLASSES)
        self.union = np.zeros(semantics.NUM_CLASSES)

    def add(self, pred: np.ndarray, gt: np.ndarray) -> float:
        inter, union = intersections_unions(pred, gt)
        self.per_image.append(miou_from_counts(inter, union))
        self.inter += inter
        self.union += union
        return self.per_image[-1]

    def pooled_class_iou(self) -> dict[str, float]:
        return {semantics.CLASS_NAMES[c]: float(self.inter[c] / self.union[c])
                for c in range(semantics.NUM_CLASSES) if self.union[c] > 0}


def chamfer_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Symmetric Chamfer distance of two point sets: the mean of both directions'
    mean nearest-neighbour distances."""
    from scipy.spatial import cKDTree
    if len(a) == 0 or len(b) == 0:
        raise ValueError(f"Chamfer distance needs two non-empty point sets, got {len(a)} and {len(b)} points")
    return float(cKDTree(b).query(a)[0].mean() + cKDTree(a).query(b)[0].mean()) / 2


def in_portrait_frame(points: np.ndarray) -> np.ndarray:
    """Which points (model frame, [N, 3]) project inside the canonical (frontal)
    camera's image. Below that frame (the shoulders and the bottom of the bust) no
    training view looks, so a generator's geometry there is unsupervised."""
    uv, depth = camera.project(camera.frontal_label(), points)
    return (depth > 0) & np.all((uv >= 0) & (uv <= 1), axis=1)


def chamfer_in_frame(a: np.ndarray, b: np.ndarray) -> float:
    """Chamfer distance of the parts of two point sets inside the portrait frame."""
    return chamfer_distance(a[in_portrait_frame(a)], b[in_portrait_frame(b)])
