"""Training the 3D-semantics-aware generator.

Two phases of one trainer (README, "Training"):
1. `recon`: supervised multi-view reconstruction. Every training head owns a
   learnable latent z_i (as in GLO); the generator renders the head's ground-truth
   views and is fitted to their RGB, masks and depth. This learns geometry,
   semantics and texture from few images, which is what two CPU cores can afford.
2. `adversarial`: the paper's GAN objective with the dual discriminator,
   non-saturating loss, lazy R1 per branch, density regularisation, pose-
   conditioning swap, blur init, style mixing, EMA and x-flip. With
   `adv_recon_fraction > 0` part of each batch keeps the reconstruction loss so
   the heads learnt in phase 1 are not forgotten.

Every random draw of step s is seeded from (seed, s, rank), so a run resumed
from a snapshot continues bit-exactly.
"""
from __future__ import annotations

import copy
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ide3d_backend import camera
from ide3d_backend.api import build_generator, load_generator, save_generator
from ide3d_backend.config import get_config
from ide3d_backend.model.discriminator import DualDiscriminator
from ide3d_backend.perceptual import gaussian_blur

from . import losses
from .config import GeneratorTrainConfig
from .dataset import InMemoryDataset
from .distributed import DistContext, all_reduce_gradients, broadcast_module
from .run import RunTrainer


def _step_generator(seed: int, step: int, rank: int, salt: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(np.random.SeedSequence([seed, step, rank, salt]).generate_state(1)[0]))


@torch.no_grad()
def write_sample_grid(G, head_z: torch.Tensor, randoms: int, path: Path, neural_resolution: int | None = None):
    """A PNG of rows (training heads' codes, then `randoms` random heads at truncation 0.7),
    each three views (yaw -0.5, 0, 0.5) of RGB followed by the same views' masks."""
    from PIL import Image

    from ide3d_backend import imaging
    dev = G.device
    z = torch.cat([head_z.to(dev), torch.randn(randoms, G.z_dim, generator=torch.Generator().manual_seed(123)).to(dev)])
    frontal = camera.label_tensor(device=dev)[0]
    ws = G.mapping(z, frontal.expand(z.shape[0], -1))
    n_h = head_z.shape[0]
    ws[n_h:] = G.mapping.w_avg.lerp(ws[n_h:], 0.7)
    rows = []
    for i in range(z.shape[0]):
        rgb, masks = [], []
        planes = G.planes(ws[i:i + 1])
        for yaw in (-0.5, 0.0, 0.5):
            c = camera.label_tensor(yaw, 0.0, dev)
            out = G.synthesis(ws[i:i + 1], c, neural_resolution=neural_resolution, planes=planes)
            rgb.append(imaging.to_uint8(out["image"]))
            masks.append(imaging.mask_from_logits(out["semantic"]))
        rows.append(imaging.strip(rgb + masks))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, 0)).save(path)


