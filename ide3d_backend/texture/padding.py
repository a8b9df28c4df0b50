"""Seam padding: grow the baked texels into the empty gutter so bilinear filtering and
mip-maps at chart borders never pull in the background colour."""
from __future__ import annotations

import numpy as np


def dilate_into_gutter(image: np.ndarray, filled: np.ndarray, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """Each pass gives every empty texel next to filled ones the mean of its filled
    8-neighbours. Returns (image, filled mask) after `iterations` passes; texels still
    empty afterwards get the mean colour of the filled ones (no black gutter)."""
    import cv2

    img = np.asarray(image, np.float32).copy()
    mask = np.asarray(filled, bool).copy()
    kernel = np.ones((3, 3), np.float32)
    for _ in range(int(iterations)):
        if mask.all():
            break
        m = mask.astype(np.float32)
        count = cv2.filter2D(m, -1, kernel, borderType=cv2.BORDER_CONSTANT)
        grow = (~mask) & (count > 0)
        if not grow.any():
            break
        total = cv2.filter2D(img * m[..., None], -1, kernel, borderType=cv2.BORDER_CONSTANT)
        img[grow] = total[grow] / count[grow][:, None]
        mask |= grow
    if mask.any() and not mask.all():
        img[~mask] = img[mask].mean(0)
    return img, mask
