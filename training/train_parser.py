"""Training the face parser (RGB -> 19-class mask), which gives E_s its input
when a user brings a photo without a mask.

Sources, mixed in every step: the generator's paired RGB/mask renders (random
latents, truncation psi ~ U[psi_range], FFHQ-like poses) and SynthHeads images
with their masks. Both are mirrored at random (left/right classes swapped, as
`semantics.flip_mask`) and jittered in brightness/contrast. Loss: per-pixel
cross-entropy, plus soft Dice with `dice` > 0. Every random draw of step s is
seeded from (seed, s), so resumed runs continue bit-exactly.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F

from ide3d_backend import camera
from ide3d_backend.config import get_encoder_config
from ide3d_backend.encoding import build_parser, parser_logits, resize_image, save_parser
from ide3d_backend.semantics import FLIP_PERMUTATION

from .config import ParserTrainConfig
from .dataset import InMemoryDataset
from .losses import soft_dice_loss
from .run import RunTrainer
from .synthetic import angles_to_labels, frozen_generator, sample_ws, step_rng


def _resize_mask(mask: torch.Tensor, size: int) -> torch.Tensor:
    if mask.shape[-1] == size and mask.shape[-2] == size:
        return mask
    return F.interpolate(mask[:, None].float(), size=(size, size), mode="nearest")[:, 0].long()


class ParserTrainer(RunTrainer):
    desc = "train parser"
    shown = "ce"
    export_name = "parser.safetensors"

    def __init__(self, run_dir: str | Path, cfg: ParserTrainConfig, generator=None,
                 data_dir: str | Path | None = None, device=None):
        if generator is None and data_dir is None:
            raise ValueError("the parser needs training images: give --generator CKPT and/or --data DIR")
        super().__init__(run_dir, cfg)
        self.G, self.generator_path = frozen_generator(generator, device)
        self.dev = self.G.device if self.G is not None else torch.device(device or "cpu")
        self.pcfg = get_encoder_config(cfg.preset)
        self.parser = build_parser(self.pcfg, seed=cfg.seed, device=self.dev).train()
        self.opt = torch.optim.Adam(self.parser.parameters(), lr=cfg.lr, betas=tuple(cfg.betas))
        self.data = InMemoryDataset(Path(data_dir), self.pcfg.parser_resolution) if data_dir is not None else None
        self._fixed_batch = None

    # ------------------------------------------------------------------ run folder (RunTrainer)
    def snapshot_modules(self):
        return {"parser": self.parser}

    def snapshot_optimizers(self):
        return {"parser": self.opt}

    def snapshot_info(self):
        return {"generator": self.generator_path, "config": {"train": asdict(self.cfg), "parser": self.pcfg.to_dict()}}

    def write_network(self, path, extra):
        save_parser(self.parser, path, extra=extra)

    def export_info(self):
        return {"generator": self.generator_path}

    # ------------------------------------------------------------------ steps

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
                                       planes=self.G.planes(ws).repeat(k))
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

    def loss_terms(self, batch) -> dict[str, torch.Tensor]:
        """Unweighted terms: per-pixel cross-entropy and (when weighted) soft Dice."""
        logits = parser_logits(self.parser, batch["image"])
        terms = {"ce": F.cross_entropy(logits, batch["mask"])}
        if self.cfg.dice:
            terms["dice"] = soft_dice_loss(logits, batch["mask"])
        return terms

    def weighted_sum(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.cfg.ce * terms["ce"] + self.cfg.dice * terms.get("dice", 0.0)

    def train_step(self) -> dict[str, float]:
        batch = self.make_batch(self.step)
        self.parser.train()
        self.opt.zero_grad(set_to_none=True)
        terms = self.loss_terms(batch)
        loss = self.weighted_sum(terms)
        loss.backward()
        self.opt.step()
        self.step += 1
        return {name: float(t.detach()) for name, t in terms.items()}
