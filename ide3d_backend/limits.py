"""What a request may ask for: sizes, ranges and counts. One place for the HTTP service
(which answers 413/422 beyond them) and the `ide3d` command (which refuses the same values),
so the two never disagree."""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Limits:
    """Request limits; exceeding one answers 413 (sizes) or 422 (ranges) with what to do."""
    max_upload_bytes: int = 20 * 1024 * 1024       # one request body
    max_pixels: int = 40_000_000                   # decoded image size (decompression bombs)
    min_mesh_resolution: int = 64
    max_mesh_resolution: int = 512
    min_render_size: int = 16
    max_render_size: int = 1024
    max_smooth: int = 100                          # Taubin iterations
    max_abs_yaw: float = 2 * math.pi               # radians either side of frontal (one full turn)
    max_abs_pitch: float = math.pi / 2             # straight above / below: the camera model's end
    max_faces: int = 5_000_000                     # decimation target
    max_seed: int = 2**31 - 1
    max_queued_jobs: int = 16

    def as_dict(self) -> dict:
        return dict(self.__dict__)
