"""E_s's pose head in closed form: the ridge-regression read-out of (yaw, pitch) from
E_s's features over a dataset and its mirror images (encoder runs that move the pose
from the image to the mask, and `final_pose_fit`)."""
from __future__ import annotations

import numpy as np
import torch

from ide3d_backend.encoding import Encoders

from .synthetic import labels_to_angles

POSE_HEAD_RIDGE = 1.0  # weight decay of the read-out: a small one chased feature noise and broke on the first step


@torch.no_grad()
def fit_pose_head(enc: Encoders, data, ridge: float = POSE_HEAD_RIDGE, batch: int = 64) -> tuple[float, float]:
    """Set E_s's pose head to the ridge-regression read-out of (yaw, pitch) from E_s's
    features over every dataset image and its mirror: a new head then starts where its
    gradients would take it, instead of pulling the shape features along from zero.
    Returns the fit's root-mean-square error (yaw, pitch) in radians."""
    feats, targets = [], []
    for flip in (False, True):
        for i in range(0, len(data), batch):
            idx = np.arange(i, min(i + batch, len(data)))
            b = data.batch(idx, np.full(len(idx), flip))
            feats.append(enc.semantic.tower(enc._mask(b["mask"])).double().cpu())
            targets.append(labels_to_angles(b["label"], torch.float64))
    X = torch.cat([torch.cat(feats), torch.ones(sum(len(f) for f in feats), 1, dtype=torch.float64)], 1)
    y = torch.cat(targets)
    sol = torch.linalg.solve(X.T @ X + ridge * torch.eye(X.shape[1], dtype=X.dtype), X.T @ y)  # [F+1, 2]
    head = enc.semantic.pose
    head.weight.copy_((sol[:-1].T / head.weight_gain).to(head.weight))
    head.bias.copy_((sol[-1] / head.bias_gain).to(head.bias))
    err = (X @ sol - y).square().mean(0).sqrt()
    return float(err[0]), float(err[1])
