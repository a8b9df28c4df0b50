"""The texture as PNG bytes, marked sRGB (the colour space glTF and OBJ viewers assume)."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def png_bytes(texture: np.ndarray) -> bytes:
    """(H, W, 3) uint8 -> PNG with an sRGB chunk (rendering intent perceptual)."""
    buf = io.BytesIO()
    Image.fromarray(np.asarray(texture, np.uint8)).save(buf, "PNG", compress_level=6)
    data = buf.getvalue()
    # insert sRGB right after IHDR (8-byte signature + 25-byte IHDR chunk)
    body = b"sRGB" + bytes([0])
    chunk = struct.pack(">I", 1) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    return data[:33] + chunk + data[33:]
