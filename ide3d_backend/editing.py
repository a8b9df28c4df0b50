"""Edits of an inverted head, all through feed-forward networks after the one-time
inversion (no re-optimisation). Each edit is a function state -> (new state, summary)
that takes the models it needs; the session commits the result to its history:

- `mask_edit`: a semantic mask painted in the canonical (frontal) view ->
  E_can(canonical RGB of the current state, edited mask) -> new w_s; w_t kept;
- `region_style`: at every 3D point whose semantic argmax is in the selected classes
  the colour feature comes from another texture tri-plane (a seed's or another
  session's w_t grown from the *current* shape), elsewhere the current one
  (`style.RegionStyleField`, a renderer field; also colours meshes);
- `texture_swap`: w_t from a seed or another session, clearing region layers;
- `interpolate`: lerp of w_s or w_t.

`edit_mask`, `edit_region`, `edit_texture` and `edit_interpolate` apply one to an open
session (anything with `G`, `state` and `commit(kind, summary, state)`: this module
does not import the session package, which sits above it). Undo/redo are the session's.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from . import camera, encoding, semantics, views
from .style import State, StyleLayer, build_field, latents_from_seed


class EditError(ValueError):
    """An edit that cannot be made; the message says why and what to do."""


def source_latents(G, seed: int | None = None, source=None, truncation: float = 0.7) -> tuple[torch.Tensor, str]:
    """(ws, description) of the style source: a seed, or an open session (its current ws)."""
    if (seed is None) == (source is None):
        raise EditError("give exactly one of a seed or a source session")
    if seed is not None:
        return latents_from_seed(G, seed, truncation), f"seed {seed}"
    return source.ws.clone(), f"session {source.name}"


# --- state -> state ---------------------------------------------------------------------
def texture_swap(state: State, G, other: torch.Tensor, what: str) -> tuple[State, str]:
    """Global texture swap: w_t from `other`; region layers cleared."""
    w_s, _ = G.split_ws(state.ws)
    _, w_t = G.split_ws(other)
    return State(G.merge_ws(w_s, w_t).clone(), []), f"texture from {what}"


def region_style(state: State, G, classes, other: torch.Tensor, what: str) -> tuple[State, str]:
    """Region-level style: the selected classes take their texture from `other`."""
    ids = tuple(semantics.parse_classes(classes))
    layers = list(state.layers) + [StyleLayer(ids, G.split_ws(other)[1].clone(), what)]
    names = ",".join(semantics.CLASS_NAMES[i] for i in ids)
    return State(state.ws.clone(), layers), f"{names} styled from {what}"


def interpolate(state: State, G, part: str, alpha: float, other: torch.Tensor, what: str) -> tuple[State, str]:
    """Lerp the shape (w_s) or texture (w_t) code toward `other`'s."""
    if part not in ("shape", "texture"):
        raise EditError(f"interpolate part must be shape or texture, not {part!r}")
    if not 0.0 <= alpha <= 1.0:
        raise EditError(f"alpha must be in [0, 1], got {alpha}")
    (w_s, w_t), (o_s, o_t) = G.split_ws(state.ws), G.split_ws(other)
    if part == "shape":
        w_s = torch.lerp(w_s, o_s, float(alpha))
    else:
        w_t = torch.lerp(w_t, o_t, float(alpha))
    return State(G.merge_ws(w_s, w_t), list(state.layers)), f"{part} {alpha:.2f} toward {what}"


def mask_edit(state: State, G, editor, mask: np.ndarray, planes_field=None, arrays=None) -> tuple[State, str]:
    """Shape edit from a mask painted in the canonical view: new w_s from E_can, w_t kept.
    `editor` is the encoder bundle (E_can); `planes_field` the state's (planes, field)
    and `arrays` its canonical `views.render_arrays` when the caller has them cached."""
    if editor is None:
        raise EditError("shape edits need the trained canonical editor; install weights/encoders.safetensors "
                        "or train them with `ide3d train encoders`")
    mask = semantics.check_mask(mask)
    r = G.cfg.superres.output_resolution
    with torch.no_grad():
        if arrays is None:
            planes, field = planes_field or build_field(G, state.ws, state.layers)
            arrays = views.render_arrays(G, state.ws, 0.0, 0.0, field, planes)
        onehot = encoding.mask_onehot(mask, r, G.device)
        ws_can = encoding.encode_canonical(editor, G, arrays["image"], onehot).cpu()
    _, w_t = G.split_ws(state.ws)
    ws = G.merge_ws(G.split_ws(ws_can)[0], w_t)
    changed = int((mask != views.render_kind(arrays, "mask", mask.shape[0])).sum())
    return State(ws, list(state.layers)), f"shape from edited mask ({changed} px changed)"


# --- applied to an open session -----------------------------------------------------------
def edit_texture(session, seed: int | None = None, source=None, truncation: float = 0.7) -> dict:
    state, summary = texture_swap(session.state, session.G, *source_latents(session.G, seed, source, truncation))
    return session.commit("texture", summary, state)


def edit_region(session, classes, seed: int | None = None, source=None, truncation: float = 0.7) -> dict:
    ids = tuple(semantics.parse_classes(classes))  # a bad class fails before the source is made
    other = source_latents(session.G, seed, source, truncation)
    state, summary = region_style(session.state, session.G, ids, *other)
    return session.commit("region", summary, state)


def edit_interpolate(session, part: str, alpha: float, seed: int | None = None, source=None,
                     truncation: float = 0.7) -> dict:
    if part not in ("shape", "texture"):
        raise EditError(f"interpolate part must be shape or texture, not {part!r}")
    if not 0.0 <= alpha <= 1.0:
        raise EditError(f"alpha must be in [0, 1], got {alpha}")
    other = source_latents(session.G, seed, source, truncation)
    state, summary = interpolate(session.state, session.G, part, alpha, *other)
    return session.commit("interpolate", summary, state)


def edit_mask(session, mask: np.ndarray, encoders=None, arrays=None) -> dict:
    """`encoders`: the canonical editor (sources.load_editor resolves the shipped one);
    `arrays`: the current state's canonical render when the caller kept it (live painting)."""
    with session.lock:
        state, summary = mask_edit(session.state, session.G, encoders, mask,
                                   session.field() if arrays is None else None, arrays)
    return session.commit("mask", summary, state)


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

    out = G.synthesis(ws, camera.label_tensor(yaw, pitch, G.device), planes=planes, field=field,
                      superres=False, perturb=False)
    cov = out["features_raw"][:, :1]
    r = size or G.cfg.superres.output_resolution
    cov = F.interpolate(cov, size=(r, r), mode="bilinear", align_corners=False)
    return cov[0, 0].clamp(0, 1).cpu().numpy()
