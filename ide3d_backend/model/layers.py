"""StyleGAN2 building blocks, written for this project.

Equalised learning rate everywhere: parameters are stored at unit scale and
multiplied by their He constant at run time, so Adam sees balanced gradients.
Modulated convolutions use the non-fused form (scale inputs by the style,
convolve with the shared weight, scale outputs by the demodulation
coefficients), which is the same maths as the grouped form and runs a plain
batched conv: faster on CPU and friendly to DDP.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import fastpath

LRELU_GAIN = math.sqrt(2.0)


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


class FullyConnected(nn.Module):
    """Equalised-lr linear layer with optional leaky-ReLU (gain sqrt 2)."""

    def __init__(self, in_features: int, out_features: int, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init: float = 0.0, bias: bool = True):
        super().__init__()
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.bias * self.bias_gain if self.bias is not None else None
        if x.ndim > 2:  # one 2-D matmul (with the bias) over all leading dims, not a batched one
            x = F.linear(x.reshape(-1, x.shape[-1]), self.weight * self.weight_gain, b).unflatten(0, x.shape[:-1])
        else:
            x = F.linear(x, self.weight * self.weight_gain, b)
        if self.activation == "lrelu":
            x = F.leaky_relu(x, 0.2) * LRELU_GAIN
        elif self.activation == "softplus":
            x = F.softplus(x)
        elif self.activation != "linear":
            raise ValueError(f"unknown activation {self.activation}")
        return x


class MappingNetwork(nn.Module):
    """z (and the 25-d camera label) -> ws, with a tracked average w for truncation."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int, num_layers: int = 8,
                 lr_multiplier: float = 0.01, w_avg_beta: float = 0.995):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.w_avg_beta = w_avg_beta
        self.embed = FullyConnected(c_dim, w_dim) if c_dim else None
        dims = [z_dim + (w_dim if c_dim else 0)] + [w_dim] * num_layers
        self.layers = nn.ModuleList(
            FullyConnected(dims[i], dims[i + 1], "lrelu", lr_multiplier) for i in range(num_layers))
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor, c: torch.Tensor, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, update_w_avg: bool = False) -> torch.Tensor:
        x = normalize_2nd_moment(z.float())
        if self.embed is not None:
            y = normalize_2nd_moment(self.embed(c.float()))
            x = torch.cat([x, y], dim=1)
        for layer in self.layers:
            x = layer(x)
        if update_w_avg:
            self.w_avg.copy_(x.detach().mean(0).lerp(self.w_avg, self.w_avg_beta))
        ws = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            cutoff = self.num_ws if truncation_cutoff is None else truncation_cutoff
            ws[:, :cutoff] = self.w_avg.lerp(ws[:, :cutoff], truncation_psi)
        return ws


