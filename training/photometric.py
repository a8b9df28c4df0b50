"""Photometric augmentation of the encoders' inputs: the same head under another light,
white balance, exposure and contrast.

The encoders must read shape, texture and pose from portraits lit any way, while
SynthHeads and the generator's own renders share a narrow range of light. Each image
an encoder reads is, with probability `prob`, recoloured by a random exposure gain,
per-channel white-balance gains, contrast and saturation around its mean, a gamma, and
a linear shading ramp across the image (a side or top light). The reconstruction
targets stay the original images: the encoders learn to see through the light.
The mask an encoder reads alongside is never changed (light does not move parts).
"""
from __future__ import annotations

import torch

from .config import PhotometricConfig


def _uniform(n: int, lo: float, hi: float, gen: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=gen)


@torch.no_grad()
def augment(images: torch.Tensor, cfg: PhotometricConfig, gen: torch.Generator) -> torch.Tensor:
    """images [B,3,H,W] in [-1,1] -> recoloured copies in [-1,1] (same shape, dtype, device).

    Every random number comes from `gen` (CPU generator), a fixed count per image, so
    the draws of one batch do not depend on which images were picked for recolouring."""
    b, _, h, w = images.shape
    picked = torch.rand(b, generator=gen) < cfg.prob
    gain = torch.exp2(_uniform(b, -cfg.exposure, cfg.exposure, gen))
    wb = _uniform(3 * b, -cfg.white_balance, cfg.white_balance, gen).view(b, 3)
    wb = torch.exp(wb - wb.mean(1, keepdim=True))
    contrast = _uniform(b, *cfg.contrast, gen)
    saturation = _uniform(b, *cfg.saturation, gen)
    gamma = _uniform(b, *cfg.gamma, gen)
    angle = _uniform(b, 0.0, 2 * torch.pi, gen)
    amp = _uniform(b, 0.0, cfg.shading, gen)
    if not picked.any():
        return images.clone()
    dev, dt = images.device, images.dtype
    col = lambda t: t.to(device=dev, dtype=dt).view(b, 1, 1, 1)  # noqa: E731
    x = (images.clamp(-1, 1) + 1) / 2  # [0,1]
    x = x ** col(gamma)
    x = x * col(gain) * wb.to(device=dev, dtype=dt).view(b, 3, 1, 1)
    grey = x.mean(1, keepdim=True)
    x = grey + col(saturation) * (x - grey)
    mean = x.mean((1, 2, 3), keepdim=True)
    x = mean + col(contrast) * (x - mean)
    ys = torch.linspace(-1, 1, h, device=dev, dtype=dt).view(1, 1, h, 1)
    xs = torch.linspace(-1, 1, w, device=dev, dtype=dt).view(1, 1, 1, w)
    ramp = col(torch.cos(angle)) * xs + col(torch.sin(angle)) * ys
    x = x * (1 + col(amp) * ramp)
    out = x.clamp(0, 1) * 2 - 1
    keep = col(picked.to(dt)).bool()
    return torch.where(keep, out, images)
