"""Small image helpers shared by the CLI, the demo and the service: tensors <-> PNG arrays."""
from __future__ import annotations

import numpy as np
import torch

from . import semantics


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """[3,H,W] or [1,3,H,W] in [-1,1] -> (H,W,3) uint8."""
    if image.ndim == 4:
        image = image[0]
    x = ((image.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(1, 2, 0).numpy()


def mask_from_logits(logits: torch.Tensor) -> np.ndarray:
    """[19,H,W] or [1,19,H,W] scores -> (H,W) uint8 ids."""
    if logits.ndim == 4:
        logits = logits[0]
    return logits.argmax(0).to(torch.uint8).cpu().numpy()


def depth_to_uint8(depth: torch.Tensor, opacity: torch.Tensor | None = None) -> np.ndarray:
    """Depth map -> (H,W) uint8, near = bright, background = black."""
    d = depth.detach().float().cpu().reshape(depth.shape[-2:]).numpy()
    fg = np.ones_like(d, bool) if opacity is None else opacity.detach().cpu().reshape(d.shape).numpy() > 0.5
    out = np.zeros(d.shape, np.uint8)
    if fg.any():
        lo, hi = d[fg].min(), d[fg].max()
        out[fg] = (255 * (1 - (d[fg] - lo) / max(hi - lo, 1e-6)) * 0.8 + 51).astype(np.uint8)
    return out


def strip(images: list[np.ndarray]) -> np.ndarray:
    """Concatenate same-height images side by side (masks become colour images)."""
    rows = [semantics.mask_to_color(im) if im.ndim == 2 else im for im in images]
    return np.concatenate(rows, axis=1)
