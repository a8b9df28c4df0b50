"""Encoders, canonical editor and face parser: the encoder bundle, its building, saving
and loading (through checkpoint's one network path), the mask conditioning, and the
convenience calls the inversion and editing code use. Where weights come from (a path,
the shipped default, none) is `sources`' job.

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

import torch
import torch.nn as nn
import torch.nn.functional as F

from .checkpoint import build_network, load_network, save_network
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


def mask_onehot(mask, size: int, device=None) -> torch.Tensor:
    """Class ids ((H, W) numpy, or [H, W] / [B, H, W] torch) -> one-hot [B, 19, size, size]
    holding 0/1 (nearest resize of the ids), the form `encode` / `encode_canonical` take:
    `mask_input` scales it to [-1, 1] inside, so never scale it before."""
    from . import semantics
    if not torch.is_tensor(mask):
        mask = torch.from_numpy(semantics.check_mask(mask).astype("int64"))
    ids = mask.long()
    ids = ids[None] if ids.ndim == 2 else ids
    if ids.shape[-2:] != (size, size):
        ids = F.interpolate(ids[:, None].float(), size=(size, size), mode="nearest")[:, 0].long()
    return semantics.mask_to_onehot(ids).float().to(device)


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
    return build_network(lambda: Encoders(preset), seed, device)


def save_encoders(enc: Encoders, path: str | os.PathLike, extra: dict | None = None) -> None:
    save_network(enc, path, ENCODERS_KIND, extra)


def load_encoders(path: str | os.PathLike | None = None, device=None) -> Encoders:
    """Load encoders (E_t, E_s, E_can); None loads the shipped weights/encoders.safetensors."""
    return load_network(path, ENCODERS_KIND, Encoders, EncoderConfig, device)


# --------------------------------------------------------------------------- face parser
def _make_parser(cfg: str | EncoderConfig) -> FaceParser:
    parser = FaceParser(cfg)
    parser.cfg = get_encoder_config(cfg)  # save_network records it
    return parser


def build_parser(preset: str | EncoderConfig = "tiny", seed: int = 0, device=None) -> FaceParser:
    return build_network(lambda: _make_parser(preset), seed, device)


def save_parser(parser: FaceParser, path: str | os.PathLike, extra: dict | None = None) -> None:
    save_network(parser, path, PARSER_KIND, extra)


def load_parser(path: str | os.PathLike | None = None, device=None) -> FaceParser:
    """Load a face parser; None loads the shipped weights/parser.safetensors."""
    return load_network(path, PARSER_KIND, _make_parser, EncoderConfig, device)


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
