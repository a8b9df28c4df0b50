"""Encoders, canonical editor and face parser: building, saving, loading, and the
convenience calls the inversion and editing code use.

    enc = load_encoders()                      # weights/encoders.safetensors
    ws, yaw, pitch = encode(enc, G, image, mask_onehot)      # E_t + E_s (any view)
    ws_can = encode_canonical(enc, G, image_can, mask_can)   # E_can (frontal view)
    mask = parse(load_parser(), image)                        # ids [B, H, W]

Latents are `G.mapping.w_avg + offsets`; images are [B,3,H,W] in [-1,1] at any
resolution (resized inside to the encoder's input size); masks are one-hot
[B,19,H,W] (or integer ids [B,H,W]) and are fed to the networks scaled to [-1,1].
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .checkpoint import (CheckpointError, default_checkpoint, load_checkpoint, load_state_into,
                         save_checkpoint, select_device)
from .config import EncoderConfig, get_encoder_config
from .model.encoders import CanonicalEditor, SemanticEncoder, TextureEncoder
from .model.parser import FaceParser

ENCODERS_KIND = "encoders"
PARSER_KIND = "parser"


# --------------------------------------------------------------------------- preprocessing
def resize_image(image: torch.Tensor, size: int) -> torch.Tensor:
    """[B,C,H,W] (or [C,H,W]) -> [B,C,size,size], antialiased when shrinking."""
    if image.ndim == 3:
        image = image[None]
    if image.ndim != 4:
        raise ValueError(f"images must be [B,C,H,W], got shape {tuple(image.shape)}")
    image = image.float()
    if image.shape[-2:] == (size, size):
        return image
    shrink = image.shape[-1] > size or image.shape[-2] > size
    return F.interpolate(image, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink)


def mask_input(mask: torch.Tensor, size: int, num_classes: int = 19) -> torch.Tensor:
    """One-hot [B,K,H,W] or ids [B,H,W] -> class coverage at size x size, scaled to [-1,1].

    Shrinking averages the one-hot channels (area), so thin parts such as eyes
    survive as partial coverage rather than vanishing under nearest sampling.
    """
    if not mask.is_floating_point():
        if mask.ndim == 2:
            mask = mask[None]
        if mask.ndim != 3:
            raise ValueError(f"an id mask must be [B,H,W], got shape {tuple(mask.shape)}")
        if mask.numel() and (int(mask.min()) < 0 or int(mask.max()) >= num_classes):
            raise ValueError(f"mask ids must be in 0..{num_classes - 1}")
        mask = F.one_hot(mask.long(), num_classes).movedim(-1, 1).float()
    elif mask.ndim == 3:
        mask = mask[None]
    if mask.ndim != 4 or mask.shape[1] != num_classes:
        raise ValueError(f"a one-hot mask must be [B,{num_classes},H,W], got shape {tuple(mask.shape)}")
    if mask.numel() and (float(mask.min()) < 0 or float(mask.max()) > 1):
        # Already scaled to [-1, 1]? Scaling twice feeds the networks {-3, 1}: refuse it.
        raise ValueError(f"one-hot masks must hold class coverage in [0, 1] (got {float(mask.min()):.2f}.."
                         f"{float(mask.max()):.2f}); pass ids or a 0/1 one-hot, the scaling to [-1, 1] is done here")
    if mask.shape[-2:] != (size, size):
        if mask.shape[-1] >= size and mask.shape[-2] >= size:
            mask = F.interpolate(mask, size=(size, size), mode="area")
        else:
            mask = F.interpolate(mask, size=(size, size), mode="nearest")
    return mask * 2 - 1


def labels_from_yaw_pitch(yaw_pitch: torch.Tensor, radius: float | None = None) -> torch.Tensor:
    """Differentiable torch twin of `camera.label_from_angles`: [B,2] (yaw, pitch) -> [B,25]."""
    from . import camera
    radius = camera.RADIUS if radius is None else radius
    yaw, pitch = yaw_pitch[:, 0], yaw_pitch[:, 1]
    target = torch.tensor(camera.LOOKAT, dtype=yaw_pitch.dtype, device=yaw_pitch.device)
    origin = target + radius * torch.stack(
        [torch.cos(pitch) * torch.sin(yaw), torch.sin(pitch), torch.cos(pitch) * torch.cos(yaw)], -1)
    forward = F.normalize(target - origin, dim=-1)
    up = torch.tensor([0.0, 1.0, 0.0], dtype=yaw_pitch.dtype, device=yaw_pitch.device).expand_as(forward)
    right = F.normalize(torch.cross(forward, up, dim=-1), dim=-1)
    true_up = torch.cross(right, forward, dim=-1)
    b = yaw_pitch.shape[0]
    m = torch.zeros(b, 4, 4, dtype=yaw_pitch.dtype, device=yaw_pitch.device)
    m[:, :3, 0], m[:, :3, 1], m[:, :3, 2], m[:, :3, 3] = right, true_up, -forward, origin
    m[:, 3, 3] = 1
    k = torch.as_tensor(camera.INTRINSICS, dtype=yaw_pitch.dtype, device=yaw_pitch.device)
    return torch.cat([m.reshape(b, 16), k.reshape(1, 9).expand(b, 9)], 1)


# --------------------------------------------------------------------------- the bundle
class Encoders(nn.Module):
    """E_t, E_s and E_can of one config. The *_offsets methods resize their inputs."""

    def __init__(self, cfg: EncoderConfig | str = "tiny"):
        super().__init__()
        self.cfg = get_encoder_config(cfg)
        self.texture = TextureEncoder(self.cfg)
        self.semantic = SemanticEncoder(self.cfg)
        self.canonical = CanonicalEditor(self.cfg)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def _image(self, image):
        return resize_image(image.to(self.device), self.cfg.input_resolution)

    def _mask(self, mask):
        return mask_input(mask.to(self.device), self.cfg.input_resolution, self.cfg.num_classes)

    def texture_offsets(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (w_t offsets [B,10,w], yaw_pitch [B,2])."""
        return self.texture(self._image(image))

    def semantic_offsets(self, mask: torch.Tensor) -> torch.Tensor:
        """-> w_s offsets [B,8,w]."""
        return self.semantic(self._mask(mask))

    def offsets_and_pose(self, image: torch.Tensor, mask: torch.Tensor
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """E_t + E_s, one pass of each -> (w_s offsets [B,8,w], w_t offsets [B,10,w],
        yaw_pitch [B,2]) with the pose from the encoder `cfg.pose_from` names."""
        tex, pose = self.texture_offsets(image)
        if self.cfg.pose_from == "mask":
            shape, pose = self.semantic.forward_with_pose(self._mask(mask))
        else:
            shape = self.semantic_offsets(mask)
        return shape, tex, pose

    def pose(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(yaw, pitch) [B,2] radians, running only the encoder that predicts it."""
        if self.cfg.pose_from == "mask":
            return self.semantic.forward_with_pose(self._mask(mask))[1]
        return self.texture_offsets(image)[1]

    def canonical_offsets(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """-> offsets of all 18 ws [B,18,w]."""
        return self.canonical(self._image(image), self._mask(mask))


def _w_avg(enc: Encoders, G) -> torch.Tensor:
    w_avg = G.mapping.w_avg
    if w_avg.shape[-1] != enc.cfg.w_dim or G.num_ws != enc.cfg.num_ws:
        raise ValueError(f"encoders ({enc.cfg.preset}: w_dim {enc.cfg.w_dim}, {enc.cfg.num_ws} ws) do not match "
                         f"the generator ({G.cfg.preset}: w_dim {w_avg.shape[-1]}, {G.num_ws} ws)")
    return w_avg.to(enc.device)


def encode(enc: Encoders, G, image: torch.Tensor, mask_onehot: torch.Tensor
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """E_t + E_s: image and mask of any view -> (ws [B,18,w], yaw [B], pitch [B]) radians
    (the pose from E_t or E_s, as `enc.cfg.pose_from` says)."""
    w_avg = _w_avg(enc, G)
    shape, tex, pose = enc.offsets_and_pose(image, mask_onehot)
    ws = w_avg + torch.cat([shape, tex], 1)
    return ws, pose[:, 0], pose[:, 1]


def encode_canonical(enc: Encoders, G, image: torch.Tensor, mask_onehot: torch.Tensor) -> torch.Tensor:
    """E_can: canonical (frontal) image and mask -> ws [B,18,w]."""
    return _w_avg(enc, G) + enc.canonical_offsets(image, mask_onehot)


def build_encoders(preset: str | EncoderConfig = "tiny", seed: int = 0, device=None) -> Encoders:
    """Freshly initialised encoders, deterministic in `seed`."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        enc = Encoders(preset)
    return enc.to(_device(device))


def save_encoders(enc: Encoders, path: str | os.PathLike, extra: dict | None = None) -> None:
    save_checkpoint(path, enc.state_dict(), ENCODERS_KIND, enc.cfg.to_dict(), extra)


def _device(device):
    return select_device(device) if device is None or isinstance(device, str) else device


def _config_from(meta: dict, path) -> EncoderConfig:
    try:
        return EncoderConfig.from_dict(meta["config"])
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path} has an unreadable encoder config: {exc}") from None


def _resolve(path, kind: str, command: str) -> Path:
    if path is None:
        path = default_checkpoint(kind)
        if not path.exists():
            raise CheckpointError(f"the default {kind} model {path} is not installed; train one with "
                                  f"`{command}` or pass a checkpoint path")
    return Path(path)


def load_encoders(path: str | os.PathLike | None = None, device=None) -> Encoders:
    """Load encoders (E_t, E_s, E_can); None loads the shipped weights/encoders.safetensors."""
    path = _resolve(path, ENCODERS_KIND, "ide3d train encoders")
    state, meta = load_checkpoint(path, kind=ENCODERS_KIND)
    enc = Encoders(_config_from(meta, path))
    load_state_into(enc, state, source=str(path))
    return enc.to(_device(device)).eval().requires_grad_(False)


# --------------------------------------------------------------------------- face parser
def build_parser(preset: str | EncoderConfig = "tiny", seed: int = 0, device=None) -> FaceParser:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        parser = FaceParser(preset)
    parser.cfg = get_encoder_config(preset)
    return parser.to(_device(device))


def save_parser(parser: FaceParser, path: str | os.PathLike, extra: dict | None = None) -> None:
    save_checkpoint(path, parser.state_dict(), PARSER_KIND, parser.cfg.to_dict(), extra)


def load_parser(path: str | os.PathLike | None = None, device=None) -> FaceParser:
    """Load a face parser; None loads the shipped weights/parser.safetensors."""
    path = _resolve(path, PARSER_KIND, "ide3d train parser")
    state, meta = load_checkpoint(path, kind=PARSER_KIND)
    cfg = _config_from(meta, path)
    parser = FaceParser(cfg)
    parser.cfg = cfg
    load_state_into(parser, state, source=str(path))
    return parser.to(_device(device)).eval().requires_grad_(False)


def parser_logits(parser: FaceParser, image: torch.Tensor) -> torch.Tensor:
    """Logits at the parser's resolution for images of any size (differentiable)."""
    return parser(resize_image(image.to(next(parser.parameters()).device), parser.resolution))


@torch.no_grad()
def parse(parser: FaceParser, image: torch.Tensor) -> torch.Tensor:
    """RGB [B,3,H,W] in [-1,1] -> class ids [B,H,W] (int64) at the input resolution."""
    if image.ndim == 3:
        image = image[None]
    logits = parser_logits(parser, image)
    if logits.shape[-2:] != image.shape[-2:]:
        logits = F.interpolate(logits, size=image.shape[-2:], mode="bilinear", align_corners=False)
    return logits.argmax(1).to(image.device)
