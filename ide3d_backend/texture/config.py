"""Settings of the texture bake (one dataclass) and the texture-size rule."""
from __future__ import annotations

from dataclasses import dataclass

DEFAULT_SIZE = 1024
LARGE_SIZE = 2048
MIN_SIZE, MAX_SIZE = 256, 4096

# Views of the generator's super-resolved renders for texels the photo does not see
# (yaw in +-1.2, pitch in +-0.3 as the issue asks; the frontal one fills the chin/nose).
DEFAULT_RENDER_VIEWS = ((0.0, 0.0), (-0.6, 0.0), (0.6, 0.0), (-1.2, 0.0), (1.2, 0.0),
                        (0.0, 0.3), (0.0, -0.3))


class TextureError(ValueError):
    """A texture request that cannot be served; the message says why and what to do."""


def check_texture_size(size) -> int:
    """A power of two in 256..4096, else TextureError saying so."""
    try:
        s = int(size)
    except (TypeError, ValueError):
        raise TextureError(f"texture size must be an integer power of two in {MIN_SIZE}..{MAX_SIZE}, "
                           f"got {size!r}") from None
    if s != size or s < MIN_SIZE or s > MAX_SIZE or s & (s - 1):
        raise TextureError(f"texture size must be a power of two in {MIN_SIZE}..{MAX_SIZE} "
                           f"(1024 default, 2048 for detail), got {size!r}")
    return s


@dataclass
class BakeConfig:
    size: int = DEFAULT_SIZE
    render_views: tuple = DEFAULT_RENDER_VIEWS   # (yaw, pitch) pairs
    use_mirror: bool = True                       # mirrored photo for the far side of the face
    mirror_weight: float = 0.5                    # its trust relative to the photo (1)
    cos_min: float = 0.15                         # below: a render does not colour the texel
    cos_full: float = 0.5                         # above: full weight (feathered in between)
    photo_cos_min: float = 0.1                    # the same for the photo (and its mirror): it is
    photo_cos_full: float = 0.3                   # trusted further towards grazing angles
    depth_resolution: int = 512                   # min. edge of the depth maps of the visibility test
    render_power: float = 4.0                     # renders blend by cos^p: the most frontal wins
    depth_tolerance: float = 0.012                # model units (~3 voxels at 256^3)
    padding: int = 8                              # texels of dilation into the gutter
    chart_padding: int = 4                        # texels xatlas keeps between charts
    match_colours: bool = True                    # fit renders to the photo where both see

    def __post_init__(self):
        self.size = check_texture_size(self.size)
