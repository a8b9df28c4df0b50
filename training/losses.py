"""Losses: non-saturating GAN loss, R1 per discriminator branch, density
regularisation (paper Eq. 3), and supervised reconstruction losses."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ide3d_backend.perceptual import perceptual_distance
from ide3d_backend.semantics import mask_to_onehot


def generator_adversarial(logits: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """-log sigmoid(D(G(z))) summed over the discriminator's branches."""
    return sum(F.softplus(-lg).mean() for lg in logits)


def discriminator_adversarial(real: tuple[torch.Tensor, ...], fake: tuple[torch.Tensor, ...]) -> torch.Tensor:
    return sum(F.softplus(f).mean() + F.softplus(-r).mean() for r, f in zip(real, fake))


def r1_penalty(logit: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """Squared gradient norm of a branch's logit w.r.t. its own real input, per sample [B]."""
    (grad,) = torch.autograd.grad(logit.sum(), inputs, create_graph=True)
    return grad.square().sum(dim=(1, 2, 3))


def density_regularization(G, planes, num_points: int, perturb: float,
                           generator: torch.Generator | None = None) -> torch.Tensor:
    """L1 between densities of random points and of slightly perturbed copies (Eq. 3, EG3D's form)."""
    b = planes.semantic.shape[0]
    dev = planes.semantic.device
    box = G.cfg.render.box_warp
    pts = (torch.rand(b, num_points, 3, device=dev, generator=generator) - 0.5) * box
    eps = torch.randn(b, num_points, 3, device=dev, generator=generator) * perturb
    both = torch.cat([pts, pts + eps], 1)
    sigma, _ = G.decoder.decode_semantic(planes.semantic, both)
    return (sigma[:, :num_points] - sigma[:, num_points:]).abs().mean()


def soft_dice_loss(logits: torch.Tensor, mask: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """1 - soft Dice per image and class, averaged over all of them.

    logits [B,C,H,W], mask [B,H,W] of class indices. Cross-entropy is a sum over
    pixels, so a class covering 0.3 % of the image (a brow at 128^2) hardly moves it;
    Dice scores every class by its own overlap, as the mIoU metric does. A class
    absent from both the mask and the prediction scores 0 (thanks to `smooth`), one
    predicted but absent is penalised as a false positive.
    """
    probs = logits.softmax(1)
    onehot = F.one_hot(mask, probs.shape[1]).permute(0, 3, 1, 2).to(probs.dtype)
    inter = (probs * onehot).sum((2, 3))
    total = probs.sum((2, 3)) + onehot.sum((2, 3))
    return (1 - (2 * inter + smooth) / (total + smooth)).mean()


def _resize_mask(mask: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(mask[:, None].float(), size=(size, size), mode="nearest")[:, 0].long()


def reconstruction_losses(out: dict, batch: dict, weights) -> dict[str, torch.Tensor]:
    """Supervised losses of a render against ground-truth image, mask and depth.

    out: generator synthesis output; batch: image [B,3,H,W] in [-1,1], mask [B,H,W],
    optional depth [B,H,W] (inf = background). Returns named, weighted terms.
    """
    image, mask = batch["image"], batch["mask"]
    R = out["image"].shape[-1]
    r = out["image_raw"].shape[-1]
    if image.shape[-1] != R:
        image = F.interpolate(image, size=(R, R), mode="area")
        mask = _resize_mask(mask, R)
    fg = (mask > 0).float()
    image_lo = F.interpolate(image, size=(r, r), mode="area")
    fg_lo = F.interpolate(fg[:, None], size=(r, r), mode="area")  # soft coverage in [0,1]
    mask_lo = _resize_mask(mask, r)
    terms = {}
    terms["rgb"] = weights.rgb * (out["image"] - image).abs().mean()
    if weights.perceptual:
        terms["perceptual"] = weights.perceptual * perceptual_distance(out["image"], image).mean()
    # Low-res colour only where the head is: the background is painted by the super-resolution,
    # so the volume stays empty around the head (clean meshes).
    terms["rgb_raw"] = weights.rgb_raw * ((out["image_raw"] - image_lo).abs() * fg_lo).sum() / fg_lo.sum().clamp_min(1) / 3
    terms["semantic"] = weights.semantic * F.cross_entropy(out["semantic"], mask)
    if weights.semantic_dice:
        terms["semantic_dice"] = weights.semantic_dice * soft_dice_loss(out["semantic"], mask)
    terms["semantic_raw"] = weights.semantic_raw * F.nll_loss(torch.log(out["semantic_raw"].clamp_min(1e-6)), mask_lo)
    opacity = out["opacity"].clamp(1e-5, 1 - 1e-5)
    terms["opacity"] = weights.opacity * F.binary_cross_entropy(opacity, fg_lo)
    if "depth" in batch and weights.depth:
        d = batch["depth"]
        finite = torch.isfinite(d)
        d0 = torch.where(finite, d, torch.zeros_like(d))[:, None]
        cover = finite[:, None].float()
        if d.shape[-1] != r:  # mean depth of fully covered low-res pixels
            d0, cover = F.avg_pool2d(d0, d.shape[-1] // r), F.avg_pool2d(cover, d.shape[-1] // r)
        d_lo = d0 / cover.clamp_min(1e-6)
        valid = (cover > 0.999) & (fg_lo > 0.99)
        if valid.any():
            terms["depth"] = weights.depth * (out["depth"] - d_lo).abs()[valid].mean()
    return terms


def onehot_semantics(mask: torch.Tensor, num_classes: int = 19) -> torch.Tensor:
    """Real masks as class probabilities for the discriminator."""
    return mask_to_onehot(mask, num_classes)
