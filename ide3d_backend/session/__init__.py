"""Sessions: one inverted (or sampled, or drawn) head and its edit history.

- `record`: the files on disk (session.json, photo, mask, tuned weights, states); no model;
  validated on read, written atomically.
- `head`: `Session`, the live head: a record plus the base generator, its tuned copy,
  the current state, the field cache, renders and meshes.
- `make`: the front doors that make one (`invert_photo`, `sample_session`, `draw_session`).
"""
from .head import Session
from .make import draw_session, invert_photo, sample_session
from .record import (FORMAT, FORMAT_VERSION, TUNED_FILE, SessionError, SessionRecord, model_fingerprint,
                     read_meta)

__all__ = ["FORMAT", "FORMAT_VERSION", "TUNED_FILE", "Session", "SessionError", "SessionRecord", "draw_session",
           "invert_photo", "model_fingerprint", "read_meta", "sample_session"]
