"""Every size of the model lives here, as dataclasses with named presets.

`paper` follows the IDE-3D paper and its appendix (REFERENCE.md §2-3);
`tiny` is a size that trains and runs interactively on two CPU cores.
Other modules read sizes from a `GeneratorConfig`; none hard-code them.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

NUM_CLASSES = 19  # CelebAMask-HQ classes (see semantics.py)
NUM_WS = 18  # 8 shape (w_s) + 10 texture (w_t)
NUM_SHAPE_WS = 8
CAMERA_LABEL_DIM = 25  # 16 cam2world + 9 intrinsics


@dataclass(frozen=True)
class MappingConfig:
    z_dim: int = 512
    w_dim: int = 512
    c_dim: int = CAMERA_LABEL_DIM
    num_layers: int = 8
    lr_multiplier: float = 0.01
    w_avg_beta: float = 0.995
    num_ws: int = NUM_WS
    num_shape_ws: int = NUM_SHAPE_WS


@dataclass(frozen=True)
class BackboneConfig:
    """StyleGAN2 feature generator.

    The shallow (semantic) branch runs from 4x4 up to `semantic_resolution`
    and is driven by w_s; its last feature map is shared by three texture heads
    (one per plane) that run up to `texture_resolution`, driven by w_t.
    """
    semantic_channels: dict[int, int] = field(
        default_factory=lambda: {4: 512, 8: 512, 16: 256, 32: 128, 64: 64})
    texture_channels: dict[int, int] = field(default_factory=lambda: {128: 64, 256: 64})
    semantic_plane_channels: int = 32
    texture_plane_channels: int = 32
    use_noise: bool = True
    conv_clamp: float | None = 256.0

    @property
    def semantic_resolution(self) -> int:
        return max(self.semantic_channels)

    @property
    def texture_resolution(self) -> int:
        return max(self.texture_channels) if self.texture_channels else self.semantic_resolution

    def __post_init__(self):
        # JSON round trips turn int keys into strings; normalise them back.
        object.__setattr__(self, "semantic_channels",
                           {int(k): int(v) for k, v in self.semantic_channels.items()})
        object.__setattr__(self, "texture_channels",
                           {int(k): int(v) for k, v in self.texture_channels.items()})
        res = sorted(self.semantic_channels)
        if res[0] != 4 or any(b != 2 * a for a, b in zip(res, res[1:])):
            raise ValueError(f"semantic resolutions must double from 4: {res}")
        tex = sorted(self.texture_channels)
        if tex and (tex[0] != 2 * res[-1] or any(b != 2 * a for a, b in zip(tex, tex[1:]))):
            raise ValueError(f"texture resolutions must double from {2 * res[-1]}: {tex}")


@dataclass(frozen=True)
class DecoderConfig:
    hidden: int = 64
    feature_dim: int = 32  # colour feature; first 3 channels are RGB
    num_classes: int = NUM_CLASSES
    # Offset on the density pre-activation: EG3D subtracts 1 before softplus.
    density_bias: float = -1.0


@dataclass(frozen=True)
class RenderConfig:
    neural_resolution: int = 64
    num_coarse: int = 48
    num_importance: int = 48
    ray_start: float = 2.25
    ray_end: float = 3.3
    box_warp: float = 1.0  # side of the cube the tri-planes span, centred on the origin
    white_background: bool = False
    # Points per chunk when sampling the field: bounds memory at large resolutions.
    chunk_points: int = 1 << 20


@dataclass(frozen=True)
class SuperResConfig:
    output_resolution: int = 512
    rgb_channels: tuple[int, int] = (64, 32)
    semantic_channels: tuple[int, int] = (32, 16)


@dataclass(frozen=True)
class GeneratorConfig:
    preset: str = "paper"
    mapping: MappingConfig = field(default_factory=MappingConfig)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    superres: SuperResConfig = field(default_factory=SuperResConfig)
    # Neural rendering resolutions of the two training stages (paper: 64 then 128).
    stage_neural_resolutions: tuple[int, ...] = (64, 128)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "GeneratorConfig":
        d = dict(d)
        sub = {"mapping": MappingConfig, "backbone": BackboneConfig, "decoder": DecoderConfig,
               "render": RenderConfig, "superres": SuperResConfig}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown generator config keys: {sorted(unknown)}")
        for key, kind in sub.items():
            if key in d:
                d[key] = _build(kind, d[key])
        if "stage_neural_resolutions" in d:
            d["stage_neural_resolutions"] = tuple(d["stage_neural_resolutions"])
        return cls(**d)

    def with_neural_resolution(self, res: int) -> "GeneratorConfig":
        return dataclasses.replace(self, render=dataclasses.replace(self.render, neural_resolution=res))


def _build(kind, values: dict[str, Any]):
    names = {f.name for f in dataclasses.fields(kind)}
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"unknown {kind.__name__} keys: {sorted(unknown)}")
    values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in values.items()}
    return kind(**values)


def paper_config() -> GeneratorConfig:
    """The paper's sizes: 512-d latents, 64x64x64 shared map, 256x256x32 texture planes,
    48+48 samples per ray, neural rendering 64 (stage 1) then 128, 512^2 output."""
    return GeneratorConfig(preset="paper")


def tiny_config() -> GeneratorConfig:
    """A CPU size: same structure (18 ws = 8 + 10, 19 classes, dual decoders, tri-planes,
    two SR blocks), fewer channels, neural rendering 32, 128^2 output."""
    return GeneratorConfig(
        preset="tiny",
        mapping=MappingConfig(z_dim=256, w_dim=256, num_layers=4),
        backbone=BackboneConfig(
            semantic_channels={4: 256, 8: 256, 16: 128, 32: 64, 64: 32},
            texture_channels={128: 24},
            semantic_plane_channels=16,
            texture_plane_channels=16,
            conv_clamp=None,  # fp32 only on CPU; the clamp's backward cost ~6% of a step
        ),
        decoder=DecoderConfig(hidden=64),
        render=RenderConfig(neural_resolution=32, num_coarse=24, num_importance=24,
                            chunk_points=1 << 18),
        superres=SuperResConfig(output_resolution=128, rgb_channels=(32, 16),
                                semantic_channels=(16, 16)),
        stage_neural_resolutions=(32,),
    )


PRESETS = {"paper": paper_config, "tiny": tiny_config}


def get_config(preset: str | GeneratorConfig) -> GeneratorConfig:
    if isinstance(preset, GeneratorConfig):
        return preset
    try:
        return PRESETS[preset]()
    except KeyError:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}") from None


# --------------------------------------------------------------------------- encoders
POSE_SOURCES = ("image", "mask")


@dataclass(frozen=True)
class EncoderConfig:
    """Sizes of the inversion encoders (E_t, E_s), the canonical editor E_can and the
    face parser. The encoders are residual CNNs shaped like a StyleGAN2
    discriminator (the release's choice, REFERENCE.md §5): a 1x1 stem, residual
    blocks halving the resolution down to 4x4, a 3x3 conv, an FC layer and a
    linear head giving latent offsets that are added to the generator's w_avg.
    """
    preset: str = "paper"
    w_dim: int = 512
    num_ws: int = NUM_WS
    num_shape_ws: int = NUM_SHAPE_WS
    num_classes: int = NUM_CLASSES
    input_resolution: int = 256      # images and masks are resized to this before encoding
    channel_base: int = 16384        # channels(r) = min(channel_base // r, channel_max)
    channel_max: int = 512
    head_gain: float = 0.1           # initial scale of the offset heads: start near w_avg
    # Which encoder predicts the camera (yaw, pitch): "image" (E_t, as the paper) or
    # "mask" (E_s). A mask has no lighting: E_t learnt SynthHeads' fixed light as a yaw
    # cue (0.42 rad wrong on mirrored images), while E_s's features locate the face
    # parts (a linear read-out: 0.02 rad on held-out heads, mirrored or not).
    pose_from: str = "image"
    # Face parser (a small U-Net, RGB -> 19-class logits).
    parser_resolution: int = 256
    parser_channels: tuple[int, ...] = (32, 64, 128, 256)

    def channels(self) -> dict[int, int]:
        out, r = {}, self.input_resolution
        while r >= 4:
            out[r] = min(self.channel_base // r, self.channel_max)
            r //= 2
        return out

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "EncoderConfig":
        return _build(cls, dict(d))

    def __post_init__(self):
        r = self.input_resolution
        if r < 8 or r & (r - 1):
            raise ValueError(f"encoder input_resolution must be a power of two >= 8, got {r}")
        if self.pose_from not in POSE_SOURCES:
            raise ValueError(f"pose_from must be one of {POSE_SOURCES}, got {self.pose_from!r}")
        p = self.parser_resolution
        if p & (p - 1) or p < 2 ** len(self.parser_channels):
            raise ValueError(f"parser_resolution {p} must be a power of two >= 2^{len(self.parser_channels)}")
        if not 0 < self.num_shape_ws < self.num_ws:
            raise ValueError("num_shape_ws must be between 0 and num_ws")


def paper_encoder_config() -> EncoderConfig:
    """512-d latents, 256^2 inputs, StyleGAN2 channel rule capped at 512."""
    return EncoderConfig(preset="paper")


def tiny_encoder_config() -> EncoderConfig:
    """Matches the tiny generator (256-d latents); 64^2 inputs, <=128 channels: a
    forward pass takes a few milliseconds on a CPU core."""
    return EncoderConfig(preset="tiny", w_dim=256, input_resolution=64, channel_base=2048,
                         channel_max=128, pose_from="mask",  # see pose_from; the shipped encoders
                         parser_resolution=128, parser_channels=(16, 32, 48, 64))


ENCODER_PRESETS = {"paper": paper_encoder_config, "tiny": tiny_encoder_config}


def get_encoder_config(preset: str | EncoderConfig) -> EncoderConfig:
    if isinstance(preset, EncoderConfig):
        return preset
    try:
        return ENCODER_PRESETS[preset]()
    except KeyError:
        raise ValueError(f"unknown encoder preset {preset!r}; choose one of {sorted(ENCODER_PRESETS)}") from None
