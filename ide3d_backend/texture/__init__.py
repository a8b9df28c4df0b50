"""Textured heads (issue 16): a UV atlas of the extracted mesh and a colour texture baked
from the photo, its mirror and the generator's renders (docs/texture.md).

    config.py   BakeConfig, texture-size rule, default render views
    atlas.py    xatlas charts per region group, packed for the texture size
    raster.py   vectorised triangle rasteriser with a depth buffer
    texels.py   the surface point, normal, class and fallback colour behind every texel
    views.py    camera projection, mesh depth maps, per-texel visibility weights
    bake.py     blending the sources, colour matching, padding
    padding.py  dilation into the gutter
    png.py      sRGB PNG bytes
    head.py     texture_head / rebake: HeadMesh in, textured HeadMesh out

Works on plain inputs (arrays, 25-d camera labels, a render callable); no session code.
"""
from .atlas import CHART_GROUPS, Atlas, build_atlas
from .bake import BakeResult, Source, bake_texture, mirror_label, photo_sources, render_sources
from .config import (DEFAULT_RENDER_VIEWS, DEFAULT_SIZE, LARGE_SIZE, BakeConfig, TextureError,
                     check_texture_size)
from .head import TexturedHead, rebake, texture_head, view_labels
from .png import png_bytes
from .texels import TexelSurface, texel_surface

__all__ = ["CHART_GROUPS", "DEFAULT_RENDER_VIEWS", "DEFAULT_SIZE", "LARGE_SIZE", "Atlas", "BakeConfig",
           "BakeResult", "Source", "TextureError", "TexelSurface", "TexturedHead", "bake_texture",
           "build_atlas", "check_texture_size", "mirror_label", "photo_sources", "png_bytes", "rebake",
           "render_sources", "texel_surface", "texture_head", "view_labels"]
