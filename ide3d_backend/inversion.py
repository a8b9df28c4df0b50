"""Hybrid GAN inversion (paper Sec. 3.3 + PTI): encoders -> W+ optimisation -> pivotal tuning.

1. Initialisation: the texture encoder E_t gives w_t, the shape encoder E_s gives w_s
   from the mask, and the one `EncoderConfig.pose_from` names (E_s for the shipped
   tiny encoders) the camera (yaw, pitch) (encoding.encode). Without trained
   encoders the optimisation starts from the average latent at the frontal camera
   (and says so in the result's warnings).
2. W+ optimisation: Adam on all 18 ws (and, optionally, on yaw/pitch) with the StyleGAN
   projector's learning-rate ramps.
3. Pivotal tuning: Adam on the generator weights (all but the mapping network, which
   the fixed pivot ws never reach) on a copy of the generator; the base is untouched.

Loss = L2 + perceptual_distance (weight-free MS-SSIM + Laplacian pyramid, docs/inversion.md)
+ mask cross-entropy against the user/parser mask. Each phase stops early when the
perceptual distance falls below the preset's threshold. A `threading.Event` is checked
every step; setting it raises `Cancelled` (inversion writes nothing, so nothing is left
half-written).
"""
from __future__ import annotations

import copy
import dataclasses
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from . import camera as cam
from . import imaging, semantics
from .guidance import LandmarkGuide, depth_term, mirror_confidence, mirrored
from .perceptual import perceptual_distance

ProgressCallback = Callable[[str, int, int, float, "np.ndarray | None"], None]


class Cancelled(Exception):
    """The inversion was cancelled through its cancel event."""


@dataclass(frozen=True)
class InversionPreset:
    name: str
    latent_steps: int
    latent_lr: float
    tune_steps: int
    tune_lr: float
    neural_resolution: int | None = None  # None: the model's own
    lr_rampup: float = 0.05
    lr_rampdown: float = 0.25
    early_stop: float = 0.06              # perceptual distance that ends a phase
    l2_weight: float = 1.0
    perceptual_weight: float = 1.0
    mask_weight: float = 0.1
    refine_camera: bool = True
    camera_lr: float = 0.01
    preview_every: int = 10
    # With face landmarks (guidance.py): depth relief, mirrored view, camera prior.
    depth_weight: float = 0.5
    mirror_weight: float = 0.5
    mirror_min_yaw: float = 0.1            # |yaw| below this: no mirror term (see guidance)
    camera_prior_weight: float = 10.0      # per rad^2 away from the landmarks' camera
    # Schedule (issue 18): the first `coarse_steps` latent steps render at a lower neural
    # resolution and score the images at `coarse_loss_resolution` (a step costs about half):
    # the start only has to find the head's layout, which low resolution shows as well.
    coarse_steps: int = 0
    coarse_neural_resolution: int = 16
    coarse_loss_resolution: int | None = 64   # None: the output resolution
    # A phase also ends when its loss has not improved by `plateau_tol` (relative) for
    # `plateau_patience` steps (0: off); coarse and full-resolution losses are kept apart.
    plateau_patience: int = 0
    plateau_tol: float = 0.005
    # False: pivotal tuning leaves the tri-plane backbone as it is and tunes the decoder and
    # super-resolution only; the pivot's planes are then made once, not every step.
    tune_backbone: bool = True

    def with_steps(self, latent_steps: int, tune_steps: int) -> "InversionPreset":
        return dataclasses.replace(self, latent_steps=latent_steps, tune_steps=tune_steps)


PRESETS: dict[str, InversionPreset] = {
    # Seconds on CPU with the tiny model.
    "fast": InversionPreset("fast", latent_steps=30, latent_lr=0.03, tune_steps=20, tune_lr=1e-3,
                            neural_resolution=32, lr_rampup=0.05, lr_rampdown=0.25, preview_every=10),
    # PTI's schedule (REFERENCE §5).
    "quality": InversionPreset("quality", latent_steps=450, latent_lr=5e-3, tune_steps=350, tune_lr=3e-4,
                               neural_resolution=None, early_stop=0.06, preview_every=25),
}


