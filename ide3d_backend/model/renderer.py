"""Volume rendering: stratified + importance sampling along rays, alpha compositing.

The renderer knows nothing of tri-planes: it queries a *field*, any callable
mapping points [B, N, 3] to a dict with `sigma` [B, N, 1], `semantic_logits`
[B, N, K] and `features` [B, N, F]. The generator passes its decoder; tests
pass an analytic sphere; the region editor passes a field mixing two textures.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ..config import RenderConfig
from . import fastpath

Field = Callable[[torch.Tensor], dict]


def _mid(x: torch.Tensor) -> torch.Tensor:
    """Midpoints between consecutive samples along dim 2."""
    return 0.5 * (x[:, :, 1:] + x[:, :, :-1])


def interval_weights(sigma: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Compositing weight of each interval between sorted samples: sigma, t [B,R,N,1] -> [B,R,N-1,1]."""
    delta = t[:, :, 1:] - t[:, :, :-1]
    alpha = 1 - torch.exp(-_mid(sigma) * delta)
    transmittance = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :, :1]), 1 - alpha + 1e-10], 2), 2)[:, :, :-1]
    return alpha * transmittance


def composite(sigma, features, probs, t):
    """Alpha-composite samples sorted along each ray (midpoint rule, as EG3D).

    sigma [B,R,N,1], features [B,R,N,F], probs [B,R,N,K], t [B,R,N,1] ->
    features [B,R,F], probs [B,R,K], depth [B,R], opacity [B,R], weights [B,R,N-1].
    """
    weights = interval_weights(sigma, t)  # [B,R,N-1,1]
    opacity = weights.sum(2)
    feats = (weights * _mid(features)).sum(2)
    sem = (weights * _mid(probs)).sum(2)
    depth = (weights * _mid(t)).sum(2) / opacity.clamp_min(1e-6)
    return feats, sem, depth.squeeze(-1), opacity.squeeze(-1), weights.squeeze(-1)


def composite_unsorted(coarse, fine):
    """`composite` of the union of two sample sets, without sorting their feature channels.

    coarse, fine: (sigma, features, probs, t) each shaped as in `composite`, each
    sorted along its rays. The midpoint rule gives sample j the weight
    (w_{j-1} + w_j) / 2 of its two intervals, so only sigma and t are sorted; the
    per-sample weights go back to the unsorted order and the 32 feature and 19
    class channels are summed in place. Same maths as sorting everything.
    Returns features [B,R,F], probs [B,R,K], depth [B,R], opacity [B,R].
    """
    sigma_c, feat_c, prob_c, t_c = coarse
    sigma_f, feat_f, prob_f, t_f = fine
    t, order = torch.sort(torch.cat([t_c, t_f], 2), 2)
    w = interval_weights(torch.gather(torch.cat([sigma_c, sigma_f], 2), 2, order), t)
    opacity = w.sum(2)
    depth = (w * _mid(t)).sum(2) / opacity.clamp_min(1e-6)
    edge = torch.zeros_like(w[:, :, :1])
    per_sample = 0.5 * (torch.cat([edge, w], 2) + torch.cat([w, edge], 2))  # sorted order
    per_sample = torch.zeros_like(per_sample).scatter(2, order, per_sample).squeeze(-1)
    v_c, v_f = per_sample[:, :, :t_c.shape[2]], per_sample[:, :, t_c.shape[2]:]
    total = lambda x, y: torch.einsum("brn,brnc->brc", v_c, x) + torch.einsum("brn,brnc->brc", v_f, y)  # noqa: E731
    return total(feat_c, feat_f), total(prob_c, prob_f), depth.squeeze(-1), opacity.squeeze(-1)


def sample_pdf(edges: torch.Tensor, weights: torch.Tensor, n: int, perturb: bool,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """Inverse-CDF samples of a piecewise-constant PDF over bins.

    edges [..., M+1], weights [..., M] -> samples [..., n], sorted.
    """
    pdf = weights / weights.sum(-1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[..., :1]), torch.cumsum(pdf, -1)], -1)
    shape = cdf.shape[:-1] + (n,)
    if perturb:
        u = torch.rand(shape, device=cdf.device, dtype=cdf.dtype, generator=generator)
    else:
        u = ((torch.arange(n, device=cdf.device, dtype=cdf.dtype) + 0.5) / n).expand(shape)
    u = u.contiguous()
    idx = torch.searchsorted(cdf.contiguous(), u, right=True).clamp(1, cdf.shape[-1] - 1)
    lo, hi = idx - 1, idx
    cdf_lo, cdf_hi = cdf.gather(-1, lo), cdf.gather(-1, hi)
    e_lo, e_hi = edges.gather(-1, lo), edges.gather(-1, hi)
    frac = (u - cdf_lo) / (cdf_hi - cdf_lo).clamp_min(1e-8)
    return torch.sort(e_lo + frac * (e_hi - e_lo), -1).values


