"""The dual discriminator (paper Sec. 3.1 and appendix Fig. 11b).

Two independent residual towers: the RGB pair (I_h, upsampled I_l) and the
semantic pair (S_h, upsampled S_l), each with its own minibatch-std layer and
its own camera-conditioned output (projection onto an embedding of the 25-d
label). The appendix found separate outputs better than concatenating the
towers, so the loss sums the two logits' losses and R1 penalises each input
branch with its own gamma.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import LRELU_GAIN, FullyConnected, normalize_2nd_moment


class Conv2d(nn.Module):
    """Equalised-lr conv with optional lrelu and 2x downsampling (average pool after the conv)."""

    def __init__(self, in_channels, out_channels, kernel_size, activation="lrelu", down=False, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.gain = 1 / math.sqrt(in_channels * kernel_size ** 2)
        self.activation, self.down, self.padding = activation, down, kernel_size // 2

    def forward(self, x):
        x = F.conv2d(x, self.weight * self.gain, self.bias, padding=self.padding)
        if self.down:
            x = F.avg_pool2d(x, 2)
        if self.activation == "lrelu":
            x = F.leaky_relu(x, 0.2) * LRELU_GAIN
        return x


class DiscriminatorBlock(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv0 = Conv2d(in_channels, in_channels, 3)
        self.conv1 = Conv2d(in_channels, out_channels, 3, down=True)
        self.skip = Conv2d(in_channels, out_channels, 1, activation="linear", down=True, bias=False)

    def forward(self, x):
        y = self.skip(x)
        x = self.conv1(self.conv0(x))
        return (x + y) * (1 / math.sqrt(2))  # keep the residual sum at unit variance


class MinibatchStd(nn.Module):
    def __init__(self, group_size=4, num_channels=1):
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x):
        n, c, h, w = x.shape
        g = min(self.group_size, n)
        while n % g:
            g -= 1
        f = self.num_channels
        y = x.reshape(g, -1, f, c // f, h, w)
        y = (y - y.mean(0)).square().mean(0).add(1e-8).sqrt()
        y = y.mean(dim=(2, 3, 4)).reshape(-1, f, 1, 1).repeat(g, 1, h, w)
        return torch.cat([x, y], 1)


class Tower(nn.Module):
    """One branch: fromRGB, residual blocks down to 4x4, minibatch std, conv, FC, projection output."""

    def __init__(self, in_channels: int, resolution: int, channels: dict[int, int], c_dim: int, cmap_dim: int):
        super().__init__()
        self.from_input = Conv2d(in_channels, channels[resolution], 1)
        blocks, r = [], resolution
        while r > 4:
            blocks.append(DiscriminatorBlock(channels[r], channels[r // 2]))
            r //= 2
        self.blocks = nn.Sequential(*blocks)
        c4 = channels[4]
        self.mbstd = MinibatchStd()
        self.conv = Conv2d(c4 + 1, c4, 3)
        self.fc = FullyConnected(c4 * 16, c4, "lrelu")
        self.out = FullyConnected(c4, cmap_dim)
        self.cmap = FullyConnected(c_dim, cmap_dim) if c_dim else None
        self.cmap_dim = cmap_dim

    def forward(self, x, c):
        x = self.blocks(self.from_input(x))
        x = self.fc(self.conv(self.mbstd(x)).flatten(1))
        x = self.out(x)
        if self.cmap is not None:
            x = (x * normalize_2nd_moment(self.cmap(c))).sum(1, keepdim=True) / math.sqrt(self.cmap_dim)
        return x


class DualDiscriminator(nn.Module):
    def __init__(self, resolution: int, num_classes: int = 19, c_dim: int = 25, channel_base: int = 8192,
                 channel_max: int = 256, cmap_dim: int = 128):
        super().__init__()
        channels = {r: min(channel_base // r, channel_max) for r in [2 ** i for i in range(2, int(math.log2(resolution)) + 1)]}
        self.resolution, self.num_classes = resolution, num_classes
        self.rgb = Tower(6, resolution, channels, c_dim, cmap_dim)
        self.semantic = Tower(2 * num_classes, resolution, channels, c_dim, cmap_dim)

    @staticmethod
    def rgb_input(image: torch.Tensor, image_raw: torch.Tensor) -> torch.Tensor:
        """(I_h, I_l) in [-1,1] -> the RGB tower's 6-channel input at I_h's resolution."""
        up = F.interpolate(image_raw, size=image.shape[-2:], mode="bilinear", align_corners=False)
        return torch.cat([image, up], 1)

    @staticmethod
    def semantic_input(semantic_probs: torch.Tensor, semantic_raw: torch.Tensor) -> torch.Tensor:
        """(S_h, S_l) probabilities -> the semantic tower's input, scaled to [-1,1]."""
        up = F.interpolate(semantic_raw, size=semantic_probs.shape[-2:], mode="bilinear", align_corners=False)
        return torch.cat([semantic_probs, up], 1) * 2 - 1

    def forward(self, rgb_in: torch.Tensor, sem_in: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits of the two branches, each [B, 1]."""
        return self.rgb(rgb_in, c), self.semantic(sem_in, c)