def get_preset(preset: str | InversionPreset) -> InversionPreset:
    if isinstance(preset, InversionPreset):
        return preset
    try:
        return PRESETS[preset]
    except KeyError:
        raise ValueError(f"unknown inversion preset {preset!r}; use one of {', '.join(PRESETS)}") from None


@dataclass
class InversionResult:
    ws: torch.Tensor                       # [1, 18, w], cpu
    yaw: float
    pitch: float
    tuned: dict[str, torch.Tensor] | None  # tuned tensors that differ from the base (cpu)
    init: str                              # "encoders" or "average"
    losses: dict[str, list[float]] = field(default_factory=dict)
    perceptual: float = float("nan")       # final perceptual distance (tuned model)
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    steps: dict[str, int] = field(default_factory=dict)
    cameras: dict[str, list[float]] = field(default_factory=dict)  # (yaw, pitch) per opinion: landmarks,
                                                                    # encoders, final


# --- helpers ---------------------------------------------------------------------------
def image_to_tensor(image: np.ndarray, size: int, device=None) -> torch.Tensor:
    """(H, W, 3) uint8 -> [1, 3, size, size] in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float().div(127.5).sub(1)
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x.to(device)


def mask_to_tensor(mask: np.ndarray, size: int, device=None) -> torch.Tensor:
    """(H, W) ids -> [1, size, size] long (nearest resize)."""
    m = torch.from_numpy(semantics.check_mask(mask).astype(np.int64))[None, None].float()
    if m.shape[-1] != size or m.shape[-2] != size:
        m = F.interpolate(m, size=(size, size), mode="nearest")
    return m[:, 0].long().to(device)


def average_latent(G) -> torch.Tensor:
    return G.mapping.w_avg.detach().view(1, 1, -1).repeat(1, G.num_ws, 1).clone()


def _lr_factor(t: float, rampup: float, rampdown: float) -> float:
    """StyleGAN projector schedule: cosine ramp-down over the last `rampdown`, linear ramp-up."""
    ramp = min(1.0, (1.0 - t) / max(rampdown, 1e-8))
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return ramp * min(1.0, t / max(rampup, 1e-8))


def _check(cancel: threading.Event | None):
    if cancel is not None and cancel.is_set():
        raise Cancelled("inversion cancelled")


def downsample(x: torch.Tensor, size: int | None) -> torch.Tensor:
    """[B, C, R, R] images or logits -> [B, C, size, size] (area average); None or R: unchanged."""
    if size is None or x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="area")


def reconstruction_loss(out: dict, target: torch.Tensor, mask: torch.Tensor | None,
                        p: InversionPreset, size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(total loss, perceptual distance) of a synthesis result against the target; `size`:
    score the images at this resolution (the target and mask given at it already)."""
    img = downsample(out["image"], size)
    perc = perceptual_distance(img, target).mean()
    loss = p.l2_weight * (img - target).square().mean() + p.perceptual_weight * perc
    if mask is not None and p.mask_weight > 0:
        loss = loss + p.mask_weight * F.cross_entropy(downsample(out["semantic"], size), mask)
    return loss, perc


class Plateau:
    """True once a loss has gone `patience` steps without a relative gain of `tol` over its
    best; patience 0 never stops."""

    def __init__(self, patience: int, tol: float):
        self.patience, self.tol = patience, tol
        self.reset()

    def reset(self):
        self.best, self.since = float("inf"), 0

    def __call__(self, loss: float) -> bool:
        if loss < self.best - self.tol * abs(self.best) or not math.isfinite(self.best):
            self.best, self.since = loss, 0
        else:
            self.since += 1
        return 0 < self.patience <= self.since


