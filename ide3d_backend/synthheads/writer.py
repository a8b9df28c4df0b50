"""Write SynthHeads datasets (images, id masks, 16-bit depths, dataset.json) and sample grids."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .. import camera, semantics

DEPTH_SCALE = 1000  # depth PNG = round(depth * 1000) as uint16; 0 = background


def head_seed(seed: int, index: int) -> int:
    """Seed of head `index` in a dataset written with `seed` (prefix-stable)."""
    return int((int(seed) * 1_000_003 + int(index)) % (2 ** 31 - 1))


def head_labels(seed: int, index: int, views: int, canonical_first: bool = False) -> np.ndarray:
    """The `views` camera labels (views, 25) of head `index`, FFHQ-like poses."""
    rng = np.random.default_rng([int(seed), int(index), 0x5EED])
    labels = camera.sample_labels(views, rng)
    if canonical_first and views > 0:
        labels[0] = camera.frontal_label()
    return labels.astype(np.float32)


def file_name(head: int, view: int) -> str:
    return f"h{head:06d}_v{view:02d}.png"


def depth_to_png(depth: np.ndarray) -> np.ndarray:
    d = np.where(np.isfinite(depth), np.round(depth * DEPTH_SCALE), 0)
    return np.clip(d, 0, 65535).astype(np.uint16)


def png_to_depth(arr: np.ndarray, scale: float = DEPTH_SCALE) -> np.ndarray:
    arr = np.asarray(arr).astype(np.float32)
    return np.where(arr > 0, arr / float(scale), np.inf).astype(np.float32)


def _render_head_job(job):
    """Worker: render and write all views of one head; returns its records."""
    from PIL import Image
    import torch

    from .render import render_views
    from .shapes import sample_head

    out_dir, index, hseed, labels, resolution, variety, threads = job
    if threads:
        torch.set_num_threads(threads)
    out_dir = Path(out_dir)
    head = sample_head(hseed, variety)
    outs = render_views(head, labels, resolution)
    records = []
    for v, o in enumerate(outs):
        name = file_name(index, v)
        Image.fromarray(o["rgb"]).save(out_dir / "images" / name)
        Image.fromarray(np.ascontiguousarray(o["mask"], dtype=np.uint8)).save(out_dir / "masks" / name)
        Image.fromarray(depth_to_png(o["depth"])).save(out_dir / "depths" / name)
        records.append((name, [float(x) for x in labels[v]]))
    return index, hseed, records


def write_dataset(out_dir, count: int, resolution: int, views: int = 1, seed: int = 0,
                  progress: bool = True, canonical_first: bool = False,
                  workers: int | None = None, variety: str = "classic") -> dict:
    """Render `count` heads x `views` poses into out_dir; returns the dataset.json dict.

    `variety` is a preset name of variety.py: "classic" (the original heads) or "rich"
    (random lights, expressions, skin detail, beards, glasses, textured backgrounds).

    Layout: images/*.png (RGB), masks/*.png (8-bit class ids, mode L),
    depths/*.png (16-bit, depth*1000, 0 = background), dataset.json with
    labels (OpenGL cam2world + intrinsics), groups (the views of each head) and seeds."""
    count, resolution, views = int(count), int(resolution), int(views)
    if count < 1:
        raise ValueError(f"--count must be at least 1, got {count}")
    if resolution < 8 or resolution > 2048:
        raise ValueError(f"--resolution must be in 8..2048, got {resolution}")
    if views < 1:
        raise ValueError(f"--views must be at least 1, got {views}")
    from .variety import get_variety
    variety = get_variety(variety).name  # a clear error for an unknown name, before any work
    out = Path(out_dir)
    for sub in ("images", "masks", "depths"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    jobs = [(str(out), i, head_seed(seed, i), head_labels(seed, i, views, canonical_first),
             resolution, variety, None) for i in range(count)]
    if workers is None:
        # a spawned worker costs ~2 s of start-up: only worth it for larger jobs
        workers = 2 if (os.cpu_count() or 1) >= 2 and count * views * resolution ** 2 >= 64 * 128 ** 2 else 1
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=count, desc="synthheads", unit="head")
    results = []
    if workers > 1:
        import multiprocessing as mp
        jobs = [j[:-1] + (1,) for j in jobs]
        with mp.get_context("spawn").Pool(workers) as pool:
            for r in pool.imap_unordered(_render_head_job, jobs):
                results.append(r)
                if bar is not None:
                    bar.update(1)
    else:
        for j in jobs:
            results.append(_render_head_job(j))
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    results.sort(key=lambda r: r[0])
    meta = {
        "labels": [[name, lab] for _, _, recs in results for name, lab in recs],
        "camera_convention": "opengl",
        "depth_scale": DEPTH_SCALE,
        "groups": [[name for name, _ in recs] for _, _, recs in results],
        "seeds": [s for _, s, _ in results],
        "resolution": resolution,
        "generator": "synthheads",
        "dataset_seed": int(seed),
        "variety": variety,
    }
    with open(out / "dataset.json", "w") as f:
        json.dump(meta, f)
    return meta


GRID_VIEWS = ((-0.45, 0.05), (0.0, 0.0), (0.4, -0.08))


def make_grid(seeds=range(6), views=GRID_VIEWS, resolution: int = 128, out=None,
              variety: str = "classic", columns: int = 1) -> np.ndarray:
    """Sample grid: each head a block of its views as [RGB | mask colours], `columns` heads
    side by side (rows of heads below). Saves a PNG if `out`."""
    from PIL import Image

    from .render import render_views
    from .shapes import sample_head

    labels = np.stack([camera.label_from_angles(y, p) for y, p in views])
    blocks = []
    for s in seeds:
        outs = render_views(sample_head(int(s), variety), labels, resolution)
        blocks.append(np.concatenate(
            [np.concatenate([o["rgb"], semantics.mask_to_color(o["mask"])], 1) for o in outs], 1))
    while len(blocks) % columns:
        blocks.append(np.zeros_like(blocks[0]))
    rows = [np.concatenate(blocks[i:i + columns], 1) for i in range(0, len(blocks), columns)]
    grid = np.concatenate(rows, 0)
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(grid).save(out)
    return grid
