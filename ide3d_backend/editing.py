"""Edits of an inverted head, all through feed-forward networks after the one-time
inversion (no re-optimisation), each recorded in the session's history:

- shape edit: a semantic mask painted in the canonical (frontal) view ->
  E_can(canonical RGB of the current state, edited mask) -> new w_s; w_t kept;
- region-level texture style: at every 3D point whose semantic argmax is in the
  selected classes the colour feature comes from another texture tri-plane (a
  seed's or another session's w_t grown from the *current* shape), elsewhere the
  current one (`RegionStyleField`, a renderer field; also colours meshes);
- global texture swap (w_t from a seed or another session), clearing region layers;
- shape/texture interpolation (lerp of w_s or w_t);
- undo/redo (Session.undo / Session.redo).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from . import camera, semantics


class EditError(ValueError):
    """An edit that cannot be made; the message says why and what to do."""


@dataclass
class StyleLayer:
    """Texture of `classes` taken from another w_t ([1, n_t, w])."""
    classes: tuple[int, ...]
    w_t: torch.Tensor
    source: str


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
    c = torch.from_numpy(camera.frontal_label())[None].to(G.device)
    with torch.no_grad():
        return G.mapping(z, c, truncation_psi=truncation).cpu()


def _source_ws(session, seed: int | None, source, truncation: float) -> tuple[torch.Tensor, str]:
    if (seed is None) == (source is None):
        raise EditError("give exactly one of a seed or a source session")
    if seed is not None:
        return latents_from_seed(session.G, seed, truncation), f"seed {seed}"
    from .session import Session
    if not isinstance(source, Session):
        source = Session.open(source, G=session.G_base)
    return source.ws.clone(), f"session {source.name}"


# --- edits ----------------------------------------------------------------------------
def edit_texture(session, seed: int | None = None, source=None, truncation: float = 0.7) -> dict:
    """Global texture swap: w_t from a seed or another session; region layers cleared."""
    other, what = _source_ws(session, seed, source, truncation)
    n = session.G.num_shape_ws
    ws = session.ws.clone()
    ws[:, n:] = other[:, n:]
    return session.commit("texture", f"texture from {what}", ws, [])


def edit_region(session, classes, seed: int | None = None, source=None, truncation: float = 0.7) -> dict:
    """Region-level style: the selected classes take their texture from a seed/session."""
    ids = tuple(semantics.parse_classes(classes))
    other, what = _source_ws(session, seed, source, truncation)
    n = session.G.num_shape_ws
    layers = list(session.layers) + [StyleLayer(ids, other[:, n:].clone(), what)]
    names = ",".join(semantics.CLASS_NAMES[i] for i in ids)
    return session.commit("region", f"{names} styled from {what}", session.ws.clone(), layers)


def edit_interpolate(session, part: str, alpha: float, seed: int | None = None, source=None,
                     truncation: float = 0.7) -> dict:
    """Lerp the shape (w_s) or texture (w_t) code toward a seed's or session's."""
    if part not in ("shape", "texture"):
        raise EditError(f"interpolate part must be shape or texture, not {part!r}")
    if not 0.0 <= alpha <= 1.0:
        raise EditError(f"alpha must be in [0, 1], got {alpha}")
    other, what = _source_ws(session, seed, source, truncation)
    n = session.G.num_shape_ws
    ws = session.ws.clone()
    sl = slice(0, n) if part == "shape" else slice(n, None)
    ws[:, sl] = torch.lerp(ws[:, sl], other[:, sl], float(alpha))
    return session.commit("interpolate", f"{part} {alpha:.2f} toward {what}", ws, list(session.layers))


def load_editor(encoders=None, device=None):
    if encoders is not None:
        return encoders
    try:
        from . import encoding
    except ImportError:
        raise EditError("the canonical editor is not part of this installation") from None
    from .checkpoint import CheckpointError
    try:
        return encoding.load_encoders(None, device=device)
    except (CheckpointError, FileNotFoundError) as exc:
        raise EditError(f"shape edits need the trained canonical editor ({exc}); "
                        "install weights/encoders.safetensors or train them with `ide3d train encoders`") from None


def edit_mask(session, mask: np.ndarray, encoders=None) -> dict:
    """Shape edit from a mask painted in the canonical view: new w_s from E_can, w_t kept."""
    from . import encoding
    enc = load_editor(encoders, session.G.device)
    mask = semantics.check_mask(mask)
    G = session.G
    r = G.cfg.superres.output_resolution
    with torch.no_grad():
        planes, field = session.field()
        out = G.synthesis(session.ws.to(G.device), torch.from_numpy(camera.frontal_label())[None].to(G.device),
                          planes=planes, field=field, perturb=False)
        m = torch.from_numpy(mask.astype(np.int64))[None, None].float()
        if m.shape[-1] != r or m.shape[-2] != r:
            m = F.interpolate(m, size=(r, r), mode="nearest")
        onehot = semantics.mask_to_onehot(m[:, 0].long()).to(G.device)  # 0/1: encoding scales it
        ws_can = encoding.encode_canonical(enc, G, out["image"], onehot).cpu()
    n = G.num_shape_ws
    ws = session.ws.clone()
    ws[:, :n] = ws_can[:, :n]
    changed = int((mask != session.render(0.0, 0.0, "mask", size=mask.shape[0])).sum())
    return session.commit("mask", f"shape from edited mask ({changed} px changed)", ws, list(session.layers))


@torch.no_grad()
def selection_coverage(G, ws: torch.Tensor, classes, yaw: float, pitch: float,
                       size: int | None = None) -> np.ndarray:
    """Per-pixel fraction of the rendered colour that comes from 3D points whose argmax
    label is in `classes` ((H, W) float in [0, 1]; output resolution unless `size`).

    An independent answer for region edits: rendered with the same weights as the image
    but with an indicator as the colour feature, it says where an edit may act."""
    ids = semantics.parse_classes(classes) if not isinstance(classes, (tuple, list)) or \
        any(isinstance(c, str) for c in classes) else [int(c) for c in classes]
    sel = torch.zeros(semantics.NUM_CLASSES, dtype=torch.bool)
    sel[ids] = True
    ws = ws.to(G.device)
    planes = G.planes(ws)

    def field(xyz):
        sigma, logits = G.decoder.decode_semantic(planes.semantic, xyz)
        ind = sel.to(xyz.device)[logits.argmax(-1, keepdim=True)].float()
        return {"sigma": sigma, "semantic_logits": logits, "features": ind}

    c = torch.from_numpy(camera.label_from_angles(yaw, pitch))[None].to(G.device)
    out = G.synthesis(ws, c, planes=planes, field=field, superres=False, perturb=False)
    cov = out["features_raw"][:, :1]
    r = size or G.cfg.superres.output_resolution
    cov = F.interpolate(cov, size=(r, r), mode="bilinear", align_corners=False)
    return cov[0, 0].clamp(0, 1).cpu().numpy()