def encoder_initialisation(G, target: torch.Tensor, mask: torch.Tensor | None, encoders=None
                           ) -> tuple[torch.Tensor, float, float, str, list[str]]:
    """(ws, yaw, pitch, source, warnings) from E_t + E_s (`encoders`, resolved by the caller:
    sources.optional_encoders), or the average latent without encoders or without a mask."""
    warnings: list[str] = []
    if encoders is None:
        warnings.append("no trained encoders given; the optimisation starts from the average latent at the "
                        "frontal camera")
    elif mask is None:
        warnings.append("no mask: the shape encoder needs one, so the optimisation starts from the "
                        "average latent")
        encoders = None
    if encoders is None:
        return average_latent(G), 0.0, 0.0, "average", warnings
    from . import encoding
    onehot = encoding.mask_onehot(mask, target.shape[-1], target.device)
    with torch.no_grad():
        ws, yaw, pitch = encoding.encode(encoders, G, target, onehot)
    return ws.detach().clone(), float(yaw[0]), float(pitch[0]), "encoders", warnings


class Objective:
    """The loss both phases minimise: the photo (and its mask) at the camera; with a landmark
    guide also the depth term, the mirrored photo at the mirrored camera and a prior that
    keeps the camera near the landmarks' (guidance.py). One batched render serves both views.
    A call may render at another neural resolution and score at a lower image resolution
    (the coarse steps); the targets at each scoring resolution are made once."""

    def __init__(self, target: torch.Tensor, mask: torch.Tensor | None, preset: InversionPreset,
                 guide: LandmarkGuide | None = None):
        self.p, self.target, self.mask, self.guide = preset, target, mask, guide
        self.mirror_weight = 0.0
        self._targets: dict[int | None, tuple] = {}
        if guide is not None:
            self.grid, self.landmark_depth = guide.grid(target.device), guide.depths(target.device)
            self.mirror_weight = preset.mirror_weight * mirror_confidence(guide.yaw, preset.mirror_min_yaw)

    def targets(self, size: int | None) -> tuple:
        """(photo, mask, mirrored photo, mirrored mask) scored at `size` (None: as given)."""
        if size is not None and size >= self.target.shape[-1]:
            size = None
        if size not in self._targets:
            t, m = downsample(self.target, size), self.mask
            if m is not None and size is not None:
                m = F.interpolate(m[:, None].float(), size=(size, size), mode="nearest")[:, 0].long()
            tm, mm = mirrored(t, m) if self.mirror_weight > 0 else (None, None)
            self._targets[size] = (t, m, tm, mm)
        return self._targets[size]

    def __call__(self, G, ws: torch.Tensor, yaw: torch.Tensor, pitch: torch.Tensor,
                 neural_resolution: int | None = None, loss_resolution: int | None = None, planes=None
                 ) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """(loss, perceptual distance at the input view, the input view's outputs);
        neural_resolution None: the preset's; planes: G.planes(ws) when already made."""
        p, mirror = self.p, self.mirror_weight > 0
        target, mask, target_m, mask_m = self.targets(loss_resolution)
        size = target.shape[-1] if loss_resolution is not None else None
        c = cam.labels_from_angles(torch.stack([yaw, -yaw]) if mirror else yaw,
                                   torch.stack([pitch, pitch]) if mirror else pitch)
        planes = G.planes(ws) if planes is None else planes
        out = G.synthesis(ws.expand(c.shape[0], -1, -1), c,
                          neural_resolution=neural_resolution or p.neural_resolution,
                          planes=planes.repeat(c.shape[0]), perturb=False)
        view = {k: out[k][:1] for k in ("image", "semantic", "depth", "opacity")}
        loss, perc = reconstruction_loss(view, target, mask, p, size)
        if mirror:
            loss_m, _ = reconstruction_loss({"image": out["image"][1:], "semantic": out["semantic"][1:]},
                                            target_m, mask_m, p, size)
            loss = loss + self.mirror_weight * loss_m
        if self.guide is not None:
            if p.depth_weight > 0:
                loss = loss + p.depth_weight * depth_term(view["depth"], self.grid, self.landmark_depth,
                                                          view["opacity"])
            if p.camera_prior_weight > 0 and yaw.requires_grad:
                loss = loss + p.camera_prior_weight * ((yaw - self.guide.yaw).square()
                                                       + (pitch - self.guide.pitch).square())
        return loss, perc, view