class ModulatedConv2d(nn.Module):
    """Style-modulated conv with optional demodulation (StyleGAN2 Eq. 1-3)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 3,
                 demodulate: bool = True):
        super().__init__()
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.demodulate = demodulate
        self.padding = kernel_size // 2

    def forward(self, x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        """x [B, in, H, W], w [B, w_dim] -> [B, out, H, W] (+ bias per output channel, if given)."""
        styles = self.affine(w)  # [B, in]
        weight = self.weight * self.weight_gain
        if fastpath.enabled():
            x = fastpath.conv_layout(x)
        if fastpath.enabled() and x.shape[0] == 1 and weight.numel() <= x.numel():
            # One sample whose activations outweigh the kernel: modulate (and demodulate)
            # the weights rather than two activation maps; the conv also adds the bias.
            weight = weight * styles.view(1, -1, 1, 1)
            if self.demodulate:
                weight = weight * (weight.square().sum(dim=(1, 2, 3), keepdim=True) + 1e-8).rsqrt()
            return F.conv2d(x, weight, bias, padding=self.padding)
        x = x * styles[:, :, None, None]
        x = F.conv2d(x, weight, padding=self.padding)
        if self.demodulate:
            # sum over in/k of (W * s)^2, per sample and output channel
            d = (styles.square() @ weight.square().sum(dim=(2, 3)).t() + 1e-8).rsqrt()  # [B, out]
            x = x * d[:, :, None, None]
        if bias is not None:
            x = x + bias[None, :, None, None]
        return x


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (+ optional 2x bilinear upsampling), noise, bias, lrelu, clamp."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int,
                 upsample: bool = False, use_noise: bool = True, conv_clamp: float | None = 256.0):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, w_dim, 3, demodulate=True)
        self.upsample = upsample
        self.resolution = resolution
        self.use_noise = use_noise
        self.conv_clamp = conv_clamp
        self.bias = nn.Parameter(torch.zeros(out_channels))
        if use_noise:
            # A fixed noise image makes renders reproducible bit for bit ("const" mode).
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros([]))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        noise = self._noise(x, noise_mode)
        if fastpath.enabled():
            # Bias before noise (a sum either way); in place when nothing is recorded for backward.
            x = self.conv(x, w, self.bias)
            inplace = not torch.is_grad_enabled()
            if noise is not None:
                x = x.add_(noise) if inplace else x + noise
            x = F.leaky_relu(x, 0.2, inplace=inplace)
            x = x.mul_(LRELU_GAIN) if inplace else x * LRELU_GAIN
            if self.conv_clamp is not None:
                x = x.clamp_(-self.conv_clamp, self.conv_clamp) if inplace else x.clamp(-self.conv_clamp, self.conv_clamp)
            return x
        x = self.conv(x, w)
        if noise is not None:
            x = x + noise
        x = F.leaky_relu(x + self.bias[None, :, None, None], 0.2) * LRELU_GAIN
        if self.conv_clamp is not None:
            x = x.clamp(-self.conv_clamp, self.conv_clamp)
        return x

    def _noise(self, x: torch.Tensor, noise_mode: str) -> torch.Tensor | None:
        """The scaled noise image added after the conv, or None."""
        if not self.use_noise or noise_mode == "none":
            return None
        if noise_mode == "random":
            noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device, dtype=x.dtype)
        elif noise_mode == "const":
            noise = self.noise_const
        else:
            raise ValueError(f"noise_mode must be const, random or none, not {noise_mode!r}")
        return noise * self.noise_strength


class ToImage(nn.Module):
    """Modulated 1x1 conv without demodulation: features -> image/plane channels (skip head)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, conv_clamp: float | None = 256.0):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, w_dim, 1, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.conv_clamp = conv_clamp

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        x = self.conv(x, w, self.bias)
        if self.conv_clamp is not None:
            x = x.clamp(-self.conv_clamp, self.conv_clamp)
        return x


class SynthesisBlock(nn.Module):
    """A StyleGAN2 skip block: (up)conv, conv, and a skip head added to the upsampled skip image.

    `ws` holds one w per conv; the skip head uses the w of the block's last conv.
    """

    def __init__(self, in_channels: int, out_channels: int, image_channels: int, w_dim: int,
                 resolution: int, num_convs: int = 2, upsample: bool = True, use_noise: bool = True,
                 conv_clamp: float | None = 256.0):
        super().__init__()
        self.resolution = resolution
        self.convs = nn.ModuleList()
        for i in range(num_convs):
            self.convs.append(SynthesisLayer(in_channels if i == 0 else out_channels, out_channels, w_dim,
                                             resolution, upsample=(upsample and i == 0),
                                             use_noise=use_noise, conv_clamp=conv_clamp))
        self.to_image = ToImage(out_channels, image_channels, w_dim, conv_clamp)
        self.num_ws = num_convs

    def forward(self, x, img, ws, noise_mode="const"):
        for conv, w in zip(self.convs, ws.unbind(1)):
            x = conv(x, w, noise_mode)
        y = self.to_image(x, ws[:, -1])
        if img is not None:
            if img.shape[-1] != y.shape[-1]:
                img = F.interpolate(img, size=y.shape[-2:], mode="bilinear", align_corners=False)
            y = y + img
        return x, y
