"""The front doors that make a session (the CLI and the HTTP service call them): from a
photo (inversion), from a seed, from a drawn mask. The models come in as arguments."""
from __future__ import annotations

import threading

import numpy as np
import torch

from .. import encoding, inversion, preprocess, semantics
from ..guidance import LandmarkGuide
from ..photo import analyse_aligned
from ..style import latents_from_seed
from .head import Session


def invert_photo(G, photo, out_dir, mask=None, preset="fast", align: bool = True, encoders=None,
                 parser=None, callback=None, cancel: threading.Event | None = None, name: str | None = None,
                 base_source: dict | None = None, overwrite: bool = False, fingerprint: str | None = None) -> Session:
    """Photo (path/bytes/array) -> aligned -> mask -> inversion -> session.

    With the face mesh (the default front end, photo/): the crop, the camera and the mask
    come from the landmarks (+ selfie segmentation + parser), and the landmarks guide the
    inversion (guidance.py). Without it (Haar fallback, --no-align, a user mask) the mask is
    the user's, else the parser's. `encoders` / `parser`: the trained networks
    (sources.optional_*); None goes without."""
    size = G.cfg.superres.output_resolution
    rgb = preprocess.load_image(photo)  # decoded once: the front end segments the same array
    aligned = preprocess.preprocess(rgb, size, mask=mask, align=align)
    warnings = list(aligned.warnings)
    ids, source = aligned.mask, "user" if aligned.mask is not None else "none"
    guide = None
    if aligned.landmarks is not None:
        guide = LandmarkGuide(aligned.landmarks, size, aligned.camera.yaw, aligned.camera.pitch)
        if ids is None:
            analysis = analyse_aligned(rgb, aligned, parser)
            ids, source = analysis.mask, "landmarks"
            warnings = list(analysis.warnings)
    if ids is None:
        try:
            ids = preprocess.predict_mask(aligned.image, parser, device=G.device)
            source = "parser"
        except preprocess.PreprocessError as exc:
            warnings.append(f"{exc}; inverting without a mask term (the session mask is rendered)")
    result, _ = inversion.invert(G, aligned.image, ids, preset, encoders, callback, cancel, guide=guide)
    inversion._check(cancel)
    warnings += result.warnings
    extra = {"inversion": {"preset": inversion.get_preset(preset).name, "init": result.init,
                           "timings": result.timings, "steps": result.steps, "perceptual": result.perceptual,
                           "cameras": result.cameras}}
    return Session.create(out_dir, G, result.ws, result.yaw, result.pitch, result.tuned, aligned.image, ids,
                          source, name, "invert", f"inverted ({extra['inversion']['preset']})", warnings,
                          base_source, extra, overwrite, fingerprint)


def sample_session(G, seed: int, out_dir, truncation: float = 0.7, base_source: dict | None = None,
                   name: str | None = None, fingerprint: str | None = None) -> Session:
    """A random head from a seed, as a session (frontal input view)."""
    ws = latents_from_seed(G, seed, truncation)
    return Session.create(out_dir, G, ws, 0.0, 0.0, name=name or f"seed {seed}", kind="sample",
                          summary=f"random head, seed {seed}", base_source=base_source, fingerprint=fingerprint)


def draw_session(G, mask: np.ndarray, out_dir, texture_seed: int = 0, encoders=None, truncation: float = 0.7,
                 base_source: dict | None = None, name: str | None = None) -> Session:
    """3D face drawing (paper Fig. 8): E_s on a drawn canonical mask + w_t from a seed.
    `encoders`: the trained encoder bundle (sources.load_editor)."""
    from ..editing import EditError
    if encoders is None:
        raise EditError("drawing needs the trained shape encoder; install weights/encoders.safetensors or "
                        "train them with `ide3d train encoders`")
    mask = semantics.check_mask(mask)
    r = G.cfg.superres.output_resolution
    onehot = encoding.mask_onehot(mask, r, G.device)
    with torch.no_grad():
        w_avg = G.mapping.w_avg.to(G.device)
        w_s = (w_avg + encoders.semantic_offsets(onehot)).cpu()
    ws = latents_from_seed(G, texture_seed, truncation)
    ws = G.merge_ws(G.split_ws(w_s)[0], G.split_ws(ws)[1])
    return Session.create(out_dir, G, ws, 0.0, 0.0, mask=mask if mask.shape == (r, r) else None,
                          mask_source="drawn", name=name or "drawing", kind="draw",
                          summary=f"drawn mask, texture seed {texture_seed}", base_source=base_source)
