"""Checks and decoding of uploaded images (photos, masks) and the PNG encoding of answers.

Uploads are opened header-first, so a file that is no image answers 422 and one with more
pixels than `Limits.max_pixels` answers 413 before any pixel is decoded (the Backend also
sets PIL's decompression-bomb limit to the same value). A photo is then decoded completely
at upload (`decode_photo`), so a truncated file or one too small to hold a face answers 422
at once instead of failing later inside its job."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import ApiError
from .settings import Limits


def image_header(data: bytes, what: str, limits: Limits) -> Image.Image:
    """Open (header only) an uploaded image; 422 when it is not one, 413 when too many pixels."""
    if not data:
        raise ApiError(422, f"the {what} is empty; upload a JPEG, PNG or WebP file")
    try:
        im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ApiError(413, f"the {what} has too many pixels ({exc}); the limit is "
                            f"{limits.max_pixels / 1e6:.0f} megapixels, downscale it") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ApiError(422, f"the {what} is not an image ({type(exc).__name__}); upload a JPEG, PNG or WebP "
                            "file") from None
    w, h = im.size
    if w * h > limits.max_pixels:
        raise ApiError(413, f"the {what} is {w}x{h} = {w * h / 1e6:.1f} megapixels; the limit is "
                            f"{limits.max_pixels / 1e6:.0f} megapixels, downscale it")
    if w < 1 or h < 1:
        raise ApiError(422, f"the {what} has no pixels")
    return im


def decode_photo(data: bytes, what: str, limits: Limits) -> Image.Image:
    """An uploaded photo, decoded completely; 422 when damaged or too small for a face."""
    from ..preprocess import MIN_FACE_PX
    im = image_header(data, what, limits)
    try:
        im.load()
    except Image.DecompressionBombError as exc:
        raise ApiError(413, f"the {what} has too many pixels ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ApiError(422, f"the {what} is truncated or damaged ({type(exc).__name__}: {str(exc)[:80]}); "
                            "upload the complete file") from None
    w, h = im.size
    if min(w, h) < MIN_FACE_PX:
        raise ApiError(422, f"the {what} is only {w}x{h} pixels; give a portrait at least {MIN_FACE_PX} px "
                            "on each side")
    return im


def decode_mask(data: bytes, what: str, limits: Limits) -> np.ndarray:
    """The class ids (H, W) of an uploaded id PNG or palette-colour PNG; 413/422 as above."""
    from ..preprocess import PreprocessError, load_mask
    im = image_header(data, what, limits)
    try:
        im.load()
        return load_mask(data)
    except Image.DecompressionBombError as exc:
        raise ApiError(413, f"the {what} has too many pixels ({exc})") from None
    except (PreprocessError, ValueError, OSError, SyntaxError, EOFError) as exc:
        raise ApiError(422, f"the {what} is not usable: {exc}. Give an 8-bit id PNG (values 0..18) or a "
                            "PNG painted with the 19 class colours (GET /info lists them)") from None


def png_bytes(arr: np.ndarray) -> bytes:
    """A fast (lightly compressed) PNG of an image array."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr)).save(buf, "PNG", compress_level=1)
    return buf.getvalue()
