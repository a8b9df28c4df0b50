"""Training the inversion encoders E_t, E_s and the canonical editor E_can (paper Sec. 3.2)
against a frozen generator.

Every step draws `batch` latents (z random, truncation psi ~ U[psi_range],
independent z for the shape code w_s and the texture code w_t so that the two
vary independently) and renders each from `views` random FFHQ-like poses
(multi-view augmentation) and from the canonical (frontal) view. Losses, each
weighted by an explicit field of `EncoderLossWeights`:

- latent regression (w-space L2) of E_t's 10 texture ws and E_s's 8 shape ws;
- yaw/pitch regression of the pose head (radians; E_t's, or E_s's with the
  encoder config's pose_from="mask", the tiny preset's);
- reconstruction: G(encoded ws) rendered from the input view against the input
  (L1 + perceptual on RGB, cross-entropy on the mask), through the frozen G;
- latent consistency: the k views of one latent must give the same ws
  (squared deviation of each view's prediction from the mean over the views);
- feature consistency: the k reconstructions rendered from one common view
  (the first view's camera) must look alike (perceptual distance);
- E_can: the same regression + reconstruction losses on the canonical renders;
- optionally SynthHeads images (`--data`): reconstruction losses, and with
  `--latents` (the per-head codes the generator run fitted, written next to its
  snapshots) latent and pose regression as well: the heads the generator was
  fitted to come with their W+ codes, which is supervision on the photo-like
  distribution and not only on the generator's random samples. Mirrored
  images get no latent target (the mirror of a head is another head).

Every random draw of step s is seeded from (seed, s): a run resumed from a
snapshot continues bit-exactly.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ide3d_backend import camera
from ide3d_backend.api import load_generator
from ide3d_backend.encoding import Encoders, build_encoders, save_encoders
from ide3d_backend.config import get_encoder_config
from ide3d_backend.model.backbone import TriPlanes
from ide3d_backend.perceptual import perceptual_distance

from .config import apply_overrides
from .losses import soft_dice_loss
from .loop import run_steps
from .snapshot import latest_snapshot, load_snapshot, save_snapshot


# --------------------------------------------------------------------------- configuration
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
    real_batch: int = 0                 # dataset images per step when --data is given
    pose_batch: int = 0                 # more dataset images per step for the pose term only: no
                                        # rendering, so the pose head sees many cameras cheaply
    xflip: bool = True                  # mirror dataset images at random
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


# --------------------------------------------------------------------------- shared helpers
def step_rng(seed: int, step: int, salt: int = 0) -> tuple[np.random.Generator, torch.Generator]:
    """The numpy and torch random streams of one step, from (seed, step, salt) only."""
    ss = np.random.SeedSequence([seed, step, salt])
    rng = np.random.default_rng(ss)
    gen = torch.Generator().manual_seed(int(ss.generate_state(1, dtype=np.uint64)[0] % (2 ** 63)))
    return rng, gen


@torch.no_grad()
def sample_ws(G, n: int, rng: np.random.Generator, gen: torch.Generator,
              psi_range=(0.5, 1.0), mixing_prob: float = 0.9) -> torch.Tensor:
    """n latents ws [n,18,w]: truncation psi ~ U[psi_range] per sample; with probability
    `mixing_prob` the shape code w_s and the texture code w_t come from different z."""
    dev = G.device
    z = torch.randn(2, n, G.z_dim, generator=gen).to(dev)
    c = camera.label_tensor(device=dev, batch=n)
    w1, w2 = G.mapping(z[0], c), G.mapping(z[1], c)
    mix = torch.as_tensor(rng.random(n) < mixing_prob, device=dev)
    w_t = torch.where(mix[:, None, None], w2, w1)[:, G.num_shape_ws:]
    ws = torch.cat([w1[:, :G.num_shape_ws], w_t], 1)
    psi = torch.as_tensor(rng.uniform(psi_range[0], psi_range[1], n), dtype=ws.dtype, device=dev)
    w_avg = G.mapping.w_avg
    return w_avg + psi[:, None, None] * (ws - w_avg)


def angles_to_labels(angles: np.ndarray, device) -> torch.Tensor:
    return torch.from_numpy(np.stack([camera.label_from_angles(y, p) for y, p in angles])).to(device)


def labels_to_angles(labels: torch.Tensor, dtype=torch.float32, device=None) -> torch.Tensor:
    """Camera labels [B,25] -> (yaw, pitch) [B,2] radians: the pose targets of dataset images."""
    return torch.tensor([camera.angles_from_label(l)[:2] for l in labels.cpu().numpy()], dtype=dtype, device=device)


def load_real_data(root: Path, resolution: int):
    """SynthHeads (or any EG3D-layout) dataset held in memory (training.train_generator's loader)."""
    try:
        from .train_generator import InMemoryDataset
        return InMemoryDataset(Path(root), resolution)
    except ModuleNotFoundError as exc:
        raise FileNotFoundError(f"cannot read datasets yet ({exc.name} is missing)") from None


def _repeat_planes(planes: TriPlanes, k: int) -> TriPlanes:
    return TriPlanes(planes.semantic.repeat(k, 1, 1, 1, 1), planes.texture.repeat(k, 1, 1, 1, 1))


def _mse(a, b):
    return (a - b).square().mean()


POSE_HEAD_RIDGE = 1.0  # weight decay of the read-out: a small one chased feature noise and broke on the first step


@torch.no_grad()
def fit_pose_head(enc: Encoders, data, ridge: float = POSE_HEAD_RIDGE, batch: int = 64) -> tuple[float, float]:
    """Set E_s's pose head to the ridge-regression read-out of (yaw, pitch) from E_s's
    features over every dataset image and its mirror: a new head then starts where its
    gradients would take it, instead of pulling the shape features along from zero.
    Returns the fit's root-mean-square error (yaw, pitch) in radians."""
    feats, targets = [], []
    for flip in (False, True):
        for i in range(0, len(data), batch):
            idx = np.arange(i, min(i + batch, len(data)))
            b = data.batch(idx, np.full(len(idx), flip))
            feats.append(enc.semantic.tower(enc._mask(b["mask"])).double().cpu())
            targets.append(labels_to_angles(b["label"], torch.float64))
    X = torch.cat([torch.cat(feats), torch.ones(sum(len(f) for f in feats), 1, dtype=torch.float64)], 1)
    y = torch.cat(targets)
    sol = torch.linalg.solve(X.T @ X + ridge * torch.eye(X.shape[1], dtype=X.dtype), X.T @ y)  # [F+1, 2]
    head = enc.semantic.pose
    head.weight.copy_((sol[:-1].T / head.weight_gain).to(head.weight))
    head.bias.copy_((sol[-1] / head.bias_gain).to(head.bias))
    err = (X @ sol - y).square().mean(0).sqrt()
    return float(err[0]), float(err[1])


# --------------------------------------------------------------------------- the trainer
class EncoderTrainer:
    def __init__(self, generator, run_dir: str | Path, cfg: EncoderTrainConfig,
                 data_dir: str | Path | None = None, device=None, latents_path: str | Path | None = None,
                 init_checkpoint: str | Path | None = None):
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if isinstance(generator, (str, Path)):
            self.generator_path = str(generator)
            generator = load_generator(generator, device=device or "cpu")
        else:
            self.generator_path = None
        self.G = generator.eval().requires_grad_(False)
        self.dev = self.G.device
        ecfg = get_encoder_config(cfg.preset)
        if ecfg.w_dim != self.G.w_dim:
            ecfg = dataclasses.replace(ecfg, w_dim=self.G.w_dim)  # follow the generator's latent size
        self.enc: Encoders = build_encoders(ecfg, seed=cfg.seed, device=self.dev).train()
        self.frontal = camera.label_tensor(device=self.dev)[0]
        self.data = None
        if data_dir is not None and (cfg.real_batch > 0 or cfg.pose_batch > 0):
            self.data = load_real_data(Path(data_dir), self.G.cfg.superres.output_resolution)
        self.init_note = None
        if init_checkpoint is not None:
            self.init_note = self._load_init(init_checkpoint)
        self.opt = torch.optim.Adam(self.enc.parameters(), lr=cfg.lr, betas=tuple(cfg.betas))
        self.head_ws = None  # [num_groups, num_ws, w] W+ code of every dataset head
        if latents_path is not None:
            if self.data is None:
                raise ValueError("--latents needs --data (the dataset the generator run was trained on)")
            from .latent_init import load_latents
            z = load_latents(latents_path, self.data).to(self.dev)
            with torch.no_grad():
                self.head_ws = self.G.mapping(z, self.frontal.expand(z.shape[0], -1))
        self.step = 0
        self.metrics_path = self.run_dir / "metrics.jsonl"

    def _load_init(self, path) -> str | None:
        """Fine-tune earlier encoders (e.g. those of the generator this one was --init from).
        Encoders of the same size that took the pose from the image may start a run that
        takes it from the mask: everything is copied but E_s's new pose head."""
        from ide3d_backend.encoding import load_encoders
        start = load_encoders(path, device=self.dev)
        if dataclasses.replace(start.cfg, pose_from=self.enc.cfg.pose_from) != self.enc.cfg:
            raise ValueError(f"{path} holds {start.cfg.preset!r} encoders of another size than "
                             f"the {self.cfg.preset!r} preset's; use --preset {start.cfg.preset}")
        if start.cfg.pose_from == self.enc.cfg.pose_from:
            self.enc.load_state_dict(start.state_dict())
            return None
        missing, unexpected = self.enc.load_state_dict(start.state_dict(), strict=False)
        if unexpected or not all(k.startswith("semantic.pose.") for k in missing):
            raise ValueError(f"{path}: cannot move the pose head from {start.cfg.pose_from!r} to "
                             f"{self.enc.cfg.pose_from!r} (missing {missing}, unexpected {unexpected})")
        note = (f"{path} took the pose from the {start.cfg.pose_from}; its weights were copied and the "
                f"{self.enc.cfg.pose_from} encoder's new pose head starts ")
        if self.data is None:
            return note + "fresh"
        rmse = fit_pose_head(self.enc, self.data)
        return note + f"as the least-squares read-out of its features on --data (rmse {rmse[0]:.3f} / {rmse[1]:.3f} rad)"

    def refit_pose_head(self) -> str:
        """E_s's pose head set to the ridge read-out of its current features on --data."""
        if self.data is None or self.enc.cfg.pose_from != "mask":
            raise ValueError("final_pose_fit needs --data and encoders that take the pose from the mask")
        rmse = fit_pose_head(self.enc, self.data)
        return f"pose head refitted on --data at step {self.step}: rmse {rmse[0]:.3f} / {rmse[1]:.3f} rad"

    # ------------------------------------------------------------------ state
    def save(self) -> Path:
        info = {"generator": self.generator_path,
                "config": {"train": asdict(self.cfg), "encoder": self.enc.cfg.to_dict()}}
        return save_snapshot(self.run_dir, self.step, {"enc": self.enc}, {"enc": self.opt}, {}, info,
                             keep=self.cfg.keep_snapshots)

    def resume(self) -> bool:
        path = latest_snapshot(self.run_dir)
        if path is None:
            return False
        _, info = load_snapshot(path, {"enc": self.enc}, {"enc": self.opt})
        self.step = int(info["step"])
        return True

    def export(self, path: str | Path) -> None:
        save_encoders(self.enc, path, extra={"step": self.step, "generator": self.generator_path,
                                              "train_config": asdict(self.cfg)})

    # ------------------------------------------------------------------ pieces
    def _render(self, ws, c, r=None, grad=False, planes=None):
        with torch.set_grad_enabled(grad):
            return self.G.synthesis(ws, c, neural_resolution=r or self.cfg.neural_resolution, noise_mode="const",
                                    planes=planes)

    def _recon_terms(self, out, image, mask, w_rgb, w_perc, w_mask, w_dice, prefix):
        terms = {}
        if w_rgb:
            terms[prefix + "rgb"] = w_rgb * (out["image"] - image).abs().mean()
        if w_perc:
            terms[prefix + "perceptual"] = w_perc * perceptual_distance(out["image"], image).mean()
        if w_mask:
            terms[prefix + "mask"] = w_mask * F.cross_entropy(out["semantic"], mask)
        if w_dice:
            terms[prefix + "mask_dice"] = w_dice * soft_dice_loss(out["semantic"], mask)
        return terms

    def make_batch(self, step: int) -> dict:
        """The synthetic inputs of a step (no gradients): latents, k views, canonical view."""
        cfg, G = self.cfg, self.G
        if cfg.repeat_batch and getattr(self, "_fixed_batch", None) is not None:
            return self._fixed_batch
        rng, gen = step_rng(cfg.seed, 0 if cfg.repeat_batch else step)
        B, k = cfg.batch, cfg.views
        ws = sample_ws(G, B, rng, gen, cfg.psi_range, cfg.mixing_prob)
        angles = camera.sample_angles(B * k, rng)          # view-major: index v * B + b
        c = angles_to_labels(angles, self.dev)
        with torch.no_grad():
            planes = G.planes(ws)  # one backbone pass serves all views of a latent
        out = self._render(ws.repeat(k, 1, 1), c, planes=_repeat_planes(planes, k))
        batch = {"ws": ws, "angles": torch.from_numpy(angles).float().to(self.dev), "c": c,
                 "image": out["image"], "mask": out["semantic"].argmax(1)}
        if cfg.canonical:
            can = self._render(ws, self.frontal.expand(B, -1), planes=planes)
            batch["image_can"], batch["mask_can"] = can["image"], can["semantic"].argmax(1)
        if self.data is not None and cfg.real_batch > 0:
            idx = rng.integers(0, len(self.data), size=cfg.real_batch)
            flips = rng.random(cfg.real_batch) < 0.5 if cfg.xflip else None
            batch["real"] = {key: v.to(self.dev) for key, v in self.data.batch(idx, flips).items()}
            batch["real"]["flipped"] = torch.as_tensor(flips if flips is not None else np.zeros(len(idx), bool),
                                                       device=self.dev)
        if self.data is not None and cfg.pose_batch > 0:  # drawn last: other settings' streams stay as they were
            idx = rng.integers(0, len(self.data), size=cfg.pose_batch)
            flips = rng.random(cfg.pose_batch) < 0.5 if cfg.xflip else None
            extra = self.data.batch(idx, flips)
            batch["pose_images"] = {key: extra[key].to(self.dev) for key in ("image", "mask", "label")}
        if cfg.repeat_batch:
            self._fixed_batch = batch
        return batch

    def losses(self, batch: dict, with_recon: bool = True) -> dict[str, torch.Tensor]:
        cfg, w, G, enc = self.cfg, self.cfg.weights, self.G, self.enc
        B, k, S = cfg.batch, cfg.views, G.num_shape_ws
        r_rec = cfg.recon_neural_resolution or cfg.neural_resolution
        w_avg = G.mapping.w_avg
        ws_true = batch["ws"].repeat(k, 1, 1)
        shape, tex, pose = enc.offsets_and_pose(batch["image"], batch["mask"])
        ws_hat = w_avg + torch.cat([shape, tex], 1)
        terms: dict[str, torch.Tensor] = {}
        terms["latent_t"] = w.latent_t * _mse(ws_hat[:, S:], ws_true[:, S:])
        terms["latent_s"] = w.latent_s * _mse(ws_hat[:, :S], ws_true[:, :S])
        terms["pose"] = w.pose * _mse(pose, batch["angles"])
        if k > 1 and w.latent_consistency:
            per_view = ws_hat.view(k, B, *ws_hat.shape[1:])
            terms["latent_consistency"] = w.latent_consistency * (per_view - per_view.mean(0)).square().mean()
        if with_recon and (w.rgb or w.perceptual or w.mask or w.mask_dice or w.feature_consistency):
            c_rec = camera.labels_from_angles(pose[:, 0], pose[:, 1]) if cfg.recon_pose == "predicted" else batch["c"]
            planes = G.planes(ws_hat)
            rec = self._render(ws_hat, c_rec, r_rec, grad=True, planes=planes)
            terms.update(self._recon_terms(rec, batch["image"], batch["mask"], w.rgb, w.perceptual, w.mask,
                                            w.mask_dice, ""))
            if k > 1 and w.feature_consistency:
                # Views 1..k-1 re-rendered from view 0's camera, compared with view 0's reconstruction.
                c0 = c_rec[:B].repeat(k - 1, 1)
                others = self._render(ws_hat[B:], c0, r_rec, grad=True,
                                      planes=TriPlanes(planes.semantic[B:], planes.texture[B:]))["image"]
                ref = rec["image"][:B].repeat(k - 1, 1, 1, 1)
                terms["feature_consistency"] = w.feature_consistency * perceptual_distance(others, ref).mean()
        if cfg.canonical and "image_can" in batch:
            ws_can = w_avg + enc.canonical_offsets(batch["image_can"], batch["mask_can"])
            terms["can_latent"] = w.can_latent * _mse(ws_can, batch["ws"])
            if with_recon and (w.can_rgb or w.can_perceptual or w.can_mask or w.can_mask_dice):
                rec = self._render(ws_can, self.frontal.expand(B, -1), r_rec, grad=True)
                terms.update(self._recon_terms(rec, batch["image_can"], batch["mask_can"],
                                               w.can_rgb, w.can_perceptual, w.can_mask, w.can_mask_dice, "can_"))
        if "real" in batch and (with_recon or self.head_ws is not None or w.real_pose):
            real = batch["real"]
            shape_real, tex, pose_real = enc.offsets_and_pose(real["image"], real["mask"])
            ws_real = w_avg + torch.cat([shape_real, tex], 1)
            if self.head_ws is not None:
                keep = ~real["flipped"]
                if keep.any():
                    target = self.head_ws[real["group"][keep]]
                    terms["real_latent"] = w.real_latent * _mse(ws_real[keep], target)
        if w.real_pose and ("real" in batch or "pose_images" in batch):
            # Every dataset image knows its camera (a mirrored one its mirrored camera),
            # so the pose target needs no per-head codes.
            preds, labels = [], []
            if "real" in batch:
                preds.append(pose_real)
                labels.append(batch["real"]["label"])
            if "pose_images" in batch:
                preds.append(enc.pose(batch["pose_images"]["image"], batch["pose_images"]["mask"]))
                labels.append(batch["pose_images"]["label"])
            pred = torch.cat(preds)
            terms["real_pose"] = w.real_pose * _mse(pred, labels_to_angles(torch.cat(labels), pred.dtype, self.dev))
        if with_recon and "real" in batch:
            rec = self._render(ws_real, real["label"], r_rec, grad=True)
            image, mask = real["image"], real["mask"]
            R = rec["image"].shape[-1]
            if image.shape[-1] != R:
                image = F.interpolate(image, size=(R, R), mode="area")
                mask = F.interpolate(mask[:, None].float(), size=(R, R), mode="nearest")[:, 0].long()
            terms.update(self._recon_terms(rec, image, mask, w.real_rgb, w.real_perceptual, w.real_mask,
                                            w.real_mask_dice, "real_"))
        return terms

    def train_step(self) -> dict[str, float]:
        cfg = self.cfg
        torch.manual_seed(cfg.seed * 1_000_003 + self.step)  # nothing should draw from it; pin it anyway
        batch = self.make_batch(self.step)
        with_recon = cfg.recon_every > 0 and self.step % cfg.recon_every == 0
        self.enc.train()
        if cfg.lr_warmup_steps:
            for group in self.opt.param_groups:
                group["lr"] = cfg.lr * min(1.0, (self.step + 1) / cfg.lr_warmup_steps)
        self.opt.zero_grad(set_to_none=True)
        terms = self.losses(batch, with_recon)
        loss = sum(terms.values())
        loss.backward()
        self.opt.step()
        self.step += 1
        logs = {name: float(v.detach()) for name, v in terms.items()}
        logs["loss"] = float(loss.detach())
        return logs

    def train(self, steps: int, progress: bool = True) -> dict:
        """Run until `steps` total steps (counting resumed ones); returns the last logs."""
        return run_steps(self, steps, progress, "train encoders", "loss")


# --------------------------------------------------------------------------- CLI
def run(args) -> int:
    cfg = apply_overrides(get_encoder_train_config(args.preset), args.set)
    if args.steps is not None:
        steps = args.steps
    else:
        raise ValueError("give --steps N (total steps of the run, counting resumed ones)")
    torch.set_num_threads(args.threads or cfg.num_threads or torch.get_num_threads())
    init = args.init
    if args.resume and latest_snapshot(Path(args.out)) is not None:
        init = None  # the snapshot holds the weights: --init (and its pose-head fit) only starts a new run
    trainer = EncoderTrainer(args.generator, args.out, cfg, data_dir=args.data, device=args.device,
                             latents_path=args.latents, init_checkpoint=init)
    if args.resume and trainer.resume():
        print(f"resumed {args.out} at step {trainer.step}", file=sys.stderr)
    elif trainer.init_note:
        print(trainer.init_note, file=sys.stderr)
    trainer.train(steps, progress=not args.quiet)
    if cfg.final_pose_fit:
        print(trainer.refit_pose_head(), file=sys.stderr)
    out = Path(args.out) / "encoders.safetensors"
    trainer.export(out)
    print(f"wrote {out}")
    return 0


def register(tsub: argparse._SubParsersAction) -> None:
    p = tsub.add_parser("encoders", help="train E_t, E_s and the canonical editor against a frozen generator")
    p.add_argument("--generator", required=True, type=Path, help="generator checkpoint (frozen)")
    p.add_argument("--out", required=True, type=Path, help="run folder: snapshots, metrics.jsonl, encoders.safetensors")
    p.add_argument("--preset", default="tiny", choices=sorted(ENCODER_TRAIN_PRESETS))
    p.add_argument("--data", type=Path, default=None, help="optional dataset folder (reconstruction losses only)")
    p.add_argument("--latents", type=Path, default=None,
                   help="per-head codes of the generator run on --data (RUN/latents.safetensors): "
                        "latent + pose targets for dataset images")
    p.add_argument("--init", type=Path, default=None,
                   help="start from these encoders instead of random weights (fine-tuning)")
    p.add_argument("--steps", type=int, default=None, help="total steps, counting resumed ones")
    p.add_argument("--resume", action="store_true", help="continue from the run folder's latest snapshot")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a setting, e.g. batch=4 or weights.pose=2")
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)
