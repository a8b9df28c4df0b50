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
- E_can: the same regression + reconstruction losses on the canonical renders (and, with
  `can_real_batch`, on dataset heads' frontal views); `can_start_from_encoders` starts it
  as E_t + E_s, `only_canonical` trains it alone with E_t/E_s frozen;
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

import dataclasses
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ide3d_backend import camera
from ide3d_backend.config import get_encoder_config
from ide3d_backend.encoding import Encoders, build_encoders, save_encoders
from ide3d_backend.model.backbone import TriPlanes
from ide3d_backend.perceptual import perceptual_distance

from .config import EncoderTrainConfig
from .dataset import InMemoryDataset
from .losses import soft_dice_loss
from .photometric import augment
from .pose_head import fit_pose_head
from .run import RunTrainer
from .synthetic import angles_to_labels, frozen_generator, labels_to_angles, sample_ws, step_rng


PHOTOMETRIC_SALT = 7  # step_rng salts of streams added later: earlier settings' draws stay as they were
CAN_REAL_SALT = 8


def _mse(a, b):
    return (a - b).square().mean()


def _at_resolution(image: torch.Tensor, mask: torch.Tensor, size: int):
    """A dataset image and its mask at the reconstructions' resolution."""
    if image.shape[-1] == size:
        return image, mask
    return (F.interpolate(image, size=(size, size), mode="area"),
            F.interpolate(mask[:, None].float(), size=(size, size), mode="nearest")[:, 0].long())


def _seen(images: dict) -> torch.Tensor:
    """The image an encoder reads: the recoloured copy when there is one, else the image."""
    return images.get("image_in", images["image"])


class EncoderTrainer(RunTrainer):
    desc = "train encoders"
    export_name = "encoders.safetensors"

    def __init__(self, generator, run_dir: str | Path, cfg: EncoderTrainConfig,
                 data_dir: str | Path | None = None, device=None, latents_path: str | Path | None = None,
                 init_checkpoint: str | Path | None = None):
        super().__init__(run_dir, cfg)
        self.G, self.generator_path = frozen_generator(generator, device)
        self.dev = self.G.device
        ecfg = get_encoder_config(cfg.preset)
        if ecfg.w_dim != self.G.w_dim:
            ecfg = dataclasses.replace(ecfg, w_dim=self.G.w_dim)  # follow the generator's latent size
        self.enc: Encoders = build_encoders(ecfg, seed=cfg.seed, device=self.dev).train()
        self.frontal = camera.label_tensor(device=self.dev)[0]
        self.data = None
        if data_dir is not None and (cfg.real_batch > 0 or cfg.pose_batch > 0 or cfg.can_real_batch > 0):
            self.data = InMemoryDataset(Path(data_dir), self.G.cfg.superres.output_resolution)
        self.init_note = None
        if init_checkpoint is not None:
            self.init_note = self._load_init(init_checkpoint)
        if cfg.only_canonical and cfg.final_pose_fit:
            raise ValueError("only_canonical keeps E_t/E_s as they are, but final_pose_fit would refit E_s's "
                             "pose head; drop one of the two settings")
        if cfg.can_start_from_encoders:  # a resumed run's snapshot overwrites this, as it should
            self.enc.canonical.start_from(self.enc.texture, self.enc.semantic, cfg.can_start_shift)
        trained = self.enc.canonical if cfg.only_canonical else self.enc
        self.opt = torch.optim.Adam(trained.parameters(), lr=cfg.lr, betas=tuple(cfg.betas))
        self.head_ws = None  # [num_groups, num_ws, w] W+ code of every dataset head
        if latents_path is not None:
            if self.data is None:
                raise ValueError("--latents needs --data (the dataset the generator run was trained on)")
            from .latent_init import load_latents
            z = load_latents(latents_path, self.data).to(self.dev)
            with torch.no_grad():
                self.head_ws = self.G.mapping(z, self.frontal.expand(z.shape[0], -1))

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

    # ------------------------------------------------------------------ run folder (RunTrainer)
    def snapshot_modules(self):
        return {"enc": self.enc}

    def snapshot_optimizers(self):
        return {"enc": self.opt}

    def snapshot_info(self):
        return {"generator": self.generator_path,
                "config": {"train": asdict(self.cfg), "encoder": self.enc.cfg.to_dict()}}

    def write_network(self, path, extra):
        save_encoders(self.enc, path, extra=extra)

    def export_info(self):
        return {"generator": self.generator_path}

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
        batch = {"ws": ws, "angles": torch.from_numpy(angles).float().to(self.dev), "c": c}
        if not cfg.only_canonical:  # E_can reads the canonical render only
            out = self._render(ws.repeat(k, 1, 1), c, planes=planes.repeat(k))
            batch["image"], batch["mask"] = out["image"], out["semantic"].argmax(1)
        if cfg.canonical:
            can = self._render(ws, self.frontal.expand(B, -1), planes=planes)
            batch["image_can"], batch["mask_can"] = can["image"], can["semantic"].argmax(1)
        if self.data is not None and cfg.real_batch > 0 and not cfg.only_canonical:
            idx = rng.integers(0, len(self.data), size=cfg.real_batch)
            flips = rng.random(cfg.real_batch) < 0.5 if cfg.xflip else None
            batch["real"] = {key: v.to(self.dev) for key, v in self.data.batch(idx, flips).items()}
            batch["real"]["flipped"] = torch.as_tensor(flips if flips is not None else np.zeros(len(idx), bool),
                                                       device=self.dev)
        if self.data is not None and cfg.pose_batch > 0 and not cfg.only_canonical:  # drawn last: other settings' streams stay as they were
            idx = rng.integers(0, len(self.data), size=cfg.pose_batch)
            flips = rng.random(cfg.pose_batch) < 0.5 if cfg.xflip else None
            extra = self.data.batch(idx, flips)
            batch["pose_images"] = {key: extra[key].to(self.dev) for key in ("image", "mask", "label")}
        if self.data is not None and cfg.can_real_batch > 0:
            batch["can_real"] = self._can_real_batch(step)
        if cfg.photometric.prob > 0 and "image" in batch:  # its own stream: other draws stay as they were
            _, pgen = step_rng(cfg.seed, 0 if cfg.repeat_batch else step, PHOTOMETRIC_SALT)
            batch["image_in"] = augment(batch["image"], cfg.photometric, pgen)
            for key in ("real", "pose_images"):
                if key in batch:
                    batch[key]["image_in"] = augment(batch[key]["image"], cfg.photometric, pgen)
        if cfg.repeat_batch:
            self._fixed_batch = batch
        return batch

    def _can_real_batch(self, step: int) -> dict:
        """Dataset heads for E_can: each head's frontal view and one other view of it (same mirroring)."""
        cfg, data = self.cfg, self.data
        if not data.frontal_heads:
            raise ValueError("can_real_batch needs a dataset with a frontal view of every head "
                             "(make it with `ide3d data synth --canonical-first`)")
        rng, _ = step_rng(cfg.seed, 0 if cfg.repeat_batch else step, CAN_REAL_SALT)
        heads = rng.choice(data.frontal_heads, size=cfg.can_real_batch)
        front = np.array([data.frontal_of[g] for g in heads])
        other = np.array([rng.choice(data.others_of[g]) for g in heads])
        flips = rng.random(len(heads)) < 0.5 if cfg.xflip else None
        f, o = data.batch(front, flips), data.batch(other, flips)
        return {"image": f["image"].to(self.dev), "mask": f["mask"].to(self.dev),
                "view_image": o["image"].to(self.dev), "view_mask": o["mask"].to(self.dev),
                "view_label": o["label"].to(self.dev)}

    def losses(self, batch: dict, with_recon: bool = True) -> dict[str, torch.Tensor]:
        terms: dict[str, torch.Tensor] = {}
        if not self.cfg.only_canonical:
            terms.update(self._input_view_terms(batch, with_recon))
        terms.update(self._canonical_terms(batch, with_recon))
        if not self.cfg.only_canonical:
            terms.update(self._dataset_terms(batch, with_recon))
        return terms

    def _input_view_terms(self, batch: dict, with_recon: bool) -> dict[str, torch.Tensor]:
        """E_t/E_s on the generator's k views of each latent."""
        cfg, w, G, enc = self.cfg, self.cfg.weights, self.G, self.enc
        B, k, S = cfg.batch, cfg.views, G.num_shape_ws
        r_rec = cfg.recon_neural_resolution or cfg.neural_resolution
        w_avg = G.mapping.w_avg
        ws_true = batch["ws"].repeat(k, 1, 1)
        shape, tex, pose = enc.offsets_and_pose(_seen(batch), batch["mask"])
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
        return terms

    def _canonical_terms(self, batch: dict, with_recon: bool) -> dict[str, torch.Tensor]:
        """E_can on the generator's canonical renders and on dataset heads' frontal views."""
        cfg, w, G, enc = self.cfg, self.cfg.weights, self.G, self.enc
        B = cfg.batch
        r_rec = cfg.recon_neural_resolution or cfg.neural_resolution
        w_avg = G.mapping.w_avg
        terms: dict[str, torch.Tensor] = {}
        if cfg.canonical and "image_can" in batch:
            ws_can = w_avg + enc.canonical_offsets(batch["image_can"], batch["mask_can"])
            terms["can_latent"] = w.can_latent * _mse(ws_can, batch["ws"])
            if with_recon and (w.can_rgb or w.can_perceptual or w.can_mask or w.can_mask_dice):
                rec = self._render(ws_can, self.frontal.expand(B, -1), r_rec, grad=True)
                terms.update(self._recon_terms(rec, batch["image_can"], batch["mask_can"],
                                               w.can_rgb, w.can_perceptual, w.can_mask, w.can_mask_dice, "can_"))
        if with_recon and "can_real" in batch:
            cr = batch["can_real"]
            ws_cr = w_avg + enc.canonical_offsets(cr["image"], cr["mask"])
            planes = G.planes(ws_cr)
            n = ws_cr.shape[0]
            for prefix, c, image, mask in (("can_real_", self.frontal.expand(n, -1), cr["image"], cr["mask"]),
                                           ("can_real_view_", cr["view_label"], cr["view_image"], cr["view_mask"])):
                rec = self._render(ws_cr, c, r_rec, grad=True, planes=planes)
                image, mask = _at_resolution(image, mask, rec["image"].shape[-1])
                terms.update(self._recon_terms(rec, image, mask, w.can_real_rgb, w.can_real_perceptual,
                                               w.can_real_mask, w.can_real_mask_dice, prefix))
        return terms

    def _dataset_terms(self, batch: dict, with_recon: bool) -> dict[str, torch.Tensor]:
        """E_t/E_s on dataset images: latent targets (--latents), pose, reconstruction."""
        cfg, w, G, enc = self.cfg, self.cfg.weights, self.G, self.enc
        r_rec = cfg.recon_neural_resolution or cfg.neural_resolution
        w_avg = G.mapping.w_avg
        terms: dict[str, torch.Tensor] = {}
        if "real" in batch and (with_recon or self.head_ws is not None or w.real_pose):
            real = batch["real"]
            shape_real, tex, pose_real = enc.offsets_and_pose(_seen(real), real["mask"])
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
                preds.append(enc.pose(_seen(batch["pose_images"]), batch["pose_images"]["mask"]))
                labels.append(batch["pose_images"]["label"])
            pred = torch.cat(preds)
            terms["real_pose"] = w.real_pose * _mse(pred, labels_to_angles(torch.cat(labels), pred.dtype, self.dev))
        if with_recon and "real" in batch:
            rec = self._render(ws_real, real["label"], r_rec, grad=True)
            image, mask = _at_resolution(real["image"], real["mask"], rec["image"].shape[-1])
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
