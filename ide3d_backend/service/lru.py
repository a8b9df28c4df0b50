"""The service's in-memory caches (PNGs, rendered views, meshes): a small thread-safe LRU."""
from __future__ import annotations

import threading
from collections import OrderedDict


class LRU:
    """A small thread-safe LRU (entries and, optionally, total bytes bounded)."""

    def __init__(self, size: int, max_bytes: int | None = None):
        self.size, self.max_bytes = max(0, size), max_bytes
        self._d: OrderedDict = OrderedDict()  # key -> (value, nbytes)
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            item = self._d.get(key)
            if item is None:
                return None
            self._d.move_to_end(key)
            return item[0]

    def put(self, key, value, nbytes: int = 0):
        if self.size == 0:
            return
        with self._lock:
            if key in self._d:
                return
            self._d[key] = (value, nbytes)
            self._bytes += nbytes
            while len(self._d) > self.size or (self.max_bytes and self._bytes > self.max_bytes and len(self._d) > 1):
                _, (_, n) = self._d.popitem(last=False)
                self._bytes -= n

    def drop(self, pred):
        with self._lock:
            for k in [k for k in self._d if pred(k)]:
                self._bytes -= self._d.pop(k)[1]
