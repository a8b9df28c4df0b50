"""The multi-head StyleGAN2 feature generator (paper Sec. 3.1, appendix B).

Shallow layers, driven by the shape code w_s = ws[:, :8], grow a constant 4x4
input to the shared feature map (paper: 64x64x64) and, through their skip
heads, the semantic tri-plane. Three parallel texture heads (one per plane),
driven by the texture code w_t = ws[:, 8:], start from that shared map and grow
it to the texture planes (paper: 256x256x32 each). The texture heads read the
shared map but never write to the shallow layers, so w_t cannot change the
density or the semantics.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ..config import BackboneConfig
from . import fastpath
from .layers import SynthesisBlock


@dataclass
class TriPlanes:
    """Semantic planes [B, 3, Cs, Rs, Rs] (density + labels) and texture planes [B, 3, Ct, Rt, Rt]."""
    semantic: torch.Tensor
    texture: torch.Tensor

    def detach(self) -> "TriPlanes":
        return TriPlanes(self.semantic.detach(), self.texture.detach())

    def repeat(self, k: int) -> "TriPlanes":
        """The planes of B latents repeated k times (view-major, [k*B, ...]) for k views each."""
        if k == 1:
            return self
        return TriPlanes(self.semantic.repeat(k, 1, 1, 1, 1), self.texture.repeat(k, 1, 1, 1, 1))


class SemanticBranch(nn.Module):
    def __init__(self, cfg: BackboneConfig, w_dim: int, num_ws: int):
        super().__init__()
        res = sorted(cfg.semantic_channels)
        ch = cfg.semantic_channels
        out_ch = 3 * cfg.semantic_plane_channels
        self.const = nn.Parameter(torch.randn(ch[4], 4, 4))
        blocks = [SynthesisBlock(ch[4], ch[4], out_ch, w_dim, 4, num_convs=1, upsample=False,
                                 use_noise=cfg.use_noise, conv_clamp=cfg.conv_clamp)]
        for i, r in enumerate(res[1:], start=1):
            # The last block has a single (upsampling) conv so the branch uses exactly 2n-2 ws.
            n = 1 if i == len(res) - 1 else 2
            blocks.append(SynthesisBlock(ch[res[i - 1]], ch[r], out_ch, w_dim, r, num_convs=n,
                                         use_noise=cfg.use_noise, conv_clamp=cfg.conv_clamp))
        self.blocks = nn.ModuleList(blocks)
        total = sum(b.num_ws for b in self.blocks)
        if total != num_ws:
            raise ValueError(f"semantic branch has {total} conv layers but w_s has {num_ws} vectors; "
                             "adjust BackboneConfig.semantic_channels")
        self.plane_channels = cfg.semantic_plane_channels

    def forward(self, w_s: torch.Tensor, noise_mode: str = "const"):
        x = self.const.unsqueeze(0).expand(w_s.shape[0], -1, -1, -1)
        img, i = None, 0
        for block in self.blocks:
            x, img = block(x, img, w_s[:, i:i + block.num_ws], noise_mode)
            i += block.num_ws
        b, _, r, _ = img.shape
        return x, img.reshape(b, 3, self.plane_channels, r, r)


class TextureHead(nn.Module):
    """One texture plane grown from the shared map; uses the first w_t vectors in order."""

    def __init__(self, cfg: BackboneConfig, w_dim: int):
        super().__init__()
        in_ch = cfg.semantic_channels[cfg.semantic_resolution]
        blocks = []
        if not cfg.texture_channels:  # texture planes at the shared resolution
            blocks.append(SynthesisBlock(in_ch, in_ch, cfg.texture_plane_channels, w_dim,
                                         cfg.semantic_resolution, upsample=False,
                                         use_noise=cfg.use_noise, conv_clamp=cfg.conv_clamp))
        for r in sorted(cfg.texture_channels):
            out_ch = cfg.texture_channels[r]
            blocks.append(SynthesisBlock(in_ch, out_ch, cfg.texture_plane_channels, w_dim, r,
                                         use_noise=cfg.use_noise, conv_clamp=cfg.conv_clamp))
            in_ch = out_ch
        self.blocks = nn.ModuleList(blocks)
        self.num_ws = sum(b.num_ws for b in blocks)

    def forward(self, shared: torch.Tensor, w_t: torch.Tensor, noise_mode: str = "const"):
        x, img, i = shared, None, 0
        for block in self.blocks:
            x, img = block(x, img, w_t[:, i:i + block.num_ws], noise_mode)
            i += block.num_ws
        return img


class TriPlaneBackbone(nn.Module):
    def __init__(self, cfg: BackboneConfig, w_dim: int, num_shape_ws: int, num_texture_ws: int):
        super().__init__()
        self.semantic = SemanticBranch(cfg, w_dim, num_shape_ws)
        self.heads = nn.ModuleList(TextureHead(cfg, w_dim) for _ in range(3))
        if self.heads[0].num_ws > num_texture_ws:
            raise ValueError(f"texture heads need {self.heads[0].num_ws} ws, w_t has {num_texture_ws}")
        self.num_shape_ws = num_shape_ws

    def semantic_planes(self, w_s: torch.Tensor, noise_mode: str = "const"):
        return self.semantic(w_s, noise_mode)

    def texture_planes(self, shared: torch.Tensor, w_t: torch.Tensor, noise_mode: str = "const"):
        images = [head(shared, w_t, noise_mode) for head in self.heads]
        if fastpath.enabled():
            # Plane-major memory: at batch 1 the [3, C, H, W] view the decoder samples is
            # already channels-last, so it needs no further copy.
            return torch.stack(images, dim=0).transpose(0, 1)
        return torch.stack(images, dim=1)

    def forward(self, ws: torch.Tensor, noise_mode: str = "const") -> TriPlanes:
        w_s, w_t = ws[:, :self.num_shape_ws], ws[:, self.num_shape_ws:]
        shared, sem = self.semantic_planes(w_s, noise_mode)
        return TriPlanes(sem, self.texture_planes(shared, w_t, noise_mode))
