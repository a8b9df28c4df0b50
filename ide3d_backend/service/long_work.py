"""Long work outside the model lock: meshes above `LONG_MESH_RESOLUTION`³ run in the
long-work worker (one thread, one mesh at a time) on the worker's own copy of the generator
and a private instance of the session, pausing between batches of mesh points while
renders and edits are busy (ModelLock.yield_cpu). The request waits for its mesh; renders,
edits and /health are answered meanwhile.

A private session instance: the store's instance has its own lock, held through its
renders; the worker never takes it, so a render of the same session is not stuck behind
the mesh either.
"""
from __future__ import annotations

import copy
import threading
from concurrent.futures import ThreadPoolExecutor

from .errors import guarded

LONG_MESH_RESOLUTION = 256  # meshes above this resolution are long work
MESH_BATCH = 1 << 16        # points per batch between two pauses


class LongWork:
    def __init__(self, backend):
        self.backend = backend
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="ide3d-long")
        self._G = None
        self._G_lock = threading.Lock()

    def generator(self):
        """The worker's own copy of the generator (made on first use)."""
        with self._G_lock:
            if self._G is None:
                with self.backend.model_lock:
                    self._G = copy.deepcopy(self.backend.G)
            return self._G

    def mesh(self, path, resolution: int, smooth: int, faces: int | None):
        """(version, HeadMesh) of the session at `path`, made in the worker; waits for it."""
        return guarded(self._pool.submit(self._mesh, path, resolution, smooth, faces).result)

    def _mesh(self, path, resolution, smooth, faces):
        from ..session import Session
        from ..mesh.fields import between_batches
        s = Session.open(path, G=self.generator())
        with between_batches(self.backend.model_lock.yield_cpu, MESH_BATCH):
            return s.version, s.mesh(resolution, smooth, faces)

    def shutdown(self):
        self._pool.shutdown(wait=False, cancel_futures=True)
