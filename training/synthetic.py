"""A frozen generator as the source of training pairs for the encoders and the face
parser: the random streams of a step, random latents, camera labels of random views,
and tri-planes repeated per view (one backbone pass serves every view of a latent)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ide3d_backend import camera
from ide3d_backend.api import load_generator


def frozen_generator(source, device=None):
    """(G in eval mode without gradients, its checkpoint path or None) from a checkpoint
    path or a generator; None stays None."""
    path = None
    if isinstance(source, (str, Path)):
        path = str(source)
        source = load_generator(source, device=device or "cpu")
    return (source.eval().requires_grad_(False) if source is not None else None), path


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
    """(yaw, pitch) rows [B,2] radians -> camera labels [B,25] on `device`."""
    return torch.from_numpy(np.stack([camera.label_from_angles(y, p) for y, p in angles])).to(device)


def labels_to_angles(labels: torch.Tensor, dtype=torch.float32, device=None) -> torch.Tensor:
    """Camera labels [B,25] -> (yaw, pitch) [B,2] radians: the pose targets of dataset images."""
    return torch.tensor([camera.angles_from_label(l)[:2] for l in labels.cpu().numpy()], dtype=dtype, device=device)
