"""The state one service process shares between requests: the models (loaded once, from
the settings or given), the model lock, the session store, the job worker with its own
copies of the models, and the render/view/mesh caches.

Threads: request handlers run in the server's thread pool; every operation on the shared
generator (renders, meshes, edits, samples, session opening) holds `model_lock`. Long work
runs in workers on their own model copies and never holds it: the inversion job worker
(its own generator and encoders) and the long-work worker (meshes above 256³, long_work.py).
Both pause between chunks while interactive requests are busy (model_lock.py), so renders
and edits are served between chunks.
"""
from __future__ import annotations

import copy
import logging
from pathlib import Path

from PIL import Image

from .. import __version__
from ..texturing import SessionTexturer
from . import auth
from .job_table import JobTable
from .jobs import JobManager
from .long_work import LongWork
from .model_lock import ModelLock
from .lru import LRU
from .settings import Limits, Settings
from .store import SessionStore

log = logging.getLogger("ide3d.service")
JOB_TABLE_FILE = "jobs.sqlite3"  # in the data dir


def _load_models(settings: Settings, generator=None, encoders=None, parser=None):
    """(G, base_source, encoders or None, parser or None) as the settings say (sources)."""
    from .. import sources
    from ..checkpoint import select_device
    device = select_device(settings.device)
    spec = settings.generator_spec()
    if generator is not None:
        G, source = generator.eval().requires_grad_(False), sources.describe(spec)
    else:
        G, source = sources.resolve_generator(spec, device)
    warn = lambda note: log.warning("%s", note)  # noqa: E731
    enc = encoders if encoders is not None else sources.optional_encoders(settings.encoders, device, warn)
    par = parser if parser is not None else sources.optional_parser(settings.parser, device, warn)
    return G, source, enc, par


LIVE_SESSIONS = 8


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
        self.model_lock = ModelLock()
        self.store = SessionStore(settings.data_dir, self.G, settings.session_cache)
        # The worker's own copies: inversion never shares modules with request threads.
        self.G_job = copy.deepcopy(self.G)
        self.enc_job = copy.deepcopy(self.encoders) if self.encoders is not None else None
        self.parser_job = copy.deepcopy(self.parser) if self.parser is not None else None
        self.jobs = JobManager(str(self.G.device), self.limits.max_queued_jobs,
                               table=JobTable(Path(settings.data_dir) / JOB_TABLE_FILE))
        self.png_cache = LRU(settings.render_cache, 128 << 20)
        self.view_cache = LRU(8)
        self.mesh_cache = LRU(4)
        # Live painting (routes/edits.py, meshes.py), the last few sessions painted:
        self.live_canonical = LRU(LIVE_SESSIONS)  # (sid, version) -> canonical render of the last stroke
        self.live_meshers = LRU(LIVE_SESSIONS)    # sid -> its LiveMesher (mesh/live.py)
        self.long_work = LongWork(self)
        self.texturer = SessionTexturer()  # last textured head per session, for region re-bakes

    def close(self):
        self.jobs.shutdown()
        self.long_work.shutdown()
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