class GeneratorTrainer(RunTrainer):
    desc = "train G"
    export_name = "generator.safetensors"

    def __init__(self, data_dir: str | Path, run_dir: str | Path, cfg: GeneratorTrainConfig,
                 ctx: DistContext | None = None, init_checkpoint: str | Path | None = None,
                 adv_recon_fraction: float | None = None):
        super().__init__(run_dir, cfg)
        self.ctx = ctx or DistContext()
        self.dev = self.ctx.device
        gcfg = get_config(cfg.preset)
        if init_checkpoint:
            self.G = load_generator(init_checkpoint, device=self.dev).requires_grad_(True).train()
        else:
            self.G = build_generator(gcfg, seed=cfg.seed, device=self.dev).train()
        self.gcfg = self.G.cfg
        res = self.gcfg.superres.output_resolution
        self.data = InMemoryDataset(Path(data_dir), res)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed + 1)
            self.D = DualDiscriminator(res, self.gcfg.decoder.num_classes, self.gcfg.mapping.c_dim,
                                       channel_base=cfg.d_channel_base, channel_max=cfg.d_channel_max).to(self.dev)
            self.latents = torch.nn.Parameter(torch.randn(self.data.num_groups, self.G.z_dim, device=self.dev))
        broadcast_module(self.G, self.ctx)
        broadcast_module(self.D, self.ctx)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        g_lr = cfg.recon_lr_g
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=g_lr, betas=cfg.betas)
        self.opt_latent = torch.optim.Adam([self.latents], lr=cfg.recon_lr_latent, betas=(0.9, 0.99))
        c = cfg.r1_interval / (cfg.r1_interval + 1)  # lazy-regularisation correction (StyleGAN2)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d * c, betas=(cfg.betas[0] ** c, cfg.betas[1] ** c))
        self.adv_recon_fraction = (0.5 if cfg.preset == "tiny" else 0.0) if adv_recon_fraction is None else adv_recon_fraction
        self.nimg = 0
        self.frontal = camera.label_tensor(device=self.dev)[0]
        self.per_rank_batch = max(1, cfg.batch // self.ctx.world_size)

    # ----------------------------------------------------------------- run folder (RunTrainer)
    @property
    def is_main(self) -> bool:
        return self.ctx.is_main

    def snapshot_modules(self):
        return {"G": self.G, "G_ema": self.G_ema, "D": self.D}

    def snapshot_optimizers(self):
        return {"g": self.opt_g, "d": self.opt_d, "latent": self.opt_latent}

    def snapshot_tensors(self):
        return {"latents": self.latents.detach()}

    def snapshot_info(self):
        return {"nimg": self.nimg, "config": {"train": asdict(self.cfg), "generator": self.gcfg.to_dict()}}

    def resizable_modules(self):
        # A discriminator that has not trained yet (recon phase) may be resized between runs.
        marker = self.run_dir / "latest.json"
        step = int(json.loads(marker.read_text())["step"]) if marker.exists() else None
        return {"D": "d"} if step is not None and step <= self.cfg.recon_steps else None

    def restore(self, tensors, info):
        if info["reinitialised"]:
            print(f"note: {', '.join(info['reinitialised'])} re-initialised (its size changed before it trained)")
        with torch.no_grad():
            self.latents.copy_(tensors["latents"])
        self.step, self.nimg = int(info["step"]), int(info["nimg"])

    def write_network(self, path, extra):
        """The EMA generator as a plain generator checkpoint (what load_generator reads)."""
        save_generator(self.G_ema, path, extra=extra)

    def export_info(self):
        return {"kimg": self.kimg}

    # ----------------------------------------------------------------- schedule
    @property
    def kimg(self) -> float:
        return self.nimg / 1000

    def phase(self, step: int | None = None) -> str:
        return "recon" if (self.step if step is None else step) < self.cfg.recon_steps else "adversarial"

    def neural_resolution(self) -> int:
        res = self.cfg.neural_schedule[0][1]
        for start, r in self.cfg.neural_schedule:
            if self.kimg >= start:
                res = r
        return res

    def _set_lr(self, phase: str):
        lr = self.cfg.recon_lr_g if phase == "recon" else self.cfg.lr_g
        for g in self.opt_g.param_groups:
            g["lr"] = lr

    # ----------------------------------------------------------------- helpers
    def _sample_real(self, rng: np.random.Generator, n: int, xflip: bool) -> dict[str, torch.Tensor]:
        idx = rng.integers(0, len(self.data), size=n)
        flips = rng.random(n) < 0.5 if xflip else None
        return {k: v.to(self.dev) for k, v in self.data.batch(idx, flips).items()}

    def _conditioning(self, c_render: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        if self.cfg.conditioning == "frontal":
            return self.frontal.expand(c_render.shape[0], -1)
        fade = min(1.0, self.kimg / max(self.cfg.pose_swap_fade_kimg, 1e-9))
        prob = 1.0 + (self.cfg.pose_swap_prob - 1.0) * fade
        swap = torch.as_tensor(rng.random(c_render.shape[0]) < prob, device=self.dev)
        other = self.data.labels[torch.as_tensor(rng.integers(0, len(self.data), c_render.shape[0]))].to(self.dev)
        return torch.where(swap[:, None], other, c_render)

    def _mapping(self, z, c_cond, rng: np.random.Generator, gen: torch.Generator):
        ws = self.G.mapping(z, c_cond, update_w_avg=True)
        if self.cfg.style_mixing_prob > 0 and rng.random() < self.cfg.style_mixing_prob:
            cutoff = int(rng.integers(1, self.G.num_ws))
            z2 = torch.randn(z.shape, generator=gen).to(self.dev)
            ws2 = self.G.mapping(z2, c_cond)
            ws = torch.cat([ws[:, :cutoff], ws2[:, cutoff:]], 1)
        return ws

    def _blur_sigma(self) -> float:
        if self.cfg.blur_init_sigma <= 0 or self.cfg.blur_fade_kimg <= 0:
            return 0.0
        return self.cfg.blur_init_sigma * max(0.0, 1 - self.kimg / self.cfg.blur_fade_kimg)

    def _d_inputs(self, image, image_raw, sem_probs, sem_raw):
        s = self._blur_sigma()
        if s > 0:
            image, image_raw = gaussian_blur(image, s), gaussian_blur(image_raw, s * image_raw.shape[-1] / image.shape[-1])
        return self.D.rgb_input(image, image_raw), self.D.semantic_input(sem_probs, sem_raw)

    def _fake_d_inputs(self, fake, raw_from_image: bool | None = None):
        """D's inputs for generated images; raw_from_image (default: cfg.d_raw_from_image)
        picks the low-resolution RGB: the neural render, or the image downsampled."""
        raw = fake["image_raw"]
        if self.cfg.d_raw_from_image if raw_from_image is None else raw_from_image:
            raw = F.interpolate(fake["image"], size=raw.shape[-2:], mode="area")
        return self._d_inputs(fake["image"], raw, fake["semantic"].softmax(1), fake["semantic_raw"])

    def _real_d_inputs(self, real):
        r = self.neural_resolution()
        onehot = losses.onehot_semantics(real["mask"], self.gcfg.decoder.num_classes)
        raw = F.interpolate(real["image"], size=(r, r), mode="area")
        sem_raw = F.interpolate(onehot, size=(r, r), mode="area")
        return self._d_inputs(real["image"], raw, onehot, sem_raw)

    def _recon_terms(self, real, gen) -> dict[str, torch.Tensor]:
        z = self.latents[real["group"]]
        c_cond = self.frontal.expand(z.shape[0], -1)
        ws = self.G.mapping(z, c_cond, update_w_avg=True)
        out = self.G.synthesis(ws, real["label"], neural_resolution=self.neural_resolution(),
                               noise_mode="random", perturb=True, generator=gen)
        terms = losses.reconstruction_losses(out, real, self.cfg.recon)
        terms["latent_l2"] = self.cfg.recon.latent_l2 * z.square().mean()
        self._last_planes = out["planes"]
        return terms

    def _density_reg(self, planes, gen) -> torch.Tensor:
        return self.cfg.density_reg * self.cfg.density_reg_interval * losses.density_regularization(
            self.G, planes, self.cfg.density_reg_points, self.cfg.density_reg_perturb, gen)

    def _optimizer_step(self, opt, params):
        all_reduce_gradients(params, self.ctx)
        opt.step()

    def _generator_step(self, phase: str, rng: np.random.Generator, gen: torch.Generator, B: int,
                        reg_density: bool) -> dict[str, float]:
        cfg, logs = self.cfg, {}
        self.G.requires_grad_(True)
        self.D.requires_grad_(False)
        self.opt_g.zero_grad(set_to_none=True)
        self.opt_latent.zero_grad(set_to_none=True)
        if phase == "recon":
            real = self._sample_real(rng, B, xflip=False)
            terms = self._recon_terms(real, gen)
            planes = self._last_planes
        else:
            n_rec = int(round(B * self.adv_recon_fraction))
            terms = {}
            if n_rec:
                terms = {f"rec_{k}": v for k, v in self._recon_terms(self._sample_real(rng, n_rec, False), gen).items()}
            n_fake = B - n_rec
            c_render = self._sample_real(rng, n_fake, cfg.xflip)["label"]
            z = torch.randn(n_fake, self.G.z_dim, generator=gen).to(self.dev)
            ws = self._mapping(z, self._conditioning(c_render, rng), rng, gen)
            fake = self.G.synthesis(ws, c_render, neural_resolution=self.neural_resolution(),
                                    noise_mode="random", perturb=True, generator=gen)
            d_rgb, d_sem = self._fake_d_inputs(fake)
            g_adv = losses.generator_adversarial(self.D(d_rgb, d_sem, c_render))
            terms["g_adv"] = cfg.adv_weight * g_adv
            logs["g_adv_unweighted"] = float(g_adv.detach())
            planes = fake["planes"]
        if reg_density:
            terms["density_reg"] = self._density_reg(planes, gen)
        loss = sum(terms.values())
        loss.backward()
        self._optimizer_step(self.opt_g, list(self.G.parameters()))
        if phase == "recon" or self.adv_recon_fraction > 0:
            all_reduce_gradients([self.latents], self.ctx)
            self.opt_latent.step()
        logs.update({k: float(v.detach()) for k, v in terms.items()})
        logs["g_loss"] = float(loss.detach())
        return logs

    # ----------------------------------------------------------------- steps
    def train_step(self) -> dict[str, float]:
        cfg, step = self.cfg, self.step
        phase = self.phase()
        self._set_lr(phase)
        rng = np.random.default_rng([cfg.seed, step, self.ctx.rank])
        gen = _step_generator(cfg.seed, step, self.ctx.rank, 0)
        torch.manual_seed(int(gen.initial_seed() % (2 ** 31)))  # noise inputs
        B = self.per_rank_batch
        logs: dict[str, float] = {}
        reg_density = cfg.density_reg > 0 and step % cfg.density_reg_interval == 0

        # ---- generator (and latents); skipped while the discriminator warms up
        d_warmup = phase == "adversarial" and step - cfg.recon_steps < cfg.d_warmup_steps
        if not d_warmup:
            logs.update(self._generator_step(phase, rng, gen, B, reg_density))
        else:
            logs["d_warmup"] = 1.0

        # ---- discriminator
        if phase == "adversarial":
            self.G.requires_grad_(False)
            self.D.requires_grad_(True)
            self.opt_d.zero_grad(set_to_none=True)
            with torch.no_grad():
                z = torch.randn(B, self.G.z_dim, generator=gen).to(self.dev)
                c_render = self._sample_real(rng, B, cfg.xflip)["label"]
                ws = self._mapping(z, self._conditioning(c_render, rng), rng, gen)
                fake = self.G.synthesis(ws, c_render, neural_resolution=self.neural_resolution(),
                                        noise_mode="random", perturb=True, generator=gen)
            fake_rgb, fake_sem = self._fake_d_inputs(fake)
            real = self._sample_real(rng, B, cfg.xflip)
            real_rgb, real_sem = self._real_d_inputs(real)
            do_r1 = cfg.r1_interval > 0 and step % cfg.r1_interval == 0
            if do_r1:
                real_rgb, real_sem = real_rgb.detach().requires_grad_(True), real_sem.detach().requires_grad_(True)
            real_logits = self.D(real_rgb, real_sem, real["label"])
            fake_logits = self.D(fake_rgb, fake_sem, c_render)
            d_loss = losses.discriminator_adversarial(real_logits, fake_logits)
            logs["d_loss"] = float(d_loss.detach())
            logs["d_real"] = float(sum(l.detach().mean() for l in real_logits))
            logs["d_fake"] = float(sum(l.detach().mean() for l in fake_logits))
            if do_r1:
                r1_rgb = losses.r1_penalty(real_logits[0], real_rgb).mean()
                r1_sem = losses.r1_penalty(real_logits[1], real_sem).mean()
                reg = (cfg.r1_gamma_rgb / 2 * r1_rgb + cfg.r1_gamma_semantic / 2 * r1_sem) * cfg.r1_interval
                d_loss = d_loss + reg
                logs["r1_rgb"], logs["r1_semantic"] = float(r1_rgb.detach()), float(r1_sem.detach())
            d_loss.backward()
            self._optimizer_step(self.opt_d, list(self.D.parameters()))

        # ---- EMA
        self.nimg += B * self.ctx.world_size
        self._update_ema(B * self.ctx.world_size)
        self.step += 1
        return logs

    @torch.no_grad()
    def _update_ema(self, batch: int):
        ema_nimg = self.cfg.ema_kimg * 1000
        if self.cfg.ema_rampup:
            ema_nimg = min(ema_nimg, self.nimg * self.cfg.ema_rampup)
        beta = 0.5 ** (batch / max(ema_nimg, 1e-8))
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
            p_ema.copy_(p.detach().lerp(p_ema, beta))
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

    # ----------------------------------------------------------------- outputs
    @torch.no_grad()
    def sample_grid(self, path: Path, heads: int = 3, randoms: int = 3):
        n_h = min(heads, self.data.num_groups)
        write_sample_grid(self.G_ema, self.latents[:n_h].detach(), randoms, path, self.neural_resolution())

    # ----------------------------------------------------------------- the loop's report (RunTrainer)
    def metrics_record(self, means, now, seconds, steps):
        images = steps * self.per_rank_batch * self.ctx.world_size
        return {"step": self.step, "kimg": round(self.kimg, 3), "phase": self.phase(self.step - 1),
                "images_per_s": images / max(seconds, 1e-9), "time": now, **means}

    def progress_text(self, means, seconds, steps):
        ips = steps * self.per_rank_batch * self.ctx.world_size / max(seconds, 1e-9)
        return (f"{self.phase(self.step - 1)} {ips:.1f} img/s g={means.get('g_loss', 0):.3f}"
                + (f" d={means['d_loss']:.3f}" if "d_loss" in means else ""))

    def after_step(self):
        if self.ctx.is_main and self.cfg.sample_every and self.step % self.cfg.sample_every == 0:
            self.sample_grid(self.run_dir / "samples" / f"step-{self.step:08d}.png")

