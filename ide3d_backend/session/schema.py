"""The typed shape of session.json: one pydantic model, checked on every read so a
hand-edited or damaged file (a missing key, a wrong type) is a clear SessionError
instead of a KeyError/TypeError deep in a render or a listing."""
from __future__ import annotations

import math
from typing import Literal, Optional

from pydantic import (BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr, ValidationError, field_validator,
                      model_validator)

__all__ = ["SessionJson", "ValidationError", "describe"]


class _Strict(BaseModel):
    # Unknown keys are kept (newer writers, `extra`); known keys must have their type
    # (strict: "abc" is not a number, 123 is not a name; an int is a valid float).
    model_config = ConfigDict(extra="allow")


def _finite(v):
    if not math.isfinite(v):
        raise ValueError("must be a finite number")
    return v


class Camera(_Strict):
    yaw: StrictFloat
    pitch: StrictFloat

    _check = field_validator("yaw", "pitch")(_finite)


class Base(_Strict):
    fingerprint: StrictStr


class Files(_Strict):
    photo: Optional[StrictStr] = None
    mask: StrictStr
    tuned: Optional[StrictStr] = None


class HistoryEntry(_Strict):
    version: StrictInt
    kind: StrictStr
    summary: StrictStr
    file: StrictStr


class SessionJson(_Strict):
    format: Literal["ide3d-session"]
    format_version: StrictInt
    name: StrictStr
    created: StrictFloat
    camera: Camera
    base: Base
    files: Files
    mask_source: Optional[StrictStr] = None
    warnings: list[StrictStr] = Field(default_factory=list)
    version: StrictInt
    pointer: StrictInt
    history: list[HistoryEntry] = Field(min_length=1)
    extra: dict = Field(default_factory=dict)

    _check = field_validator("created")(_finite)

    @model_validator(mode="after")
    def _pointer_in_history(self):
        if not -1 <= self.pointer < len(self.history):
            raise ValueError(f"pointer {self.pointer} is outside the history (0..{len(self.history) - 1})")
        return self


def describe(exc: ValidationError) -> str:
    """The first few problems, as `where: what` (no input values: they may be huge)."""
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err["loc"]) or "session.json"
        parts.append(f"{where}: {err['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")