class VolumeRenderer:
    def __init__(self, cfg: RenderConfig):
        self.cfg = cfg

    def _query(self, field: Field, origins, dirs, t):
        """Evaluate the field at o + t d; returns sigma, features, probs shaped [B,R,N,*]."""
        b, r, n, _ = t.shape
        pts = (origins.unsqueeze(2) + t * dirs.unsqueeze(2)).reshape(b, r * n, 3)
        out = field(pts)
        sigma = out["sigma"].reshape(b, r, n, 1)
        feats = out["features"].reshape(b, r, n, -1)
        probs = torch.softmax(out["semantic_logits"], -1).reshape(b, r, n, -1)
        return sigma, feats, probs

    def coarse_depths(self, b: int, r: int, device, perturb: bool, generator=None) -> torch.Tensor:
        c = self.cfg
        t = torch.linspace(c.ray_start, c.ray_end, c.num_coarse, device=device).view(1, 1, -1, 1)
        t = t.expand(b, r, -1, -1)
        if perturb:
            step = (c.ray_end - c.ray_start) / (c.num_coarse - 1)
            t = t + torch.rand(t.shape, device=device, generator=generator) * step
        return t

    def render(self, field: Field, origins: torch.Tensor, dirs: torch.Tensor, perturb: bool = False,
               generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Render rays [B, R, 3]. Chunks rays so at most cfg.chunk_points points are in flight."""
        b, r, _ = origins.shape
        per_ray = self.cfg.num_coarse + self.cfg.num_importance
        chunk = max(1, self.cfg.chunk_points // (b * per_ray))
        if chunk >= r:
            return self._render(field, origins, dirs, perturb, generator)
        parts = [self._render(field, origins[:, i:i + chunk], dirs[:, i:i + chunk], perturb, generator)
                 for i in range(0, r, chunk)]
        return {k: torch.cat([p[k] for p in parts], 1) for k in parts[0]}

    def _render(self, field, origins, dirs, perturb, generator):
        c = self.cfg
        b, r, _ = origins.shape
        t_coarse = self.coarse_depths(b, r, origins.device, perturb, generator)
        sigma_c, feat_c, prob_c = self._query(field, origins, dirs, t_coarse)
        if c.num_importance > 0:
            with torch.no_grad():
                w = interval_weights(sigma_c, t_coarse).squeeze(-1)
                # Widen and floor the PDF (as EG3D) so thin surfaces are not missed.
                w = F.max_pool1d(w.reshape(b * r, 1, -1), 2, 1, padding=1)
                w = F.avg_pool1d(w, 2, 1).reshape(b, r, -1) + 0.01
                t_fine = sample_pdf(t_coarse.squeeze(-1), w, c.num_importance, perturb, generator).unsqueeze(-1)
            sigma_f, feat_f, prob_f = self._query(field, origins, dirs, t_fine)
            if fastpath.enabled():
                feats, sem, depth, opacity = composite_unsorted((sigma_c, feat_c, prob_c, t_coarse),
                                                                (sigma_f, feat_f, prob_f, t_fine))
            else:
                t_all, order = torch.sort(torch.cat([t_coarse, t_fine], 2), 2)
                gather = lambda a, f: torch.gather(torch.cat([a, f], 2), 2, order.expand(-1, -1, -1, a.shape[-1]))  # noqa: E731
                sigma, feats, probs = gather(sigma_c, sigma_f), gather(feat_c, feat_f), gather(prob_c, prob_f)
                feats, sem, depth, opacity, _ = composite(sigma, feats, probs, t_all)
        else:
            feats, sem, depth, opacity, _ = composite(sigma_c, feat_c, prob_c, t_coarse)
        # Empty space is background: give the rest of each pixel's mass to class 0.
        sem = torch.cat([sem[..., :1] + (1 - opacity).unsqueeze(-1), sem[..., 1:]], -1)
        depth = depth.clamp(c.ray_start, c.ray_end)
        return {"features": feats, "semantic": sem, "depth": depth, "opacity": opacity}
