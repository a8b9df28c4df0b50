"""The 3D-semantics-aware generator of Fig. 2 (upper half), assembled from its parts:

    z, c --mapping--> ws [B, 18, w]  (ws[:, :8] = w_s shape, ws[:, 8:] = w_t texture)
    ws --backbone--> semantic + texture tri-planes
    planes --dual decoder--> sigma, 19 semantic logits, 32-d colour feature per point
    rays(c) --volume renderer--> feature map C_l, semantic map S_l, depth (neural resolution)
    C_l, S_l --super-resolution--> RGB I_h and semantic logits S_h (output resolution)
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from ..config import GeneratorConfig, get_config
from .backbone import TriPlaneBackbone, TriPlanes
from .decoder import DualDecoder
from .layers import MappingNetwork
from .ray_sampler import sample_rays
from .renderer import VolumeRenderer
from .superres import SuperResolution


class TriPlaneGenerator(nn.Module):
    def __init__(self, cfg: GeneratorConfig | str = "tiny"):
        super().__init__()
        cfg = get_config(cfg)
        self.cfg = cfg
        m = cfg.mapping
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = m.z_dim, m.c_dim, m.w_dim, m.num_ws
        self.num_shape_ws = m.num_shape_ws
        self.mapping = MappingNetwork(m.z_dim, m.c_dim, m.w_dim, m.num_ws, m.num_layers,
                                      m.lr_multiplier, m.w_avg_beta)
        self.backbone = TriPlaneBackbone(cfg.backbone, m.w_dim, m.num_shape_ws, m.num_ws - m.num_shape_ws)
        self.decoder = DualDecoder(cfg.backbone.semantic_plane_channels, cfg.backbone.texture_plane_channels,
                                   cfg.decoder, cfg.render.box_warp)
        self.superres = SuperResolution(cfg.superres, cfg.decoder.feature_dim, cfg.decoder.num_classes, m.w_dim)
        self.renderer = VolumeRenderer(cfg.render)
        self.neural_resolution = cfg.render.neural_resolution

    # --- latents -------------------------------------------------------------
    def split_ws(self, ws: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ws [B, 18, w] -> (w_s [B, 8, w], w_t [B, 10, w])."""
        return ws[:, :self.num_shape_ws], ws[:, self.num_shape_ws:]

    def merge_ws(self, w_s: torch.Tensor, w_t: torch.Tensor) -> torch.Tensor:
        return torch.cat([w_s, w_t], 1)

    # --- tri-planes and the 3D field -------------------------------------------
    def planes(self, ws: torch.Tensor, noise_mode: str = "const") -> TriPlanes:
        self._check_ws(ws)
        return self.backbone(ws, noise_mode)

    def field(self, planes: TriPlanes) -> Callable[[torch.Tensor], dict]:
        """The decoded 3D field of given tri-planes, as the renderer wants it."""
        return lambda xyz: self.decoder(planes, xyz)

    def sample_points(self, ws: torch.Tensor, xyz: torch.Tensor, planes: TriPlanes | None = None,
                      noise_mode: str = "const") -> dict[str, torch.Tensor]:
        """sigma [B,N,1], semantic_logits [B,N,19], features [B,N,32] at world points xyz [B,N,3]."""
        if planes is None:
            planes = self.planes(ws, noise_mode)
        if xyz.ndim == 2:
            xyz = xyz.unsqueeze(0).expand(planes.semantic.shape[0], -1, -1)
        return self.decoder(planes, xyz.to(planes.semantic.dtype))

    # --- images ------------------------------------------------------------------
    def synthesis(self, ws: torch.Tensor, c: torch.Tensor, neural_resolution: int | None = None,
                  noise_mode: str = "const", planes: TriPlanes | None = None,
                  field: Callable | None = None, perturb: bool | None = None,
                  generator: torch.Generator | None = None, superres: bool = True) -> dict[str, torch.Tensor]:
        """Render ws from cameras c [B, 25].

        Returns image [B,3,R,R] in [-1,1], image_raw [B,3,r,r], features_raw [B,F,r,r],
        semantic [B,19,R,R] logits, semantic_raw [B,19,r,r] probabilities, depth [B,1,r,r],
        opacity [B,1,r,r], and the planes used.
        """
        self._check_ws(ws)
        if c.ndim != 2 or c.shape[1] != self.c_dim or c.shape[0] != ws.shape[0]:
            raise ValueError(f"camera labels must be ({ws.shape[0]}, {self.c_dim}), got {tuple(c.shape)}")
        r = neural_resolution or self.neural_resolution
        if planes is None:
            planes = self.planes(ws, noise_mode)
        if field is None:
            field = self.field(planes)
        if perturb is None:
            perturb = self.training
        origins, dirs = sample_rays(c.to(ws.device), r)
        out = self.renderer.render(field, origins, dirs, perturb=perturb, generator=generator)
        b = ws.shape[0]
        to_map = lambda x: x.transpose(1, 2).reshape(b, -1, r, r).contiguous()  # noqa: E731
        features = to_map(out["features"])
        sem_raw = to_map(out["semantic"])
        image_raw = features[:, :3] * 2 - 1
        result = {"image_raw": image_raw, "features_raw": features, "semantic_raw": sem_raw,
                  "depth": to_map(out["depth"].unsqueeze(-1)), "opacity": to_map(out["opacity"].unsqueeze(-1)),
                  "planes": planes}
        if superres:
            w_s, w_t = self.split_ws(ws)
            result["image"] = self.superres.forward_rgb(features, image_raw, w_t, noise_mode)
            result["semantic"] = self.superres.forward_semantic(sem_raw, w_s, noise_mode)
        return result

    def forward(self, z: torch.Tensor, c: torch.Tensor, truncation_psi: float = 1.0,
                c_render: torch.Tensor | None = None, **kwargs) -> dict[str, torch.Tensor]:
        ws = self.mapping(z, c, truncation_psi=truncation_psi)
        return self.synthesis(ws, c if c_render is None else c_render, **kwargs)

    def _check_ws(self, ws: torch.Tensor):
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"ws must be (B, {self.num_ws}, {self.w_dim}), got {tuple(ws.shape)}")

    @property
    def device(self) -> torch.device:
        return self.mapping.w_avg.device
