"""Training hyperparameters of the three trainers (generator, encoders, face parser):
dataclasses with the paper's values (`paper`) and CPU-fitting values (`tiny`).
Every deviation of `tiny` from the paper is explained next to its value and in the
README's training section (encoders and parser: docs/encoders.md)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


# --------------------------------------------------------------------------- generator (train_generator.py)
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
    # Weight of G's adversarial term. Below 1 to fine-tune a reconstruction-trained G: at 1
    # the term swamps the kept reconstruction terms (default_model.md, session 10).
    adv_weight: float = 1.0
    # True: the RGB pair D sees for a fake is (I_h, I_h area-downsampled), as for a real,
    # instead of (I_h, the neural render I_l). A D trained on the stage-5c generator told
    # reals from fakes almost only by I_l (real I_h + fake I_l: logit -10.8; fake I_h + its
    # own downsampling: -1.1; blurring real I_h by 2 px: no change), so its gradient went
    # to I_l instead of sharpening I_h. Fine-tuning only: the recon terms keep I_l in line.
    d_raw_from_image: bool = False
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


# --------------------------------------------------------------------------- encoders (train_encoders.py)
@dataclass(frozen=True)
class EncoderLossWeights:
    latent_t: float = 1.0               # w-space L2, E_t's texture ws vs. the true w_t
    latent_s: float = 1.0               # w-space L2, E_s's shape ws vs. the true w_s
    pose: float = 1.0                   # L2 on (yaw, pitch) in radians
    rgb: float = 1.0                    # L1, G(encoded ws) from the input view vs. the input image
    perceptual: float = 0.5             # perceptual_distance of the same pair
    mask: float = 0.5                   # cross-entropy of the reconstructed semantics vs. the input mask
    mask_dice: float = 0.0              # soft Dice of the same pair: every class counts, not every pixel
    latent_consistency: float = 1.0     # same latents across the k views
    feature_consistency: float = 0.5    # k reconstructions seen from one common view look alike
    can_latent: float = 1.0             # E_can: w-space L2 on all 18 ws
    can_rgb: float = 1.0                # E_can: reconstruction from the canonical view
    can_perceptual: float = 0.5
    can_mask: float = 0.5
    can_mask_dice: float = 0.0
    real_rgb: float = 1.0               # dataset images: reconstruction through G
    real_perceptual: float = 0.5
    real_mask: float = 0.5
    real_mask_dice: float = 0.0
    real_latent: float = 1.0            # dataset images with --latents: w-space L2 to the head's fitted code
    real_pose: float = 1.0              # and L2 on (yaw, pitch) from the image's camera label
    can_real_rgb: float = 1.0           # E_can on dataset heads (can_real_batch): reconstruction of the
    can_real_perceptual: float = 0.5    # frontal view it reads and of another view of the same head
    can_real_mask: float = 0.5
    can_real_mask_dice: float = 0.0


@dataclass(frozen=True)
class PhotometricConfig:
    """Recolouring of the encoders' inputs (training/photometric.py)."""
    prob: float = 0.0                        # chance that one image is recoloured (0 = off)
    exposure: float = 0.35                   # log2 gain ~ U[-e, e]: about +-1/3 stop
    white_balance: float = 0.12              # per-channel log gain ~ U[-wb, wb] (mean-free)
    contrast: tuple[float, float] = (0.7, 1.3)
    saturation: tuple[float, float] = (0.6, 1.4)
    gamma: tuple[float, float] = (0.8, 1.25)
    shading: float = 0.35                    # ramp amplitude: brightness x (1 + s * t), t in [-1, 1]


