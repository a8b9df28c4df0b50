"""The 19 semantic classes (CelebAMask-HQ order), their palette and region groups.

The one place these facts live (REFERENCE.md §4). Works on numpy arrays and
torch tensors where noted; no other module repeats a class name or colour.
"""
from __future__ import annotations

import numpy as np

CLASS_NAMES: tuple[str, ...] = (
    "background", "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow",
    "l_ear", "r_ear", "mouth", "u_lip", "l_lip", "hair", "hat", "ear_r", "neck_l",
    "neck", "cloth",
)
NUM_CLASSES = len(CLASS_NAMES)

PALETTE = np.array([
    (0, 0, 0), (204, 0, 0), (76, 153, 0), (204, 204, 0), (51, 51, 255), (204, 0, 204),
    (0, 255, 255), (255, 204, 204), (102, 51, 0), (255, 0, 0), (102, 204, 0), (255, 255, 0),
    (0, 0, 153), (0, 0, 204), (255, 51, 153), (0, 204, 204), (0, 51, 0), (255, 153, 51),
    (0, 204, 0),
], dtype=np.uint8)

# Friendlier names accepted on the command line and in the API.
ALIASES = {
    "glasses": "eye_g", "eyeglasses": "eye_g", "left_eye": "l_eye", "right_eye": "r_eye",
    "left_brow": "l_brow", "right_brow": "r_brow", "left_ear": "l_ear", "right_ear": "r_ear",
    "upper_lip": "u_lip", "lower_lip": "l_lip", "earring": "ear_r", "earrings": "ear_r",
    "necklace": "neck_l", "clothes": "cloth", "clothing": "cloth", "bg": "background",
}

# The release's five coarse regions for texture control.
REGION_NAMES: tuple[str, ...] = ("background", "complexion", "eyes_mouth", "hair", "wearing")
REGIONS: dict[str, tuple[int, ...]] = {
    "background": (0,),
    "complexion": (1, 2, 8, 9, 17),
    "eyes_mouth": (4, 5, 6, 7, 10, 11, 12),
    "hair": (13,),
    "wearing": (3, 14, 15, 16, 18),
}
# Convenience groups a user asks for by one word.
GROUPS: dict[str, tuple[int, ...]] = {
    "eyes": (4, 5), "brows": (6, 7), "ears": (8, 9), "lips": (11, 12),
}

# Left/right pairs swapped when an image is mirrored.
FLIP_PAIRS = ((4, 5), (6, 7), (8, 9))
FLIP_PERMUTATION = np.arange(NUM_CLASSES)
for _a, _b in FLIP_PAIRS:
    FLIP_PERMUTATION[_a], FLIP_PERMUTATION[_b] = _b, _a


def class_id(name: str | int) -> int:
    """Class id from a name, alias or id; raises ValueError listing valid names."""
    if isinstance(name, (int, np.integer)):
        if 0 <= int(name) < NUM_CLASSES:
            return int(name)
        raise ValueError(f"class id {name} out of range 0..{NUM_CLASSES - 1}")
    key = name.strip().lower()
    if key.isdigit():
        return class_id(int(key))
    key = ALIASES.get(key, key)
    if key in CLASS_NAMES:
        return CLASS_NAMES.index(key)
    raise ValueError(f"unknown class {name!r}; valid names: {', '.join(CLASS_NAMES)}")


def parse_classes(spec: str | list) -> list[int]:
    """'hair,lips' or ['hair', 11] -> sorted unique class ids; region and group names expand."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    ids: set[int] = set()
    for item in items:
        if isinstance(item, str):
            key = item.strip().lower()
            if not key:
                continue
            if key in REGIONS and key not in CLASS_NAMES:
                ids.update(REGIONS[key])
                continue
            if key in GROUPS:
                ids.update(GROUPS[key])
                continue
        ids.add(class_id(item))
    if not ids:
        raise ValueError("no classes given")
    return sorted(ids)


def check_mask(mask: np.ndarray) -> np.ndarray:
    """Validate an id mask (H, W) of integers in 0..18."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"an id mask must be 2-D (H, W), got shape {mask.shape}")
    if mask.size and (mask.min() < 0 or mask.max() >= NUM_CLASSES):
        bad = sorted(set(np.unique(mask).tolist()) - set(range(NUM_CLASSES)))
        raise ValueError(f"mask holds unknown class ids {bad[:10]}; ids must be 0..{NUM_CLASSES - 1}")
    return mask.astype(np.uint8)


def mask_to_color(mask: np.ndarray) -> np.ndarray:
    """(H, W) ids -> (H, W, 3) uint8 palette colours."""
    return PALETTE[check_mask(mask)]


def color_to_mask(image: np.ndarray, tolerance: int = 40) -> np.ndarray:
    """(H, W, 3) palette colours -> (H, W) ids, by nearest palette colour.

    Pixels farther than `tolerance` (max abs channel difference) from every palette
    colour are rejected, since they mean the image is not a class-colour mask.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] < 3:
        raise ValueError(f"a colour mask must be (H, W, 3), got shape {image.shape}")
    rgb = image[..., :3].astype(np.int16)
    dist = np.abs(rgb[:, :, None, :] - PALETTE[None, None].astype(np.int16)).max(-1)
    ids = dist.argmin(-1)
    worst = dist.min(-1)
    frac_bad = float((worst > tolerance).mean())
    if frac_bad > 0.01:
        raise ValueError(
            f"{frac_bad:.1%} of the pixels are not class colours; a colour mask must use the "
            "19-class palette (REFERENCE §4), or give an 8-bit id mask instead")
    return ids.astype(np.uint8)


def mask_to_onehot(mask, num_classes: int = NUM_CLASSES):
    """(H, W) or (B, H, W) ids -> one-hot with classes on axis -3 (numpy or torch)."""
    try:
        import torch
        if isinstance(mask, torch.Tensor):
            oh = torch.nn.functional.one_hot(mask.long(), num_classes).float()
            return oh.movedim(-1, -3)
    except ImportError:  # pragma: no cover - torch is a dependency of the backend
        pass
    mask = np.asarray(mask)
    oh = np.eye(num_classes, dtype=np.float32)[mask]
    return np.moveaxis(oh, -1, -3)


def onehot_to_mask(onehot):
    """Class scores with classes on axis -3 -> ids (argmax)."""
    return onehot.argmax(-3) if hasattr(onehot, "argmax") else np.argmax(onehot, -3)


def flip_mask(mask: np.ndarray) -> np.ndarray:
    """Mirror an id mask horizontally and swap left/right classes."""
    return FLIP_PERMUTATION[np.asarray(mask)[..., ::-1]].astype(np.uint8)


def class_to_region() -> np.ndarray:
    """Lookup table class id -> region index (into REGION_NAMES)."""
    table = np.zeros(NUM_CLASSES, dtype=np.int64)
    for r, name in enumerate(REGION_NAMES):
        for c in REGIONS[name]:
            table[c] = r
    return table


def palette_dict() -> list[dict]:
    """The classes as JSON-friendly records (for the API and the add-on)."""
    return [{"id": i, "name": n, "color": PALETTE[i].tolist()} for i, n in enumerate(CLASS_NAMES)]