# --- the two optimisation phases ----------------------------------------------------------
def optimise_latents(G, target: torch.Tensor, mask: torch.Tensor | None, ws: torch.Tensor,
                     yaw: float, pitch: float, preset: InversionPreset,
                     callback: ProgressCallback | None = None, cancel: threading.Event | None = None,
                     stage: str = "latent", guide: LandmarkGuide | None = None
                     ) -> tuple[torch.Tensor, float, float, list[float], int]:
    """Adam on W+ (and the camera). Returns (ws, yaw, pitch, losses, steps run)."""
    p = preset
    objective = Objective(target, mask, p, guide)
    dev = G.device
    ws = ws.detach().clone().to(dev).requires_grad_(True)
    yaw_t = torch.tensor(float(yaw), device=dev, requires_grad=p.refine_camera)
    pitch_t = torch.tensor(float(pitch), device=dev, requires_grad=p.refine_camera)
    groups = [{"params": [ws], "lr": p.latent_lr, "base": p.latent_lr}]
    if p.refine_camera:
        groups.append({"params": [yaw_t, pitch_t], "lr": p.camera_lr, "base": p.camera_lr})
    opt = torch.optim.Adam(groups, betas=(0.9, 0.999))
    G.requires_grad_(False)
    losses = []
    n = p.latent_steps
    step = 0
    coarse_end = min(p.coarse_steps, n)   # a plateau ends the coarse part early
    plateau = Plateau(p.plateau_patience, p.plateau_tol)
    for step in range(n):
        _check(cancel)
        f = _lr_factor(step / max(n, 1), p.lr_rampup, p.lr_rampdown) if n > 1 else 1.0
        for g in opt.param_groups:
            g["lr"] = g["base"] * max(f, 0.0)
        coarse = step < coarse_end
        if coarse:
            loss, perc, out = objective(G, ws, yaw_t, pitch_t, p.coarse_neural_resolution,
                                        p.coarse_loss_resolution)
        else:
            loss, perc, out = objective(G, ws, yaw_t, pitch_t)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():  # keep the camera in the pose range the model was trained on
            yaw_t.clamp_(-1.2, 1.2)
            pitch_t.clamp_(-0.6, 0.6)
        lv = float(loss.detach())
        losses.append(lv)
        if callback is not None:
            preview = imaging.to_uint8(out["image"]) if (step % p.preview_every == 0 or step == n - 1) else None
            callback(stage, step + 1, n, lv, preview)
        if coarse:
            if plateau(lv):
                coarse_end = step + 1
                plateau.reset()
            continue
        if step == coarse_end:
            plateau.reset()
        if float(perc.detach()) < p.early_stop or plateau(lv):
            break
    return ws.detach(), float(yaw_t.detach()), float(pitch_t.detach()), losses, step + 1 if n else 0


def tune_generator(G, target: torch.Tensor, mask: torch.Tensor | None, ws: torch.Tensor, yaw: float,
                   pitch: float, preset: InversionPreset, callback: ProgressCallback | None = None,
                   cancel: threading.Event | None = None, guide: LandmarkGuide | None = None
                   ) -> tuple[list[float], int, float]:
    """Pivotal tuning of G in place (pass a copy). Returns (losses, steps run, final perceptual)."""
    p = preset
    dev = G.device
    ws = ws.detach().to(dev)
    yaw_t, pitch_t = torch.tensor(float(yaw), device=dev), torch.tensor(float(pitch), device=dev)
    objective = Objective(target, mask, p, guide)
    frozen = ("mapping.",) if p.tune_backbone else ("mapping.", "backbone.")
    params = [prm for name, prm in G.named_parameters() if not name.startswith(frozen)]
    G.requires_grad_(False)
    planes = None
    if not p.tune_backbone:
        with torch.no_grad():
            planes = G.planes(ws)
    for prm in params:
        prm.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=p.tune_lr)
    losses, perc_v, step = [], float("nan"), 0
    plateau = Plateau(p.plateau_patience, p.plateau_tol)
    try:
        for step in range(p.tune_steps):
            _check(cancel)
            loss, perc, out = objective(G, ws, yaw_t, pitch_t, planes=planes)
            perc_v = float(perc.detach())
            if perc_v < p.early_stop:  # PTI: stop once the pivot is reproduced well enough
                losses.append(float(loss.detach()))
                break
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            if callback is not None:
                preview = imaging.to_uint8(out["image"]) if (step % p.preview_every == 0
                                                             or step == p.tune_steps - 1) else None
                callback("tune", step + 1, p.tune_steps, float(loss.detach()), preview)
            if plateau(losses[-1]):
                break
    finally:
        G.requires_grad_(False)
    return losses, (step + 1) if p.tune_steps else 0, perc_v