@dataclass(frozen=True)
class EncoderTrainConfig:
    preset: str = "paper"               # encoder size preset (ide3d_backend.config.get_encoder_config)
    batch: int = 8                      # latents per step (release: batch 8)
    views: int = 2                      # k views rendered per latent (multi-view augmentation)
    lr: float = 1e-4                    # Adam (release: 1e-4, betas 0.9/0.99)
    lr_warmup_steps: int = 0            # linear ramp from 0: a fine-tuning run's fresh Adam moves every
                                        # weight by a full lr on its first step, which shakes trained heads
    final_pose_fit: bool = False        # with --data and pose_from="mask": refit E_s's pose head as the
                                        # ridge read-out of its final features before the export (the head
                                        # lags the features the reconstruction losses keep moving)
    betas: tuple[float, float] = (0.9, 0.99)
    psi_range: tuple[float, float] = (0.5, 1.0)
    mixing_prob: float = 0.9            # independent z for w_s and w_t
    neural_resolution: int | None = None        # renders of the inputs; None = the generator's
    recon_neural_resolution: int | None = None  # renders of the reconstructions; None = same
    recon_every: int = 1                # reconstruction + feature-consistency losses every n steps
    recon_pose: str = "true"            # render reconstructions from the "true" or the "predicted" pose
    canonical: bool = True              # train E_can in the same step
    only_canonical: bool = False        # train E_can alone: E_t/E_s frozen, their renders and losses skipped
    can_start_from_encoders: bool = False  # a new run starts E_can as E_t + E_s (after --init): equal to
                                        # them on the canonical view, then specialised on it (warm start)
    can_start_shift: float = 4.0        # CanonicalEditor.start_from's shift: below the tower features' minimum
    real_batch: int = 0                 # dataset images per step when --data is given
    can_real_batch: int = 0             # dataset heads per step whose frontal view E_can reads (needs a
                                        # dataset with one frontal view per head: `ide3d data synth
                                        # --canonical-first`); rebuilt from it, the head is compared with
                                        # that view and with another of its views (multi-view truth)
    pose_batch: int = 0                 # more dataset images per step for the pose term only: no
                                        # rendering, so the pose head sees many cameras cheaply
    xflip: bool = True                  # mirror dataset images at random
    photometric: PhotometricConfig = field(default_factory=PhotometricConfig)  # light/white balance of
                                        # the images E_t/E_s read (not their targets, not E_can's inputs)
    repeat_batch: bool = False          # every step reuses step 0's batch (overfitting checks)
    weights: EncoderLossWeights = field(default_factory=EncoderLossWeights)
    snapshot_every: int = 500
    log_every: int = 10
    keep_snapshots: int = 2
    seed: int = 0
    num_threads: int | None = None

    def replace(self, **kw) -> "EncoderTrainConfig":
        return dataclasses.replace(self, **kw)

    @classmethod
    def from_dict(cls, d: dict) -> "EncoderTrainConfig":
        d = dict(d)
        d["weights"] = EncoderLossWeights(**d.get("weights", {}))
        for key in ("betas", "psi_range"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


def paper_encoder_train_config() -> EncoderTrainConfig:
    return EncoderTrainConfig()


def tiny_encoder_train_config() -> EncoderTrainConfig:
    return EncoderTrainConfig(
        preset="tiny",
        batch=2,                      # 2 CPU cores: 2 latents x 2 views + 2 canonical renders per step
        views=2,
        lr=2e-4,                      # fewer, smaller steps than the paper's runs
        recon_neural_resolution=16,   # reconstructions through G are the cost; half the neural resolution
        recon_every=2,                # and only every other step (latent regression every step)
        real_batch=2,
        snapshot_every=100,
        log_every=10,
    )


ENCODER_TRAIN_PRESETS = {"paper": paper_encoder_train_config, "tiny": tiny_encoder_train_config}


def get_encoder_train_config(preset: str) -> EncoderTrainConfig:
    try:
        return ENCODER_TRAIN_PRESETS[preset]()
    except KeyError:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(ENCODER_TRAIN_PRESETS)}") from None


# --------------------------------------------------------------------------- face parser (train_parser.py)
@dataclass(frozen=True)
class ParserTrainConfig:
    preset: str = "paper"               # parser size preset (EncoderConfig.parser_*)
    batch: int = 16                     # images per step (generator + dataset)
    generator_fraction: float = 0.5     # share of the batch rendered by the generator when both sources exist
    views: int = 2                      # poses rendered per generator latent
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    psi_range: tuple[float, float] = (0.5, 1.0)
    mixing_prob: float = 0.9
    neural_resolution: int | None = None
    xflip: bool = True
    jitter: float = 0.15                # brightness/contrast jitter amplitude (images in [-1, 1])
    ce: float = 1.0                     # weight of the cross-entropy
    dice: float = 0.0                   # weight of the soft Dice (losses.soft_dice_loss): per-class overlap,
                                        # so lips, brows and eyes count as much as skin (held-out mIoU
                                        # 0.75/0.68 -> 0.84/0.81 on classic/rich SynthHeads, 1200 steps)
    repeat_batch: bool = False          # every step reuses step 0's batch (overfitting checks)
    snapshot_every: int = 500
    log_every: int = 10
    keep_snapshots: int = 2
    seed: int = 0
    num_threads: int | None = None

    def replace(self, **kw) -> "ParserTrainConfig":
        return dataclasses.replace(self, **kw)


def paper_parser_train_config() -> ParserTrainConfig:
    return ParserTrainConfig()


def tiny_parser_train_config() -> ParserTrainConfig:
    return ParserTrainConfig(preset="tiny", batch=8, snapshot_every=200, log_every=10)


PARSER_TRAIN_PRESETS = {"paper": paper_parser_train_config, "tiny": tiny_parser_train_config}


def get_parser_train_config(preset: str) -> ParserTrainConfig:
    try:
        return PARSER_TRAIN_PRESETS[preset]()
    except KeyError:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PARSER_TRAIN_PRESETS)}") from None


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
