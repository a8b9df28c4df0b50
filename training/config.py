"""Training hyperparameters: dataclasses with the paper's values (`paper`) and
CPU-fitting values (`tiny`). Every deviation of `tiny` from the paper is
explained next to its value and in the README's training section."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ReconLossWeights:
    """Supervised multi-view reconstruction against SynthHeads' ground truth."""
    rgb: float = 1.0            # L1 on the super-resolved image
    rgb_raw: float = 1.0        # L1 on the low-resolution image, foreground pixels
    perceptual: float = 0.5     # multi-scale gradient/structure loss on the SR image
    semantic: float = 1.0       # cross-entropy of S_h against the mask
    semantic_raw: float = 1.0   # NLL of S_l against the downsampled mask
    semantic_dice: float = 0.0  # soft Dice of S_h per class: small classes (brows, lips) count as much as skin
    depth: float = 2.0          # L1 on depth where the ground truth sees the head
    opacity: float = 1.0        # BCE of the rendered opacity against the foreground
    latent_l2: float = 1e-4     # keeps per-head codes near the prior


@dataclass(frozen=True)
class GeneratorTrainConfig:
    preset: str = "paper"
    batch: int = 32
    lr_g: float = 0.0025
    lr_d: float = 0.002
    betas: tuple[float, float] = (0.0, 0.99)
    # Lazy regularisation intervals (StyleGAN2) and weights.
    r1_gamma_rgb: float = 2.0
    r1_gamma_semantic: float = 200.0
    r1_interval: int = 16
    density_reg: float = 0.25
    density_reg_interval: int = 4
    density_reg_points: int = 1000
    density_reg_perturb: float = 0.004
    # Generator pose conditioning: "swap" with a random pose with a probability
    # fading from 1 to `pose_swap_prob` over `pose_swap_fade_kimg` (EG3D), or "frontal".
    conditioning: str = "swap"
    pose_swap_prob: float = 0.5
    pose_swap_fade_kimg: float = 1000.0
    # Dual discriminator size: channels(r) = min(d_channel_base // r, d_channel_max) (EG3D: 32768, 512).
    d_channel_base: int = 32768
    d_channel_max: int = 512
    blur_init_sigma: float = 10.0
    blur_fade_kimg: float = 200.0
    style_mixing_prob: float = 0.9
    ema_kimg: float = 10.0
    ema_rampup: float = 0.05
    xflip: bool = True
    # Two stages of neural rendering resolution: (start kimg, resolution).
    neural_schedule: tuple[tuple[float, int], ...] = ((0.0, 64), (10000.0, 128))
    total_kimg: float = 12500.0
    # Supervised multi-view reconstruction phase (our addition for CPU training).
    recon_steps: int = 0
    recon_lr_g: float = 0.002
    recon_lr_latent: float = 0.01
    recon: ReconLossWeights = field(default_factory=ReconLossWeights)
    # Adversarial steps at the start of the adversarial phase that train D only (G frozen):
    # a fresh D's first gradients otherwise hit a reconstruction-trained G hard.
    d_warmup_steps: int = 0
    # Operations
    snapshot_every: int = 500
    sample_every: int = 500
    log_every: int = 10
    keep_snapshots: int = 2
    seed: int = 0
    num_threads: int | None = None

    def replace(self, **kw) -> "GeneratorTrainConfig":
        return dataclasses.replace(self, **kw)


def paper_train_config() -> GeneratorTrainConfig:
    return GeneratorTrainConfig()


def tiny_train_config() -> GeneratorTrainConfig:
    return GeneratorTrainConfig(
        preset="tiny",
        batch=8,                 # 2 CPU cores: 8 images per step
        lr_g=0.002,              # EG3D-like rates at the small batch
        lr_d=0.002,
        r1_gamma_rgb=1.0,        # 128^2 output, smaller images than the paper's 512^2
        r1_gamma_semantic=100.0,  # keeps the paper's 100:1 ratio of semantic to RGB gamma
        r1_interval=16,
        d_channel_base=4096,     # 128^2 input: 32 channels at 128 up to 256 at 16 and below; a D step costs
        d_channel_max=256,       # about what a G step costs instead of several times more
        conditioning="frontal",  # too few images to learn pose-correlated appearance; inference is frontal anyway
        blur_init_sigma=0.0,     # the adversarial phase starts from a reconstruction-trained G, not from noise
        style_mixing_prob=0.5,
        ema_kimg=1.0,            # far fewer images: a shorter EMA horizon
        neural_schedule=((0.0, 32),),
        total_kimg=40.0,
        recon_steps=3000,        # supervised multi-view reconstruction first (README)
        d_warmup_steps=200,      # a fresh D against the recon-trained G: train D alone first (default_model.md)
        snapshot_every=100,
        sample_every=200,
        log_every=10,
    )


TRAIN_PRESETS = {"paper": paper_train_config, "tiny": tiny_train_config}


def get_train_config(preset: str) -> GeneratorTrainConfig:
    try:
        return TRAIN_PRESETS[preset]()
    except KeyError:
        raise ValueError(f"unknown training preset {preset!r}; choose one of {sorted(TRAIN_PRESETS)}") from None


def apply_overrides(cfg, overrides: list[str] | None):
    """`--set key=value` for a training config (values parsed as JSON when they parse).
    A dotted key sets a field of a nested config: `recon.semantic_dice=1`,
    `weights.mask=0.5`."""
    import json
    changes: dict = {}
    names = {f.name for f in dataclasses.fields(cfg)}
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"--set wants KEY=VALUE, got {item!r}")
        try:
            val = json.loads(raw)
        except json.JSONDecodeError:
            val = raw
        if isinstance(val, list):
            val = tuple(tuple(v) if isinstance(v, list) else v for v in val)
        head, _, sub = key.partition(".")
        if head not in names:
            raise ValueError(f"unknown training setting {head!r}; known: {', '.join(sorted(names))}")
        if sub:
            nested = changes.get(head, getattr(cfg, head))
            if not dataclasses.is_dataclass(nested):
                raise ValueError(f"training setting {head!r} has no fields; use --set {head}=VALUE")
            sub_names = {f.name for f in dataclasses.fields(nested)}
            if sub not in sub_names:
                raise ValueError(f"unknown setting {sub!r} of {head!r}; known: {', '.join(sorted(sub_names))}")
            kind = type(getattr(nested, sub))
            changes[head] = dataclasses.replace(nested, **{sub: kind(val) if kind in (int, float) else val})
        else:
            changes[key] = val
    return dataclasses.replace(cfg, **changes)