def changed_tensors(base: torch.nn.Module, tuned: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state-dict entries of `tuned` that differ from `base` (cpu copies)."""
    b = base.state_dict()
    return {k: v.detach().cpu().clone() for k, v in tuned.state_dict().items()
            if not torch.equal(v.detach().cpu(), b[k].detach().cpu())}


def invert(G, image: np.ndarray | torch.Tensor, mask: np.ndarray | None = None,
           preset: str | InversionPreset = "fast", encoders=None, callback: ProgressCallback | None = None,
           cancel: threading.Event | None = None, tune: bool = True, guide: LandmarkGuide | None = None):
    """Invert an aligned portrait. Returns (InversionResult, tuned generator copy).

    image: (R, R, 3) uint8 aligned photo (preprocess.preprocess) or [1, 3, R, R] in [-1, 1];
    mask: (R, R) class ids or None; guide: the photo's face landmarks (guidance.py): their
    camera starts the optimisation (the encoders' pose is kept as a second opinion in
    `result.cameras`), and the depth, mirror and camera-prior terms join the loss.
    G is left unchanged.
    """
    p = get_preset(preset)
    t0 = time.perf_counter()
    size = G.cfg.superres.output_resolution
    dev = G.device
    target = image_to_tensor(image, size, dev) if isinstance(image, np.ndarray) else \
        F.interpolate(image.float(), size=(size, size), mode="bilinear", align_corners=False).to(dev) \
        if image.shape[-1] != size else image.float().to(dev)
    mask_t = mask_to_tensor(mask, size, dev) if mask is not None else None
    G = G.eval()
    _check(cancel)
    ws0, yaw, pitch, source, warnings = encoder_initialisation(G, target, mask_t, encoders)
    cameras = {source: [yaw, pitch]}
    if guide is not None:
        yaw, pitch = float(guide.yaw), float(guide.pitch)
        cameras["landmarks"] = [yaw, pitch]
    timings = {"encoders": time.perf_counter() - t0}
    if callback is not None:
        callback("encode", 1, 1, float("nan"), None)

    t1 = time.perf_counter()
    ws, yaw, pitch, lat_losses, lat_steps = optimise_latents(G, target, mask_t, ws0, yaw, pitch, p,
                                                             callback, cancel, guide=guide)
    cameras["final"] = [yaw, pitch]
    timings["latent"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    tuned_G = copy.deepcopy(G)
    tune_losses, tune_steps, perc = [], 0, float("nan")
    if tune and p.tune_steps > 0:
        tune_losses, tune_steps, perc = tune_generator(tuned_G, target, mask_t, ws, yaw, pitch, p,
                                                       callback, cancel, guide=guide)
    tuned_G.eval().requires_grad_(False)
    timings["tune"] = time.perf_counter() - t2
    _check(cancel)
    with torch.no_grad():
        out = tuned_G.synthesis(ws, cam.labels_from_angles(torch.tensor(yaw, device=dev),
                                                             torch.tensor(pitch, device=dev)),
                                neural_resolution=p.neural_resolution)
        perc = float(perceptual_distance(out["image"], target).mean())
    tuned = changed_tensors(G, tuned_G) if tune and p.tune_steps > 0 else None
    timings["total"] = time.perf_counter() - t0
    result = InversionResult(ws.detach().cpu(), yaw, pitch, tuned or None, source,
                             {"latent": lat_losses, "tune": tune_losses}, perc, timings, warnings,
                             {"latent": lat_steps, "tune": tune_steps}, cameras)
    return result, tuned_G
