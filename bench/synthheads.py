"""Benchmark SynthHeads rendering (RGB + mask + depth) on the CPU.

    .venv/bin/python bench/synthheads.py [--heads 6] [--out bench/results/synthheads.json]

Measures images/s at 64^2 and 128^2 for
- single: one `render_head` call per image (a new pose each time),
- batched: `render_views` with 4 poses of one head traced together (what the
  dataset writer does with --views 4),
- head: the cost of `sample_head` (layout) + bounds, per head.
torch.set_num_threads(2) as asked; the tracer itself runs its small ops on one
thread (see render.RENDER_THREADS), which is faster and robust on a shared CPU.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ide3d_backend import camera  # noqa: E402
from ide3d_backend.synthheads import render_head, render_views, sample_head  # noqa: E402


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return dict(platform=platform.platform(), python=platform.python_version(), cpu=cpu,
                cpu_count=os.cpu_count(), torch=torch.__version__, torch_threads=torch.get_num_threads(),
                load_average_at_start=load)


def bench(heads: int, resolution: int, views: int = 4) -> dict:
    rng = np.random.default_rng(0)
    hs = [sample_head(1000 + i) for i in range(heads)]
    for h in hs:
        h.bounds()
    labels = [camera.sample_labels(views, rng) for _ in hs]
    render_head(hs[0], labels[0][0], resolution)  # warm-up
    t = time.perf_counter()
    for h, lab in zip(hs, labels):
        for v in range(views):
            render_head(h, lab[v], resolution)
    single = heads * views / (time.perf_counter() - t)
    t = time.perf_counter()
    for h, lab in zip(hs, labels):
        render_views(h, lab, resolution)
    batched = heads * views / (time.perf_counter() - t)
    return dict(resolution=resolution, images=heads * views, single_images_per_s=round(single, 2),
                batched_images_per_s=round(batched, 2), batched_views=views)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "synthheads.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    info = dict(machine=machine())
    t = time.perf_counter()
    for i in range(args.heads):
        sample_head(2000 + i).bounds()
    info["head_setup_s"] = round((time.perf_counter() - t) / args.heads, 4)
    info["results"] = [bench(args.heads, r) for r in (64, 128)]
    try:
        info["machine"]["load_average_at_end"] = os.getloadavg()
    except OSError:
        pass
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
