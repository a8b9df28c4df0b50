"""Latent states and the region-style field they render through.

A *state* is what an edit changes and the session records: the latents ws [1, 18, w]
and the region style layers on top of them. This module sits below the editing code and
the sessions (both use it) and loads nothing: it only needs a generator passed in.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from . import camera, semantics


@dataclass
class StyleLayer:
    """Texture of `classes` taken from another w_t ([1, n_t, w])."""
    classes: tuple[int, ...]
    w_t: torch.Tensor
    source: str


@dataclass
class State:
    """One entry of a session's history: latents ws [1, 18, w] (cpu) and style layers."""
    ws: torch.Tensor
    layers: list[StyleLayer] = field(default_factory=list)


class RegionStyleField:
    """Renderer field: density and semantics of `planes`; colour features from the
    texture plane of the last layer whose classes contain the point's argmax label."""

    def __init__(self, decoder, planes, layers: list[tuple[torch.Tensor, torch.Tensor]]):
        self.decoder, self.planes, self.layers = decoder, planes, layers  # (bool [19], tex planes)

    def __call__(self, xyz: torch.Tensor) -> dict[str, torch.Tensor]:
        dec = self.decoder
        sigma, logits = dec.decode_semantic(self.planes.semantic, xyz)
        feats = dec.decode_texture(self.planes.texture, xyz)
        if self.layers:
            labels = logits.argmax(-1, keepdim=True)
            for selected, tex in self.layers:
                pick = selected.to(labels.device)[labels]
                if bool(pick.any()):
                    feats = torch.where(pick, dec.decode_texture(tex, xyz), feats)
        return {"sigma": sigma, "semantic_logits": logits, "features": feats}


def build_field(G, ws: torch.Tensor, layers: list[StyleLayer]):
    """(planes, field or None) of a state; style layers grow their texture planes from
    the current shape's shared feature map."""
    ws = ws.to(G.device)
    if not layers:
        return G.planes(ws), None
    from .model.backbone import TriPlanes
    w_s, w_t = G.split_ws(ws)
    shared, sem = G.backbone.semantic_planes(w_s)  # the shape branch runs once for all textures
    planes = TriPlanes(sem, G.backbone.texture_planes(shared, w_t))
    built = []
    for layer in layers:
        sel = torch.zeros(semantics.NUM_CLASSES, dtype=torch.bool)
        sel[list(layer.classes)] = True
        built.append((sel, G.backbone.texture_planes(shared, layer.w_t.to(G.device))))
    return planes, RegionStyleField(G.decoder, planes, built)


def latents_from_seed(G, seed: int, truncation: float = 0.7) -> torch.Tensor:
    """ws [1, 18, w] of a random head (frontal conditioning, as at inference)."""
    g = torch.Generator().manual_seed(int(seed))
    z = torch.randn(1, G.z_dim, generator=g).to(G.device)
    with torch.no_grad():
        return G.mapping(z, camera.label_tensor(device=G.device), truncation_psi=truncation).cpu()
