"""Free-view rendering of a latent state (ws + region style layers) at any yaw/pitch,
as PNG-ready arrays: RGB (H,W,3) uint8, mask (H,W) uint8 ids, depth (H,W) uint8."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from . import camera, imaging

KINDS = ("rgb", "mask", "depth")


def resize_array(arr: np.ndarray, size: int | None) -> np.ndarray:
    """Resize a rendered array to size x size (nearest for masks, bicubic otherwise)."""
    if size is None or arr.shape[0] == size:
        return arr
    if size < 8 or size > 4096:
        raise ValueError(f"size must be between 8 and 4096 px, got {size}")
    nearest = arr.ndim == 2 and arr.dtype == np.uint8 and arr.max(initial=0) < 19
    im = Image.fromarray(arr)
    return np.asarray(im.resize((size, size), Image.NEAREST if nearest else Image.BICUBIC))


@torch.no_grad()
def render_arrays(G, ws: torch.Tensor, yaw: float, pitch: float, field=None, planes=None,
                  neural_resolution: int | None = None) -> dict[str, np.ndarray]:
    """All three kinds of one view: {'rgb', 'mask', 'depth'} as uint8 arrays."""
    out = G.synthesis(ws.to(G.device), camera.label_tensor(yaw, pitch, G.device), planes=planes, field=field,
                      neural_resolution=neural_resolution, perturb=False)
    r = out["image"].shape[-1]
    depth = torch.nn.functional.interpolate(out["depth"], size=(r, r), mode="bilinear", align_corners=False)
    opac = torch.nn.functional.interpolate(out["opacity"], size=(r, r), mode="bilinear", align_corners=False)
    return {"rgb": imaging.to_uint8(out["image"]), "mask": imaging.mask_from_logits(out["semantic"]),
            "depth": imaging.depth_to_uint8(depth, opac), "image": out["image"]}


def render_kind(arrays: dict[str, np.ndarray], kind: str, size: int | None = None) -> np.ndarray:
    if kind not in KINDS:
        raise ValueError(f"unknown render kind {kind!r}; use one of {', '.join(KINDS)}")
    return resize_array(arrays[kind], size)


def save_png(arr: np.ndarray, path, palette_mask: bool = False) -> None:
    """Write an array as PNG atomically (ids as 8-bit grey, or as palette colours)."""
    import io

    from .checkpoint import atomic_write_bytes
    from .semantics import mask_to_color
    if palette_mask and arr.ndim == 2:
        arr = mask_to_color(arr)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    data = buf.getvalue()

    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)
    atomic_write_bytes(path, write)


def turntable(render_fn, yaws=(-0.6, -0.3, 0.0, 0.3, 0.6), pitch: float = 0.0) -> np.ndarray:
    """A strip of RGB views over masks: render_fn(yaw, pitch) -> {'rgb', 'mask'}."""
    views = [render_fn(float(y), pitch) for y in yaws]
    return np.concatenate([imaging.strip([v["rgb"] for v in views]),
                           imaging.strip([v["mask"] for v in views])], axis=0)
