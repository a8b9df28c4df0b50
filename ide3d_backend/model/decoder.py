"""Tri-plane sampling and the dual MLP decoders (paper Eq. 1, appendix B).

Phi_s: semantic features -> density sigma and 19 semantic logits.
Phi_t: texture features  -> 32-d colour feature (first 3 channels = RGB in [0, 1]).
Each is a single-hidden-layer MLP of 64 units with softplus.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import DecoderConfig
from . import fastpath
from .layers import FullyConnected

# Which world axes each plane spans: (x, y), (x, z), (z, y).
PLANE_AXES = ((0, 1), (0, 2), (2, 1))


# The six coordinate columns of the three planes, in order.
_PLANE_COLUMNS = [axis for axes in PLANE_AXES for axis in axes]


def plane_coordinates(xyz: torch.Tensor, box_warp: float) -> torch.Tensor:
    """[B, N, 3] world points -> [B, 3, N, 2] normalised coordinates on the three planes."""
    p = torch.stack([xyz[..., axis] for axis in _PLANE_COLUMNS], -1) * (2.0 / box_warp)
    return p.unflatten(-1, (3, 2)).movedim(-2, 1)


def sample_triplane(planes: torch.Tensor, xyz: torch.Tensor, box_warp: float,
                    layout: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Bilinear features of points, averaged over the three planes.

    planes [B, 3, C, H, W], xyz [B, N, 3] -> [B, N, C]. Points outside the cube read zeros.
    `layout` may hand back the planes as [B*3, C, H, W] in another memory layout (same values).
    """
    b, _, c, h, w = planes.shape
    n = xyz.shape[1]
    grid = plane_coordinates(xyz, box_warp).reshape(b * 3, 1, n, 2)
    if layout is None:
        out = F.grid_sample(planes.reshape(b * 3, c, h, w), grid.to(planes.dtype), mode="bilinear",
                            padding_mode="zeros", align_corners=False)
        return out.view(b, 3, c, n).mean(dim=1).transpose(1, 2)
    out = F.grid_sample(layout(planes), grid.to(planes.dtype), mode="bilinear", padding_mode="zeros",
                        align_corners=False)
    # A channels-last [B*3, C, 1, N] result is [B, 3, N, C] in memory: average the planes
    # into a contiguous [B, N, C], which the decoders' matmuls read without a transpose.
    out = out.permute(0, 2, 3, 1).reshape(b, 3, n, c)
    if torch.is_grad_enabled():
        return (out[:, 0] + out[:, 1] + out[:, 2]) / 3
    return (out[:, 0] + out[:, 1]).add_(out[:, 2]).div_(3)


# Rows per block of the no-gradient MLP on CPU: the hidden activations of a block
# (8192 x 64 floats, 2 MB) stay in cache, and no 200 MB temporary is faulted in per call.
MLP_BLOCK_ROWS = 8192


def mlp(f: torch.Tensor, hidden: FullyConnected, out: FullyConnected) -> torch.Tensor:
    """out(hidden(f)) for f [..., C]. Without gradients on CPU (fast path) it runs in row
    blocks into one preallocated output: the same sums per row, about twice as fast."""
    if torch.is_grad_enabled() or f.device.type != "cpu" or not fastpath.enabled() \
            or hidden.activation != "softplus" or out.activation != "linear" or hidden.bias is None \
            or out.bias is None:
        return out(hidden(f))
    x = f.reshape(-1, f.shape[-1])
    w1, b1 = (hidden.weight * hidden.weight_gain).t(), hidden.bias * hidden.bias_gain
    w2, b2 = (out.weight * out.weight_gain).t(), out.bias * out.bias_gain
    y = torch.empty(x.shape[0], w2.shape[1], dtype=x.dtype)
    for i in range(0, x.shape[0], MLP_BLOCK_ROWS):
        h = F.softplus(torch.addmm(b1, x[i:i + MLP_BLOCK_ROWS], w1))
        torch.addmm(b2, h, w2, out=y[i:i + MLP_BLOCK_ROWS])
    return y.view(*f.shape[:-1], -1)


class SemanticDecoder(nn.Module):
    def __init__(self, in_channels: int, cfg: DecoderConfig):
        super().__init__()
        self.hidden = FullyConnected(in_channels, cfg.hidden, "softplus")
        self.out = FullyConnected(cfg.hidden, 1 + cfg.num_classes)
        self.density_bias = cfg.density_bias

    def forward(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = mlp(f, self.hidden, self.out)
        sigma = F.softplus(y[..., :1] + self.density_bias)
        return sigma, y[..., 1:]


class TextureDecoder(nn.Module):
    def __init__(self, in_channels: int, cfg: DecoderConfig):
        super().__init__()
        self.hidden = FullyConnected(in_channels, cfg.hidden, "softplus")
        self.out = FullyConnected(cfg.hidden, cfg.feature_dim)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        # EG3D's mapping keeps RGB (and every feature) slightly beyond [0, 1] so the
        # sigmoid never has to saturate to reach black or white.
        y = mlp(f, self.hidden, self.out)
        if not torch.is_grad_enabled():  # same sums, no temporaries
            return y.sigmoid_().mul_(1 + 2 * 0.001).sub_(0.001)
        return torch.sigmoid(y) * (1 + 2 * 0.001) - 0.001


class DualDecoder(nn.Module):
    def __init__(self, semantic_channels: int, texture_channels: int, cfg: DecoderConfig, box_warp: float):
        super().__init__()
        self.semantic = SemanticDecoder(semantic_channels, cfg)
        self.texture = TextureDecoder(texture_channels, cfg)
        self.box_warp = box_warp
        # grid_sample reads channels-last planes about twice as fast on CPU; copy each once.
        self._semantic_layout = fastpath.ChannelsLastCache()
        self._texture_layout = fastpath.ChannelsLastCache()

    def decode_semantic(self, semantic_planes: torch.Tensor, xyz: torch.Tensor):
        layout = self._semantic_layout if fastpath.enabled() else None
        return self.semantic(sample_triplane(semantic_planes, xyz, self.box_warp, layout))

    def decode_texture(self, texture_planes: torch.Tensor, xyz: torch.Tensor) -> torch.Tensor:
        layout = self._texture_layout if fastpath.enabled() else None
        return self.texture(sample_triplane(texture_planes, xyz, self.box_warp, layout))

    def forward(self, planes, xyz: torch.Tensor) -> dict[str, torch.Tensor]:
        sigma, logits = self.decode_semantic(planes.semantic, xyz)
        return {"sigma": sigma, "semantic_logits": logits,
                "features": self.decode_texture(planes.texture, xyz)}
