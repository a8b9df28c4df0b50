"""Rays from 25-d camera labels (OpenGL cam2world + normalised intrinsics, see camera.py)."""
from __future__ import annotations

import torch


def pixel_grid(resolution: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Pixel centres in [0, 1] image units, (R*R, 2) as (u, v), row-major, v downward."""
    t = (torch.arange(resolution, device=device, dtype=dtype) + 0.5) / resolution
    v, u = torch.meshgrid(t, t, indexing="ij")
    return torch.stack([u.reshape(-1), v.reshape(-1)], -1)


def sample_rays(labels: torch.Tensor, resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Ray origins and unit directions for every pixel: each (B, R*R, 3)."""
    if labels.ndim != 2 or labels.shape[1] != 25:
        raise ValueError(f"camera labels must be (B, 25), got {tuple(labels.shape)}")
    labels = labels.float()
    b = labels.shape[0]
    cam2world = labels[:, :16].reshape(b, 4, 4)
    k = labels[:, 16:].reshape(b, 3, 3)
    uv = pixel_grid(resolution, labels.device)
    fx, fy, cx, cy, skew = k[:, 0, 0:1], k[:, 1, 1:2], k[:, 0, 2:3], k[:, 1, 2:3], k[:, 0, 1:2]
    y_img = (uv[None, :, 1] - cy) / fy
    x_img = (uv[None, :, 0] - cx - skew * y_img) / fx
    # OpenGL camera: image v grows downward while camera y points up; the view axis is -z.
    dirs_cam = torch.stack([x_img, -y_img, -torch.ones_like(x_img)], -1)
    dirs = torch.einsum("bij,bnj->bni", cam2world[:, :3, :3], dirs_cam)
    dirs = dirs / dirs.norm(dim=-1, keepdim=True)
    origins = cam2world[:, None, :3, 3].expand_as(dirs)
    return origins, dirs
