"""The pieces of issue 18's inversion schedule against independent answers: coarse steps
(low neural resolution, images scored at a lower resolution) against full-resolution steps
on a SynthHeads ground-truth head, the scoring resolution's targets, the plateau stop."""
import dataclasses

import pytest
import torch

from ide3d_backend import camera, inversion as inv
from ide3d_backend.sources import resolve_generator
from ide3d_backend.synthheads import render_head, sample_head


@pytest.fixture(scope="module")
def G(torch_threads):
    return resolve_generator(None, "cpu")[0].eval()


@pytest.fixture(scope="module")
def head(G):
    """A held-out SynthHeads head seen frontally: photo tensor and its ground-truth mask."""
    r = G.cfg.superres.output_resolution
    gt = render_head(sample_head(1_000_007), camera.frontal_label(), r)
    return inv.image_to_tensor(gt["rgb"], r), inv.mask_to_tensor(gt["mask"], r)


def full_loss(G, objective, ws) -> float:
    zero = torch.tensor(0.0)
    with torch.no_grad():
        return float(objective(G, ws, zero, zero)[0])


def test_coarse_steps_lower_the_full_resolution_loss_almost_as_much_as_full_steps(G, head):
    # The coarse objective must point where the real one goes: the same number of steps
    # from the average latent, scored afterwards at full resolution, must win at least 90 %
    # of what full-resolution steps win (measured: 97 %), at about half the cost a step.
    target, mask = head
    steps = 6
    p = dataclasses.replace(inv.PRESETS["fast"], latent_steps=steps, refine_camera=False, early_stop=0.0,
                            plateau_patience=0, lr_rampup=0.0, lr_rampdown=0.0, coarse_neural_resolution=16,
                            coarse_loss_resolution=64)
    objective = inv.Objective(target, mask, p)
    ws0 = inv.average_latent(G)
    start = full_loss(G, objective, ws0)
    ws_full, *_ = inv.optimise_latents(G, target, mask, ws0, 0.0, 0.0, dataclasses.replace(p, coarse_steps=0))
    ws_coarse, *_ = inv.optimise_latents(G, target, mask, ws0, 0.0, 0.0, dataclasses.replace(p, coarse_steps=steps))
    full, coarse = full_loss(G, objective, ws_full), full_loss(G, objective, ws_coarse)
    assert full < 0.8 * start
    assert start - coarse >= 0.9 * (start - full), (start, full, coarse)


def test_coarse_objective_renders_small_and_scores_its_own_targets(G, head):
    target, mask = head
    p = inv.PRESETS["fast"]
    objective = inv.Objective(target, mask, p)
    t64, m64, _, _ = objective.targets(64)
    assert t64.shape == (1, 3, 64, 64) and m64.shape == (1, 64, 64)
    # area downsampling: each coarse pixel is the mean of its 2x2 block; the mask keeps its ids
    torch.testing.assert_close(t64, target.unfold(2, 2, 2).unfold(3, 2, 2).mean((-1, -2)))
    assert set(m64.unique().tolist()) <= set(mask.unique().tolist())
    assert objective.targets(target.shape[-1])[0] is target  # full resolution: the photo itself
    zero = torch.tensor(0.0)
    with torch.no_grad():
        _, _, view = objective(G, inv.average_latent(G), zero, zero, 16, 64)
    assert view["depth"].shape[-1] == 16


def test_plateau():
    stop = inv.Plateau(patience=2, tol=0.1)
    assert [stop(v) for v in (1.0, 0.5, 0.46, 0.48, 0.2)] == [False, False, False, True, False]
    never = inv.Plateau(patience=0, tol=0.1)
    assert not any(never(1.0) for _ in range(10))


def test_a_phase_stops_on_a_plateau(G):
    # Starting at the exact answer (the target is the generator's own render at the
    # camera), no step can lower the loss: the phase ends after `patience` more steps.
    c = camera.label_tensor(0.0, 0.0)
    ws = inv.average_latent(G)
    with torch.no_grad():
        target = G.synthesis(ws, c)["image"]
    p = dataclasses.replace(inv.PRESETS["fast"], latent_steps=20, refine_camera=False, early_stop=0.0,
                            coarse_steps=0, plateau_patience=3, plateau_tol=0.01)
    *_, losses, steps = inv.optimise_latents(G, target, None, ws, 0.0, 0.0, p)
    assert steps == 4, losses
