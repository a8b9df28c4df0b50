"""Face parser: a small U-Net, RGB [B,3,R,R] in [-1,1] -> 19-class logits [B,19,R,R].

No pretrained face parser is reachable here (REFERENCE.md §7), so we train our
own on the generator's paired RGB/mask renders and SynthHeads images
(`training/train_parser.py`). It gives E_s its input mask when the user brings
only a photo.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import EncoderConfig, get_encoder_config


def _groups(channels: int) -> int:
    for g in (8, 4, 2):
        if channels % g == 0:
            return g
    return 1


class ConvBlock(nn.Module):
    """Two 3x3 convs, each GroupNorm + leaky ReLU (batch-size independent normalisation)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.GroupNorm(_groups(out_channels), out_channels), nn.LeakyReLU(0.2),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.GroupNorm(_groups(out_channels), out_channels), nn.LeakyReLU(0.2))

    def forward(self, x):
        return self.net(x)


class FaceParser(nn.Module):
    def __init__(self, cfg: EncoderConfig | str = "tiny"):
        super().__init__()
        cfg = get_encoder_config(cfg)
        self.resolution, self.num_classes = cfg.parser_resolution, cfg.num_classes
        ch = list(cfg.parser_channels)
        self.down = nn.ModuleList()
        prev = 3
        for c in ch:
            self.down.append(ConvBlock(prev, c))
            prev = c
        self.bottleneck = ConvBlock(ch[-1], ch[-1])
        self.up = nn.ModuleList()
        for i in reversed(range(len(ch))):
            self.up.append(ConvBlock(prev + ch[i], ch[i]))
            prev = ch[i]
        self.out = nn.Conv2d(prev, cfg.num_classes, 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """RGB at any resolution divisible by 2^len(channels) -> logits at the same resolution."""
        depth = len(self.down)
        if image.shape[-1] % (2 ** depth) or image.shape[-2] % (2 ** depth):
            raise ValueError(f"parser input sides must be divisible by {2 ** depth}, got {tuple(image.shape[-2:])}")
        skips, x = [], image
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = F.avg_pool2d(x, 2)
        x = self.bottleneck(x)
        for block, skip in zip(self.up, reversed(skips)):
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], 1))
        return self.out(x)
