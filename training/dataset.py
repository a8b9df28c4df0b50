"""A training set held in memory: SynthHeads (or any EG3D-layout dataset: images/,
masks/, dataset.json) decoded once, batches drawn by index with optional mirroring
(left/right classes swapped, camera mirrored). Used by every trainer."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ide3d_backend import camera


class InMemoryDataset:
    """Loads the whole (small) dataset once: PNG decoding is not repeated every step."""

    def __init__(self, root: Path, resolution: int):
        from ide3d_backend.data import PortraitDataset
        ds = PortraitDataset(root, resolution=resolution, xflip=False)
        items = [ds[i] for i in range(len(ds))]
        self.images = torch.stack([it["image"] for it in items])
        self.masks = torch.stack([it["mask"] for it in items])
        self.labels = torch.stack([torch.as_tensor(it["label"]) for it in items]).float()
        self.has_depth = "depth" in items[0]
        self.depths = torch.stack([it["depth"] for it in items]) if self.has_depth else None
        groups = [int(it.get("group", i)) for i, it in enumerate(items)]
        uniq = sorted(set(groups))
        remap = {g: j for j, g in enumerate(uniq)}
        self.groups = torch.tensor([remap[g] for g in groups])
        self.num_groups = len(uniq)
        # Heads with a frontal view (yaw = pitch = 0) and at least one other: E_can's real inputs.
        frontal = [abs(y) < 1e-4 and abs(p) < 1e-4 for y, p in (camera.angles_from_label(l)[:2]
                                                                 for l in self.labels.numpy())]
        self.frontal_of: dict[int, int] = {}
        self.others_of: dict[int, list[int]] = {}
        for i, (g, f) in enumerate(zip(self.groups.tolist(), frontal)):
            if f:
                self.frontal_of.setdefault(g, i)
            else:
                self.others_of.setdefault(g, []).append(i)
        self.frontal_heads = sorted(g for g in self.frontal_of if g in self.others_of)

    def __len__(self):
        return len(self.images)

    def batch(self, idx: np.ndarray, xflip_mask: np.ndarray | None = None) -> dict[str, torch.Tensor]:
        idx_t = torch.as_tensor(idx)
        out = {"image": self.images[idx_t].clone(), "mask": self.masks[idx_t].clone(),
               "label": self.labels[idx_t].clone(), "group": self.groups[idx_t]}
        if self.has_depth:
            out["depth"] = self.depths[idx_t].clone()
        if xflip_mask is not None and xflip_mask.any():
            from ide3d_backend.semantics import FLIP_PERMUTATION
            f = torch.as_tensor(xflip_mask)
            perm = torch.as_tensor(FLIP_PERMUTATION)
            out["image"][f] = out["image"][f].flip(-1)
            out["mask"][f] = perm[out["mask"][f].flip(-1)]
            out["label"][f] = torch.from_numpy(camera.flip_label(out["label"][f].numpy()))
            if self.has_depth:
                out["depth"][f] = out["depth"][f].flip(-1)
        return out
