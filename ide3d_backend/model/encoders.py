"""Inversion encoders and the canonical editor (paper Sec. 3.2, Fig. 2 lower half).

All three are residual CNNs shaped like a StyleGAN2 discriminator (as the
authors' release): a 1x1 stem, residual blocks halving the resolution down to
4x4, a 3x3 conv, a fully connected layer and a linear head. Heads predict
*offsets* in W+; the latent is `G.mapping.w_avg + offset` (see
`ide3d_backend.encoding`).

- `TextureEncoder` E_t: RGB -> 10 texture offsets (w_t) + (yaw, pitch) in radians
  (the paper appends two outputs to the texture branch for the camera pose).
- `SemanticEncoder` E_s: one-hot mask scaled to [-1, 1] -> 8 shape offsets (w_s),
  and with `pose_from="mask"` the (yaw, pitch) instead of E_t (a mask carries the
  face parts' layout but no lighting; `EncoderConfig.pose_from`).
- `CanonicalEditor` E_can: canonical-view RGB and mask, one tower each, features
  concatenated -> all 18 offsets.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..config import EncoderConfig, get_encoder_config
from .discriminator import Conv2d, DiscriminatorBlock
from .layers import LRELU_GAIN, FullyConnected


class EncoderTower(nn.Module):
    """Input [B, C, R, R] -> feature vector [B, channels(4)]."""

    def __init__(self, in_channels: int, cfg: EncoderConfig):
        super().__init__()
        ch = cfg.channels()
        r = cfg.input_resolution
        self.resolution = r
        self.from_input = Conv2d(in_channels, ch[r], 1)
        blocks = []
        while r > 4:
            blocks.append(DiscriminatorBlock(ch[r], ch[r // 2]))
            r //= 2
        self.blocks = nn.Sequential(*blocks)
        c4 = ch[4]
        self.conv = Conv2d(c4, c4, 3)
        self.fc = FullyConnected(c4 * 16, c4, "lrelu")
        self.out_features = c4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.resolution or x.shape[-2] != self.resolution:
            raise ValueError(f"encoder input must be {self.resolution}x{self.resolution}, got "
                             f"{tuple(x.shape[-2:])}; resize first (ide3d_backend.encoding does)")
        x = self.conv(self.blocks(self.from_input(x)))
        return self.fc(x.flatten(1))


def _offset_head(in_features: int, out_features: int, gain: float) -> FullyConnected:
    head = FullyConnected(in_features, out_features)
    with torch.no_grad():
        head.weight.mul_(gain)  # small initial offsets: encoders start at w_avg
    return head


class TextureEncoder(nn.Module):
    """E_t: RGB [B,3,R,R] in [-1,1] -> (w_t offsets [B,10,w], yaw_pitch [B,2] radians)."""

    def __init__(self, cfg: EncoderConfig | str = "tiny"):
        super().__init__()
        cfg = get_encoder_config(cfg)
        self.num_ws, self.w_dim = cfg.num_ws - cfg.num_shape_ws, cfg.w_dim
        self.tower = EncoderTower(3, cfg)
        self.head = _offset_head(self.tower.out_features, self.num_ws * self.w_dim, cfg.head_gain)
        self.pose = _offset_head(self.tower.out_features, 2, cfg.head_gain)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.tower(image)
        return self.head(f).view(-1, self.num_ws, self.w_dim), self.pose(f)


class SemanticEncoder(nn.Module):
    """E_s: one-hot mask in [-1,1] [B,19,R,R] -> w_s offsets [B,8,w] (and yaw_pitch [B,2]
    radians from `forward_with_pose` when the config takes the pose from the mask)."""

    def __init__(self, cfg: EncoderConfig | str = "tiny"):
        super().__init__()
        cfg = get_encoder_config(cfg)
        self.num_ws, self.w_dim = cfg.num_shape_ws, cfg.w_dim
        self.tower = EncoderTower(cfg.num_classes, cfg)
        self.head = _offset_head(self.tower.out_features, self.num_ws * self.w_dim, cfg.head_gain)
        self.pose = _offset_head(self.tower.out_features, 2, cfg.head_gain) if cfg.pose_from == "mask" else None

    def forward(self, mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.tower(mask)).view(-1, self.num_ws, self.w_dim)

    def forward_with_pose(self, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.pose is None:
            raise ValueError("these encoders take the pose from the image (pose_from='image'), not the mask")
        f = self.tower(mask)
        return self.head(f).view(-1, self.num_ws, self.w_dim), self.pose(f)


class CanonicalEditor(nn.Module):
    """E_can: canonical-view RGB [B,3,R,R] + mask [B,19,R,R] in [-1,1] -> offsets [B,18,w].

    Two towers (image, mask); their features are concatenated and mixed by an FC
    layer before the linear head, so shape offsets may use texture cues and vice versa.
    """

    def __init__(self, cfg: EncoderConfig | str = "tiny"):
        super().__init__()
        cfg = get_encoder_config(cfg)
        self.num_ws, self.w_dim = cfg.num_ws, cfg.w_dim
        self.image_tower = EncoderTower(3, cfg)
        self.mask_tower = EncoderTower(cfg.num_classes, cfg)
        f = self.image_tower.out_features + self.mask_tower.out_features
        self.mix = FullyConnected(f, f, "lrelu")
        self.head = _offset_head(f, self.num_ws * self.w_dim, cfg.head_gain)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        f = torch.cat([self.image_tower(image), self.mask_tower(mask)], 1)
        return self.head(self.mix(f)).view(-1, self.num_ws, self.w_dim)

    @torch.no_grad()
    def start_from(self, texture: TextureEncoder, semantic: SemanticEncoder, shift: float = 4.0) -> None:
        """Become E_t + E_s: afterwards `self(image, mask)` equals their offsets, shape then texture,
        for every input whose tower features all lie above -shift.

        A warm start for E_can: trained from scratch it stays worse than the input-view
        encoders even on the frontal view they also read. The towers are copied, the mix
        layer passes its input through shifted by `shift` (its leaky ReLU is linear above
        -shift) and the head is E_s's and E_t's heads side by side with the shift taken out
        of the bias. Keep the shift near the features' own scale: the tower features are
        leaky-ReLU outputs whose negative side is compressed (minimum -3.3, mean |x| 1.4-2.5
        for the stage-4 encoders on rich SynthHeads), and a head input offset by a large
        constant makes every optimiser step on the head move all offsets together (with a
        shift of 64, E_can trained alongside E_t/E_s was at 18.8 dB after 300 steps where
        they read the same canonical views at 20.2).
        """
        if (self.image_tower.out_features != texture.tower.out_features
                or self.mask_tower.out_features != semantic.tower.out_features
                or self.num_ws != texture.num_ws + semantic.num_ws):
            raise ValueError("E_can and E_t/E_s are of different sizes; start E_can from encoders of its config")
        self.image_tower.load_state_dict(texture.tower.state_dict())
        self.mask_tower.load_state_dict(semantic.tower.state_dict())
        n_img = self.image_tower.out_features
        f = n_img + self.mask_tower.out_features
        mix = self.mix  # lrelu(x / gain + shift / gain) * gain = x + shift for x > -shift
        mix.weight.copy_(torch.eye(f) / (LRELU_GAIN * mix.weight_gain))
        mix.bias.fill_(shift / (LRELU_GAIN * mix.bias_gain))
        n_shape = semantic.num_ws * self.w_dim
        weight = torch.zeros_like(self.head.weight)
        weight[:n_shape, n_img:] = semantic.head.weight * semantic.head.weight_gain
        weight[n_shape:, :n_img] = texture.head.weight * texture.head.weight_gain
        bias = torch.cat([semantic.head.bias * semantic.head.bias_gain, texture.head.bias * texture.head.bias_gain])
        bias = bias - weight.sum(1) * shift
        self.head.weight.copy_(weight / self.head.weight_gain)
        self.head.bias.copy_(bias / self.head.bias_gain)
