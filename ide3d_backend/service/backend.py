"""The state one service process shares between requests: the models (loaded once, from
the settings or given), the model lock, the session store, the job worker with its own
copies of the models, and the render/view/mesh caches.

Threads: request handlers run in the server's thread pool; every operation on the shared
generator (renders, meshes, edits, samples, session opening) holds `model_lock`. The
inversion job worker runs on its own copy of the generator and encoders, so a long
inversion never blocks renders and edits of other sessions.
"""
from __future__ import annotations

import copy
import logging
import os
import threading

from PIL import Image

from .. import __version__
from ..texturing import SessionTexturer
from . import auth
from .jobs import JobManager
from .lru import LRU
from .settings import Limits, Settings
from .store import SessionStore

log = logging.getLogger("ide3d.service")


def _load_models(settings: Settings, generator=None, encoders=None, parser=None):
    """(G, base_source, encoders or None, parser or None) as the settings say."""
    from ..api import build_generator, load_generator
    from ..checkpoint import CheckpointError, select_device
    from .. import encoding
    device = select_device(settings.device)
    ckpt = settings.checkpoint or os.environ.get("IDE3D_CHECKPOINT") or None
    if generator is not None:
        G = generator
        source = {"checkpoint": os.path.abspath(ckpt)} if ckpt and not str(ckpt).startswith("build:") else {}
    elif ckpt and str(ckpt).startswith("build:"):
        parts = str(ckpt).split(":")
        preset, seed = parts[1] or "tiny", int(parts[2]) if len(parts) > 2 else 0
        G = build_generator(preset, seed=seed, device=device)
        source = {"built": {"preset": preset, "seed": seed}}
    else:
        G = load_generator(ckpt, device=device)
        from ..checkpoint import default_checkpoint
        source = {"checkpoint": str(os.path.abspath(ckpt) if ckpt else default_checkpoint("generator"))}
    G = G.eval().requires_grad_(False)

    def optional(explicit, given, loader, what):
        if given is not None:
            return given
        if explicit:
            return loader(explicit, device=device)  # a given path must load
        try:
            return loader(None, device=device)
        except (CheckpointError, FileNotFoundError) as exc:
            log.warning("no %s: %s", what, exc)
            return None
    enc = optional(settings.encoders, encoders, encoding.load_encoders, "trained encoders")
    par = optional(settings.parser, parser, encoding.load_parser, "trained face parser")
    return G, source, enc, par


class Backend:
    def __init__(self, settings: Settings, generator=None, encoders=None, parser=None, token: str | None = None):
        self.settings = settings
        self.limits: Limits = settings.limits
        self.token = token if token is not None else settings.token
        if not self.token:
            self.token, self.token_path, _ = auth.load_or_create_token(settings.token_file)
        else:
            self.token_path = None
        Image.MAX_IMAGE_PIXELS = int(self.limits.max_pixels)
        self.G, self.base_source, self.encoders, self.parser = _load_models(settings, generator, encoders, parser)
        self.resolution = int(self.G.cfg.superres.output_resolution)
        self.model_lock = threading.RLock()
        self.store = SessionStore(settings.data_dir, self.G, settings.session_cache)
        # The worker's own copies: inversion never shares modules with request threads.
        self.G_job = copy.deepcopy(self.G)
        self.enc_job = copy.deepcopy(self.encoders) if self.encoders is not None else None
        self.parser_job = copy.deepcopy(self.parser) if self.parser is not None else None
        self.jobs = JobManager(str(self.G.device), self.limits.max_queued_jobs)
        self.png_cache = LRU(settings.render_cache, 128 << 20)
        self.view_cache = LRU(8)
        self.mesh_cache = LRU(4)
        self.texturer = SessionTexturer()  # last textured head per session, for region re-bakes

    def close(self):
        self.jobs.shutdown()
        self.store.close()

    # --- helpers -------------------------------------------------------------------------
    def preset(self, name: str):
        from .. import inversion
        p = inversion.get_preset(name)
        if name in self.settings.preset_steps:
            lat, tune = self.settings.preset_steps[name]
            p = p.with_steps(int(lat), int(tune))
        return p

    def session(self, sid: str):
        return self.store.get(sid)

    def health(self) -> dict:
        return {"status": "ok", "version": __version__,
                "model": {"preset": self.G.cfg.preset, "device": str(self.G.device),
                          "output_resolution": self.resolution}}
