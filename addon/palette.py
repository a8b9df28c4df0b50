"""The 19 semantic classes (CelebAMask-HQ order) and their palette colours.

A copy of the table in ``ide3d_backend/semantics.py``: the add-on runs inside
Blender's Python and cannot import the backend. ``tests/test_addon_client.py``
asserts the two tables are identical.
"""
from __future__ import annotations

CLASS_NAMES: tuple[str, ...] = (
    "background", "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow",
    "l_ear", "r_ear", "mouth", "u_lip", "l_lip", "hair", "hat", "ear_r", "neck_l",
    "neck", "cloth",
)

# Human-readable labels for the UI.
CLASS_LABELS: tuple[str, ...] = (
    "Background", "Skin", "Nose", "Glasses", "Left eye", "Right eye", "Left brow",
    "Right brow", "Left ear", "Right ear", "Mouth", "Upper lip", "Lower lip", "Hair",
    "Hat", "Earring", "Necklace", "Neck", "Cloth",
)

PALETTE: tuple[tuple[int, int, int], ...] = (
    (0, 0, 0), (204, 0, 0), (76, 153, 0), (204, 204, 0), (51, 51, 255), (204, 0, 204),
    (0, 255, 255), (255, 204, 204), (102, 51, 0), (255, 0, 0), (102, 204, 0), (255, 255, 0),
    (0, 0, 153), (0, 0, 204), (255, 51, 153), (0, 204, 204), (0, 51, 0), (255, 153, 51),
    (0, 204, 0),
)

NUM_CLASSES = len(CLASS_NAMES)

REGIONS: dict[str, tuple[int, ...]] = {
    "background": (0,),
    "complexion": (1, 2, 8, 9, 17),
    "eyes_mouth": (4, 5, 6, 7, 10, 11, 12),
    "hair": (13,),
    "wearing": (3, 14, 15, 16, 18),
}


def srgb_to_linear(c: float) -> float:
    """One sRGB channel in 0..1 to scene-linear (for colour properties of subtype COLOR)."""
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def color_float(class_id: int) -> tuple[float, float, float]:
    """The palette colour of a class as sRGB floats in 0..1."""
    r, g, b = PALETTE[class_id]
    return (r / 255.0, g / 255.0, b / 255.0)


def color_linear(class_id: int) -> tuple[float, float, float]:
    """The palette colour of a class in scene-linear floats."""
    return tuple(srgb_to_linear(c) for c in color_float(class_id))


def nearest_class(rgb) -> int:
    """Class id whose palette colour is nearest (squared distance) to an 8-bit RGB triple."""
    r, g, b = (int(v) for v in rgb[:3])
    best, best_d = 0, None
    for i, (pr, pg, pb) in enumerate(PALETTE):
        d = (r - pr) ** 2 + (g - pg) ** 2 + (b - pb) ** 2
        if best_d is None or d < best_d:
            best, best_d = i, d
    return best


def snap_rgb_bytes(rgb: bytes | bytearray) -> tuple[bytearray, bytearray]:
    """Snap packed 8-bit RGB pixels to the nearest palette colour.

    Returns (snapped RGB bytes, class id per pixel). Pure Python with a cache per
    distinct colour, so a painted mask (few distinct colours) is fast.
    """
    n = len(rgb) // 3
    out = bytearray(len(rgb))
    ids = bytearray(n)
    cache: dict[int, int] = {}
    for i in range(n):
        j = 3 * i
        key = (rgb[j] << 16) | (rgb[j + 1] << 8) | rgb[j + 2]
        cid = cache.get(key)
        if cid is None:
            cid = cache[key] = nearest_class((rgb[j], rgb[j + 1], rgb[j + 2]))
        ids[i] = cid
        out[j:j + 3] = bytes(PALETTE[cid])
    return out, ids


def class_id(name_or_id) -> int:
    """Class id from a name or id (raises ValueError)."""
    if isinstance(name_or_id, int):
        if 0 <= name_or_id < NUM_CLASSES:
            return name_or_id
        raise ValueError(f"class id {name_or_id} out of range 0..{NUM_CLASSES - 1}")
    key = str(name_or_id).strip().lower()
    if key in CLASS_NAMES:
        return CLASS_NAMES.index(key)
    raise ValueError(f"unknown class {name_or_id!r}")
