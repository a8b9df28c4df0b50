"""What a photo's face landmarks add to the inversion (issue 14, landmark-guided inversion).

- The camera: the PnP yaw/pitch of the landmarks (photo.pose) is the starting camera and a
  soft prior on its refinement; the encoders' pose is kept as a second opinion.
- A depth term: MediaPipe gives each landmark a relative depth (same scale as x, origin
  and scale unknown). The rendered depth at the landmark pixels must follow it up to an
  affine map, so the term is 1 - Pearson correlation (scale- and shift-invariant): the
  geometry follows the face instead of stretching it into the neck.
- A symmetry prior: the mirrored photo (left/right classes swapped in its mask) seen from
  the mirrored camera (-yaw) gives the side of the head the photo does not show, with a
  lower weight, as TriPlaneNet's mirrored-view term does. A near-frontal photo gets no
  mirror term: it would only pull an asymmetric face toward symmetry.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from . import semantics

FACE_POINTS = 468  # MediaPipe face-mesh points; 468..477 are the irises (no depth of their own)
TRIM = 0.1         # share of landmarks left out of the depth term (largest residuals)


@dataclass(frozen=True)
class LandmarkGuide:
    """Face landmarks of the aligned photo and the camera they imply."""
    points: np.ndarray  # (478, 3): x, y continuous aligned-crop pixels, z relative depth (smaller = nearer)
    crop_size: int      # side of the aligned crop the points are in
    yaw: float          # PnP camera, camera.py conventions (radians)
    pitch: float

    def grid(self, device=None) -> torch.Tensor:
        """[1, 1, N, 2] sampling grid in grid_sample's [-1, 1] (align_corners=False: -1 is the
        crop's left edge, as continuous landmark coordinates have 0 there)."""
        xy = np.asarray(self.points[:FACE_POINTS, :2], dtype=np.float32)
        g = xy / self.crop_size * 2.0 - 1.0
        return torch.from_numpy(g)[None, None].to(device)

    def depths(self, device=None) -> torch.Tensor:
        return torch.from_numpy(np.asarray(self.points[:FACE_POINTS, 2], dtype=np.float32)).to(device)


def sample_at(depth_map: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Values of a [B, 1, r, r] map at the grid's points -> [B, N] (bilinear)."""
    return F.grid_sample(depth_map, grid.expand(depth_map.shape[0], -1, -1, -1), mode="bilinear",
                         padding_mode="border", align_corners=False)[:, 0, 0]


def pearson(a: torch.Tensor, b: torch.Tensor, weight: torch.Tensor | None = None, eps: float = 1e-8
            ) -> torch.Tensor:
    """(Weighted) correlation of a and b along the last axis."""
    w = torch.ones_like(a) if weight is None else weight.expand_as(a)
    w = w / w.sum(-1, keepdim=True).clamp_min(eps)
    a = a - (w * a).sum(-1, keepdim=True)
    b = b - (w * b).sum(-1, keepdim=True)
    return (w * a * b).sum(-1) / ((w * a.square()).sum(-1).sqrt() * (w * b.square()).sum(-1).sqrt() + eps)


def depth_term(depth_map: torch.Tensor, grid: torch.Tensor, landmark_depth: torch.Tensor,
               opacity_map: torch.Tensor | None = None, trim: float = TRIM) -> torch.Tensor:
    """1 - corr(rendered depth at the landmarks, the landmarks' own depth): 0 when the rendered
    face has the landmarks' relief up to scale and offset, 1 when uncorrelated, 2 when inverted.

    Robust to the points that cannot agree: each point is weighted by the rendered opacity
    there (a landmark past the silhouette sees the far background), and the `trim` share
    with the largest residuals of the affine fit (occluded points, a landmark off its
    feature) is left out. Weights and the fit carry no gradient."""
    rendered = sample_at(depth_map, grid)
    z = landmark_depth[None].expand_as(rendered)
    with torch.no_grad():
        w = torch.ones_like(rendered) if opacity_map is None else sample_at(opacity_map, grid).clamp(0, 1)
        if trim > 0:
            zc = z - (w * z).sum(-1, keepdim=True) / w.sum(-1, keepdim=True).clamp_min(1e-8)
            rc = rendered - (w * rendered).sum(-1, keepdim=True) / w.sum(-1, keepdim=True).clamp_min(1e-8)
            slope = (w * zc * rc).sum(-1, keepdim=True) / (w * zc.square()).sum(-1, keepdim=True).clamp_min(1e-12)
            residual = (rc - slope * zc).abs()
            w = w * (residual <= torch.quantile(residual, 1.0 - trim, dim=-1, keepdim=True))
    return (1.0 - pearson(rendered, z, w)).mean()


def mirrored(target: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The photo [1, 3, R, R] and its id mask [1, R, R] mirrored (left/right classes swapped)."""
    flipped = target.flip(-1)
    if mask is None:
        return flipped, None
    perm = torch.as_tensor(semantics.FLIP_PERMUTATION, device=mask.device, dtype=mask.dtype)
    return flipped, perm[mask.flip(-1)]


def mirror_confidence(yaw: float, min_yaw: float) -> float:
    """Weight factor of the mirrored view: 0 for a near-frontal photo, 1 once the photo is
    turned enough that its mirror shows a side the photo does not."""
    return float(np.clip((abs(yaw) - min_yaw) / max(min_yaw, 1e-6), 0.0, 1.0))
