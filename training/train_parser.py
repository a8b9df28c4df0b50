"""Training the face parser (RGB -> 19-class mask), which gives E_s its input
when a user brings a photo without a mask.

Sources, mixed in every step: the generator's paired RGB/mask renders (random
latents, truncation psi ~ U[psi_range], FFHQ-like poses) and SynthHeads images
with their masks. Both are mirrored at random (left/right classes swapped, as
`semantics.flip_mask`) and jittered in brightness/contrast. Loss: per-pixel
cross-entropy. Every random draw of step s is seeded from (seed, s), so resumed
runs continue bit-exactly.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ide3d_backend import camera
from ide3d_backend.api import load_generator
from ide3d_backend.config import get_encoder_config
from ide3d_backend.encoding import build_parser, parser_logits, resize_image, save_parser
from ide3d_backend.semantics import FLIP_PERMUTATION

from .snapshot import latest_snapshot, load_snapshot, save_snapshot
from .loop import run_steps
from .config import apply_overrides
from .train_encoders import (_repeat_planes, angles_to_labels, load_real_data,
                             sample_ws, step_rng)


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


def _resize_mask(mask: torch.Tensor, size: int) -> torch.Tensor:
    if mask.shape[-1] == size and mask.shape[-2] == size:
        return mask
    return F.interpolate(mask[:, None].float(), size=(size, size), mode="nearest")[:, 0].long()


class ParserTrainer:
    def __init__(self, run_dir: str | Path, cfg: ParserTrainConfig, generator=None,
                 data_dir: str | Path | None = None, device=None):
        if generator is None and data_dir is None:
            raise ValueError("the parser needs training images: give --generator CKPT and/or --data DIR")
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.generator_path = None
        if isinstance(generator, (str, Path)):
            self.generator_path = str(generator)
            generator = load_generator(generator, device=device or "cpu")
        self.G = generator.eval().requires_grad_(False) if generator is not None else None
        self.dev = self.G.device if self.G is not None else torch.device(device or "cpu")
        self.pcfg = get_encoder_config(cfg.preset)
        self.parser = build_parser(self.pcfg, seed=cfg.seed, device=self.dev).train()
        self.opt = torch.optim.Adam(self.parser.parameters(), lr=cfg.lr, betas=tuple(cfg.betas))
        self.data = load_real_data(Path(data_dir), self.pcfg.parser_resolution) if data_dir is not None else None
        self.step = 0
        self.metrics_path = self.run_dir / "metrics.jsonl"
        self._fixed_batch = None

    def save(self) -> Path:
        info = {"generator": self.generator_path, "config": {"train": asdict(self.cfg), "parser": self.pcfg.to_dict()}}
        return save_snapshot(self.run_dir, self.step, {"parser": self.parser}, {"parser": self.opt}, {}, info,
                             keep=self.cfg.keep_snapshots)

    def resume(self) -> bool:
        path = latest_snapshot(self.run_dir)
        if path is None:
            return False
        _, info = load_snapshot(path, {"parser": self.parser}, {"parser": self.opt})
        self.step = int(info["step"])
        return True

    def export(self, path: str | Path) -> None:
        save_parser(self.parser, path, extra={"step": self.step, "generator": self.generator_path,
                                              "train_config": asdict(self.cfg)})

    def make_batch(self, step: int) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        if cfg.repeat_batch and self._fixed_batch is not None:
            return self._fixed_batch
        rng, gen = step_rng(cfg.seed, 0 if cfg.repeat_batch else step, 1)
        res = self.pcfg.parser_resolution
        n_gen = cfg.batch if self.data is None else (0 if self.G is None else int(round(cfg.batch * cfg.generator_fraction)))
        images, masks = [], []
        if n_gen:
            k = max(1, min(cfg.views, n_gen))
            n_lat = -(-n_gen // k)
            ws = sample_ws(self.G, n_lat, rng, gen, cfg.psi_range, cfg.mixing_prob)
            c = angles_to_labels(camera.sample_angles(n_lat * k, rng), self.dev)
            with torch.no_grad():
                out = self.G.synthesis(ws.repeat(k, 1, 1), c, neural_resolution=cfg.neural_resolution,
                                       planes=_repeat_planes(self.G.planes(ws), k))
            images.append(resize_image(out["image"][:n_gen], res))
            masks.append(_resize_mask(out["semantic"][:n_gen].argmax(1), res))
        n_real = cfg.batch - n_gen
        if n_real:
            idx = rng.integers(0, len(self.data), size=n_real)
            real = self.data.batch(idx)
            images.append(resize_image(real["image"].to(self.dev), res))
            masks.append(_resize_mask(real["mask"].to(self.dev), res))
        image, mask = torch.cat(images), torch.cat(masks)
        if cfg.xflip:
            flip = torch.as_tensor(rng.random(len(image)) < 0.5, device=self.dev)
            perm = torch.as_tensor(FLIP_PERMUTATION, device=self.dev)
            image = torch.where(flip[:, None, None, None], image.flip(-1), image)
            mask = torch.where(flip[:, None, None], perm[mask.flip(-1)], mask)
        if cfg.jitter:
            scale = torch.as_tensor(1 + rng.uniform(-cfg.jitter, cfg.jitter, len(image)), dtype=image.dtype)
            shift = torch.as_tensor(rng.uniform(-cfg.jitter, cfg.jitter, len(image)), dtype=image.dtype)
            image = (image * scale.to(self.dev)[:, None, None, None] + shift.to(self.dev)[:, None, None, None]).clamp(-1, 1)
        batch = {"image": image, "mask": mask}
        if cfg.repeat_batch:
            self._fixed_batch = batch
        return batch

    def loss(self, batch) -> torch.Tensor:
        return self.cfg.ce * F.cross_entropy(parser_logits(self.parser, batch["image"]), batch["mask"])

    def train_step(self) -> dict[str, float]:
        batch = self.make_batch(self.step)
        self.parser.train()
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss(batch)
        loss.backward()
        self.opt.step()
        self.step += 1
        return {"ce": float(loss.detach())}

    def train(self, steps: int, progress: bool = True) -> dict:
        """Run until `steps` total steps (counting resumed ones); returns the last logs."""
        return run_steps(self, steps, progress, "train parser", "ce")


def run(args) -> int:
    cfg = apply_overrides(get_parser_train_config(args.preset), args.set)
    if args.steps is None:
        raise ValueError("give --steps N (total steps of the run, counting resumed ones)")
    torch.set_num_threads(args.threads or cfg.num_threads or torch.get_num_threads())
    trainer = ParserTrainer(args.out, cfg, generator=args.generator, data_dir=args.data, device=args.device)
    if args.resume and trainer.resume():
        print(f"resumed {args.out} at step {trainer.step}", file=sys.stderr)
    trainer.train(args.steps, progress=not args.quiet)
    out = Path(args.out) / "parser.safetensors"
    trainer.export(out)
    print(f"wrote {out}")
    return 0


def register(tsub: argparse._SubParsersAction) -> None:
    p = tsub.add_parser("parser", help="train the face parser on generator renders and/or a dataset")
    p.add_argument("--out", required=True, type=Path, help="run folder: snapshots, metrics.jsonl, parser.safetensors")
    p.add_argument("--generator", type=Path, default=None, help="generator checkpoint giving paired RGB/mask renders")
    p.add_argument("--data", type=Path, default=None, help="dataset folder with images and masks (e.g. SynthHeads)")
    p.add_argument("--preset", default="tiny", choices=sorted(PARSER_TRAIN_PRESETS))
    p.add_argument("--steps", type=int, default=None, help="total steps, counting resumed ones")
    p.add_argument("--resume", action="store_true", help="continue from the run folder's latest snapshot")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a setting, e.g. batch=4")
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)
