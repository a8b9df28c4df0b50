"""2D super-resolution (paper Sec. 3.1): two modulated StyleGAN2 blocks per branch that
predict residuals over the upsampled low-resolution RGB and semantic maps.

The RGB branch reads the composited 32-d colour feature map and is modulated by
w_t; the semantic branch reads the composited class probabilities and is
modulated by w_s, so the high-resolution mask, like the density, depends on the
shape code alone.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import SuperResConfig
from .layers import SynthesisBlock


class SuperResolutionBranch(nn.Module):
    """Input (features, low-res image) at neural resolution -> image at output resolution.

    The first block works at output/2 and the second at output; the inputs are
    first resized to output/4 when the neural resolution differs from it.
    """

    def __init__(self, in_channels: int, image_channels: int, channels: tuple[int, int], w_dim: int,
                 output_resolution: int, use_noise: bool = True):
        super().__init__()
        self.output_resolution = output_resolution
        self.block0 = SynthesisBlock(in_channels, channels[0], image_channels, w_dim,
                                     output_resolution // 2, use_noise=use_noise)
        self.block1 = SynthesisBlock(channels[0], channels[1], image_channels, w_dim,
                                     output_resolution, use_noise=use_noise)
        self.num_ws = self.block0.num_ws + self.block1.num_ws

    def forward(self, x: torch.Tensor, img: torch.Tensor, ws: torch.Tensor, noise_mode: str = "const"):
        start = self.output_resolution // 4
        if x.shape[-1] != start:
            x = F.interpolate(x, size=(start, start), mode="bilinear", align_corners=False, antialias=x.shape[-1] > start)
            img = F.interpolate(img, size=(start, start), mode="bilinear", align_corners=False, antialias=img.shape[-1] > start)
        n0 = self.block0.num_ws
        x, img = self.block0(x, img, ws[:, :n0], noise_mode)
        x, img = self.block1(x, img, ws[:, n0:n0 + self.block1.num_ws], noise_mode)
        return img.contiguous()


class SuperResolution(nn.Module):
    def __init__(self, cfg: SuperResConfig, feature_dim: int, num_classes: int, w_dim: int):
        super().__init__()
        self.rgb = SuperResolutionBranch(feature_dim, 3, cfg.rgb_channels, w_dim, cfg.output_resolution)
        self.semantic = SuperResolutionBranch(num_classes, num_classes, cfg.semantic_channels, w_dim,
                                              cfg.output_resolution)

    def forward_rgb(self, features: torch.Tensor, rgb_raw: torch.Tensor, w_t: torch.Tensor,
                    noise_mode: str = "const") -> torch.Tensor:
        """features [B,F,r,r], rgb_raw [B,3,r,r] in [-1,1], w_t [B,10,w] -> RGB [B,3,R,R]."""
        ws = w_t[:, -self.rgb.num_ws:]
        return self.rgb(features, rgb_raw, ws, noise_mode)

    def forward_semantic(self, probs: torch.Tensor, w_s: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        """Composited probabilities [B,K,r,r] -> logits [B,K,R,R] (residual over log-probabilities)."""
        ws = w_s[:, -1:].expand(-1, self.semantic.num_ws, -1)
        base = torch.log(probs.clamp_min(1e-4))
        return self.semantic(base, base, ws, noise_mode)
