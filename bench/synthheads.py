"""Benchmark SynthHeads rendering (RGB + mask + depth) on the CPU.

    .venv/bin/python bench/synthheads.py [--heads 6] [--out bench/results/synthheads.json]
    .venv/bin/python bench/synthheads.py --compare-varieties [--out bench/results/synthheads_varieties.json]

Measures images/s (best and median of --repeats passes) at 64^2 and 128^2 for
- single: one `render_head` call per image (a new pose each time),
- batched: `render_views` with 4 poses of one head traced together (what the
  dataset writer does with --views 4),
- head: the cost of `sample_head` (layout) + bounds, per head,
- writer: `write_dataset` wall-clock (1 and 2 worker processes, PNGs included).
torch.set_num_threads(2) as asked; the tracer itself runs its small ops on one
thread (see render.RENDER_THREADS), which is faster and robust on a shared CPU.

--compare-varieties measures the classic and the rich heads instead, alternating
the two passes round after round (same conditions on a shared machine): head
set-up + `render_views` of 4 poses per head (what `ide3d data synth --views 4` does
per head, PNG writing excluded), images/s wall-clock and per CPU-second.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine  # noqa: E402
from ide3d_backend import camera  # noqa: E402
from ide3d_backend.synthheads import render_head, render_views, sample_head  # noqa: E402


def bench(heads: int, resolution: int, views: int = 4, repeats: int = 3) -> dict:
    """images/s, best and median of `repeats` passes (the CPU may be shared with other jobs)."""
    rng = np.random.default_rng(0)
    hs = [sample_head(1000 + i) for i in range(heads)]
    for h in hs:
        h.bounds()
    labels = [camera.sample_labels(views, rng) for _ in hs]
    render_head(hs[0], labels[0][0], resolution)  # warm-up
    single, batched, single_cpu, batched_cpu = [], [], [], []
    n = heads * views
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        for h, lab in zip(hs, labels):
            for v in range(views):
                render_head(h, lab[v], resolution)
        single.append(n / (time.perf_counter() - t))
        single_cpu.append(n / (time.process_time() - c))
        t, c = time.perf_counter(), time.process_time()
        for h, lab in zip(hs, labels):
            render_views(h, lab, resolution)
        batched.append(n / (time.perf_counter() - t))
        batched_cpu.append(n / (time.process_time() - c))
    r2 = lambda v: round(float(v), 2)  # noqa: E731
    return dict(resolution=resolution, images_per_pass=heads * views, repeats=repeats,
                single_images_per_s=r2(max(single)), single_median=r2(np.median(single)),
                batched_images_per_s=r2(max(batched)), batched_median=r2(np.median(batched)),
                batched_views=views,
                # images per CPU-second of this process: what one free core gives,
                # robust to other jobs sharing the machine
                single_images_per_cpu_s=r2(np.median(single_cpu)),
                batched_images_per_cpu_s=r2(np.median(batched_cpu)))


def bench_varieties(heads: int, resolution: int, views: int = 4, rounds: int = 3) -> dict:
    """Classic vs rich: per round, one pass of each (set-up + render of `views` poses per head)."""
    rng = np.random.default_rng(0)
    labels = [camera.sample_labels(views, rng) for _ in range(heads)]
    seeds = [3000 + i for i in range(heads)]
    render_views(sample_head(1, "rich"), labels[0][:1], 16)  # warm-up
    wall = {"classic": [], "rich": []}
    cpu = {"classic": [], "rich": []}
    n = heads * views
    for _ in range(rounds):
        for variety in ("classic", "rich"):
            t, c = time.perf_counter(), time.process_time()
            for s, lab in zip(seeds, labels):
                render_views(sample_head(s, variety), lab, resolution)
            wall[variety].append(n / (time.perf_counter() - t))
            cpu[variety].append(n / (time.process_time() - c))
    r2 = lambda v: round(float(v), 3)  # noqa: E731
    out = dict(resolution=resolution, heads=heads, views=views, rounds=rounds)
    for variety in ("classic", "rich"):
        out[variety] = dict(images_per_s_median=r2(np.median(wall[variety])), images_per_s_best=r2(max(wall[variety])),
                            images_per_cpu_s_median=r2(np.median(cpu[variety])))
    out["rich_over_classic_cpu_time"] = r2(np.median(cpu["classic"]) / np.median(cpu["rich"]))
    return out


def bench_writer(count: int, resolution: int) -> dict:
    """Wall-clock of `write_dataset` (PNG writing included) with 1 and 2 worker processes."""
    import tempfile

    from ide3d_backend.synthheads import write_dataset

    out = {}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            write_dataset(tmp, count=count, resolution=resolution, views=1, seed=123,
                          progress=False, workers=workers)
            out[f"workers_{workers}_images_per_s"] = round(count / (time.perf_counter() - t), 2)
    out.update(resolution=resolution, images=count, views=1)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--writer-count", type=int, default=16, help="heads for the dataset-writer timing")
    ap.add_argument("--out", default=None, help="JSON output (default bench/results/synthheads.json, "
                                                "or synthheads_varieties.json with --compare-varieties)")
    ap.add_argument("--compare-varieties", action="store_true", help="classic vs rich heads, alternating")
    ap.add_argument("--resolution", type=int, default=128, help="with --compare-varieties")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    info = dict(machine=machine())
    if args.compare_varieties:
        out = args.out or str(Path(__file__).parent / "results" / "synthheads_varieties.json")
        info["command"] = "python bench/synthheads.py " + " ".join(sys.argv[1:] if argv is None else argv)
        info["varieties"] = bench_varieties(args.heads, args.resolution, rounds=args.repeats)
        return _save(info, out)
    args.out = args.out or str(Path(__file__).parent / "results" / "synthheads.json")
    t = time.perf_counter()
    for i in range(args.heads):
        sample_head(2000 + i).bounds()
    info["head_setup_s"] = round((time.perf_counter() - t) / args.heads, 4)
    info["results"] = [bench(args.heads, r, repeats=args.repeats) for r in (64, 128)]
    info["writer"] = bench_writer(count=args.writer_count, resolution=128)
    return _save(info, args.out)


def _save(info: dict, out: str) -> int:
    try:
        info["machine"]["load_average_at_end"] = os.getloadavg()
    except OSError:
        pass
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
