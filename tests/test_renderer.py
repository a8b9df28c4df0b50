"""The volume renderer against analytic answers: a solid sphere seen from known cameras."""
import math

import numpy as np
import pytest
import torch

from ide3d_backend import camera as C
from ide3d_backend.config import RenderConfig
from ide3d_backend.model.ray_sampler import sample_rays
from ide3d_backend.model.renderer import VolumeRenderer, sample_pdf

RADIUS = 0.3
SIGMA = 400.0


def sphere_field(xyz):
    inside = (xyz.norm(dim=-1, keepdim=True) < RADIUS).float()
    n = xyz.shape[:2]
    logits = torch.zeros(*n, 19)
    logits[..., 1] = 10 * inside[..., 0]  # class 1 (skin) inside, uniform outside
    features = torch.cat([torch.full((*n, 3), 0.8), torch.zeros(*n, 29)], -1)
    return {"sigma": SIGMA * inside, "semantic_logits": logits, "features": features}


def ray_sphere(o, d):
    """Distance to the first intersection with the sphere, nan on a miss."""
    b = (o * d).sum(-1)
    disc = b * b - ((o * o).sum(-1) - RADIUS ** 2)
    t = -b - np.sqrt(np.clip(disc, 0, None))
    return np.where(disc > 0, t, np.nan)


@pytest.mark.parametrize("yaw,pitch", [(0.0, 0.0), (0.7, -0.3)])
def test_sphere_depth_and_opacity(yaw, pitch):
    cfg = RenderConfig(num_coarse=48, num_importance=48)
    lab = C.label_tensor(yaw, pitch)
    res = 48
    o, d = sample_rays(lab, res)
    out = VolumeRenderer(cfg).render(sphere_field, o, d)
    truth = ray_sphere(o[0].double().numpy(), d[0].double().numpy())
    hit = ~np.isnan(truth)
    depth, opacity = out["depth"][0].numpy(), out["opacity"][0].numpy()
    # Rays well inside the silhouette: opaque, depth at the analytic intersection.
    o_np, d_np = o[0].numpy(), d[0].numpy()
    closest = np.linalg.norm(o_np - (o_np * d_np).sum(-1, keepdims=True) * d_np, axis=-1)
    core = closest < RADIUS * 0.9
    assert core.sum() > 100
    assert opacity[core].min() > 0.99
    # Tolerance: 1/sigma (expected depth inside a medium of density sigma) + 2 mm.
    err = np.abs(depth[core] - truth[core])
    assert err.max() < 1 / SIGMA + 0.002, err.max()
    # Rays that miss are transparent and labelled background.
    miss = closest > RADIUS * 1.05
    assert opacity[miss].max() < 1e-3
    sem = out["semantic"][0].numpy()
    assert (sem[miss].argmax(-1) == 0).all() and (sem[core].argmax(-1) == 1).all()
    # Colour composites to the sphere's albedo on opaque rays.
    np.testing.assert_allclose(out["features"][0, core, :3].numpy(), 0.8, atol=0.01)


def test_silhouette_area_matches_projected_disc():
    lab = C.label_tensor()
    res = 64
    o, d = sample_rays(lab, res)
    out = VolumeRenderer(RenderConfig()).render(sphere_field, o, d)
    area = (out["opacity"][0] > 0.5).float().mean().item()
    # Apparent angular radius asin(r/D); image half-extent is 0.5/f in tan units.
    tan_r = math.tan(math.asin(RADIUS / 2.7))
    expected = math.pi * (tan_r * C.FOCAL_NORMALISED) ** 2
    assert area == pytest.approx(expected, rel=0.05)


def test_chunking_gives_the_same_render():
    lab = C.label_tensor(0.2, 0.1)
    o, d = sample_rays(lab, 24)
    whole = VolumeRenderer(RenderConfig()).render(sphere_field, o, d)
    chunked = VolumeRenderer(RenderConfig(chunk_points=96 * 50)).render(sphere_field, o, d)
    for k in whole:
        torch.testing.assert_close(whole[k], chunked[k])


def test_sample_pdf_concentrates_on_heavy_bin():
    edges = torch.linspace(0, 1, 11)[None]
    w = torch.full((1, 10), 1e-3)
    w[0, 7] = 1.0
    s = sample_pdf(edges, w, 64, perturb=False)
    assert ((s >= 0.7) & (s <= 0.8)).float().mean() > 0.95
    assert torch.all(s[:, 1:] >= s[:, :-1])
