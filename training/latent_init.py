"""Per-head latent codes for the reconstruction phase, and their export.

The recon phase gives every training head a learnable z (GLO). Those codes live
in the run's snapshots only; a run started from a generator checkpoint (`--init`)
would otherwise begin with random codes, which makes the generator re-map
arbitrary z to the heads and undoes part of what it knew. `latents_from_encoders`
starts the codes where the generator already renders each head: the inversion
encoders read every view of the head, their W+ codes are averaged per head, and
z is fitted so that mapping(z) lands on them (the mapping network only, cheap).

`save_latents` / `load_latents` write the fitted codes next to the run so the
encoder trainer can use them as latent targets for dataset images.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ide3d_backend import camera
from ide3d_backend.checkpoint import load_checkpoint, save_checkpoint

LATENTS_KIND = "ide3d-head-latents"


@torch.no_grad()
def encoded_head_ws(G, enc, data, batch: int = 32) -> torch.Tensor:
    """Mean W+ code [num_groups, num_ws, w] of every head's views, read by E_t + E_s."""
    from ide3d_backend.encoding import encode
    dev = G.device
    sums = torch.zeros(data.num_groups, G.num_ws, G.w_dim, device=dev)
    counts = torch.zeros(data.num_groups, device=dev)
    enc = enc.eval()
    for start in range(0, len(data), batch):
        idx = torch.arange(start, min(start + batch, len(data)))
        b = data.batch(idx.numpy())
        ws, _, _ = encode(enc, G, b["image"].to(dev), b["mask"].to(dev))
        g = b["group"].to(dev)
        sums.index_add_(0, g, ws)
        counts.index_add_(0, g, torch.ones_like(g, dtype=counts.dtype))
    return sums / counts.clamp_min(1)[:, None, None]


def fit_z_to_ws(G, target_ws: torch.Tensor, steps: int = 300, lr: float = 0.05) -> tuple[torch.Tensor, float]:
    """z [N, z_dim] whose mapping (frontal conditioning) is closest to target_ws [N, num_ws, w] in L2.
    Returns z and the final mean squared residual."""
    dev = G.device
    c = camera.label_tensor(device=dev, batch=target_ws.shape[0])
    target = target_ws.to(dev)
    # Random start: the mapping normalises z by its RMS, which is undefined at z = 0.
    z = torch.randn(target.shape[0], G.z_dim, generator=torch.Generator().manual_seed(0)).to(dev)
    z.requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    was = [p.requires_grad for p in G.mapping.parameters()]
    G.mapping.requires_grad_(False)
    try:
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            loss = (G.mapping(z, c) - target).square().mean()
            loss.backward()
            opt.step()
        with torch.no_grad():
            residual = float((G.mapping(z, c) - target).square().mean())
    finally:
        for p, r in zip(G.mapping.parameters(), was):
            p.requires_grad_(r)
    return z.detach(), residual


def latents_from_encoders(G, enc, data, steps: int = 300) -> tuple[torch.Tensor, float]:
    """Per-head z for `data` (an InMemoryDataset) that start the recon phase where G already renders them."""
    return fit_z_to_ws(G, encoded_head_ws(G, enc, data), steps=steps)


def save_latents(path: str | Path, z: torch.Tensor, data) -> None:
    """The per-head codes of a run, tied to the dataset's size so a wrong dataset is caught on load."""
    save_checkpoint(path, {"z": z.detach().cpu().float()}, kind=LATENTS_KIND,
                    extra={"num_groups": int(data.num_groups), "num_items": int(len(data))})


def load_latents(path: str | Path, data=None) -> torch.Tensor:
    """The per-head codes [num_groups, z_dim]; with `data`, checked to belong to that dataset."""
    tensors, meta = load_checkpoint(path, kind=LATENTS_KIND)
    meta = meta["extra"]
    if data is not None and (meta.get("num_groups") != data.num_groups or meta.get("num_items") != len(data)):
        raise ValueError(f"{path} holds codes of {meta.get('num_groups')} heads / {meta.get('num_items')} images, "
                         f"but the dataset has {data.num_groups} heads / {len(data)} images; "
                         f"use the dataset the generator run was trained on")
    return tensors["z"]
