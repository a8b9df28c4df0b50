"""Generator speed and memory: full forward at batch 1 for both presets, sample_points
throughput, achieved FLOP rate against this machine's fp32 matmul ceiling.

Each case runs in a fresh subprocess so its peak RSS is its own.
Usage: python bench/generator.py [--repeats 3]   -> bench/results/generator.json
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

CASES = {"tiny": ("tiny", 32), "paper-nr64": ("paper", 64), "paper-nr128": ("paper", 128)}


def matmul_ceiling(threads: int = 2) -> float:
    import torch
    torch.set_num_threads(threads)
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    best = 0.0
    for _ in range(5):
        t = time.perf_counter()
        a @ b
        best = max(best, 2 * 2048 ** 3 / (time.perf_counter() - t) / 1e9)
    return best


def run_case(name: str, repeats: int) -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from ide3d_backend import build_generator, camera
    torch.set_num_threads(2)
    preset, nr = CASES[name]
    G = build_generator(preset, seed=0, device="cpu").eval()
    params = sum(p.numel() for p in G.parameters())
    z = torch.randn(1, G.z_dim)
    c = camera.label_tensor()
    base_rss = common.peak_rss_mb()
    times, parts = [], []
    with torch.no_grad():
        G(z, c, neural_resolution=nr)  # warm-up
        for _ in range(repeats):
            t0 = time.perf_counter()
            ws = G.mapping(z, c)
            t1 = time.perf_counter()
            planes = G.planes(ws)
            t2 = time.perf_counter()
            out = G.synthesis(ws, c, neural_resolution=nr, planes=planes, superres=False)
            t3 = time.perf_counter()
            w_s, w_t = G.split_ws(ws)
            G.superres.forward_rgb(out["features_raw"], out["image_raw"], w_t)
            G.superres.forward_semantic(out["semantic_raw"], w_s)
            t4 = time.perf_counter()
            times.append(t4 - t0)
            parts.append({"mapping": t1 - t0, "triplanes": t2 - t1, "render": t3 - t2, "superres": t4 - t3})
        # sample_points throughput with planes computed once
        n = 1 << 18
        xyz = torch.rand(1, n, 3) - 0.5
        G.sample_points(ws, xyz, planes=planes)
        t = time.perf_counter()
        for _ in range(3):
            G.sample_points(ws, xyz, planes=planes)
        pps = 3 * n / (time.perf_counter() - t)
    G.requires_grad_(False)
    with FlopCounterMode(display=False) as fc:  # counts conv/matmul FLOPs only
        G(z, c, neural_resolution=nr)
    flops = fc.get_total_flops()
    best = min(times)
    i = times.index(best)
    return {"preset": preset, "neural_resolution": nr, "output_resolution": G.cfg.superres.output_resolution,
            "parameters": params, "forward_seconds_best": best, "forward_seconds_all": times,
            "breakdown_seconds": parts[i], "gflop_per_image": flops / 1e9,
            "achieved_gflops": flops / 1e9 / best, "peak_rss_mb": common.peak_rss_mb(),
            "rss_before_forward_mb": base_rss, "sample_points_per_second": pps}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--case", choices=sorted(CASES))
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.repeats)))
        return
    results = {}
    for name in CASES:
        proc = subprocess.run([sys.executable, __file__, "--case", name, "--repeats", str(args.repeats)],
                              capture_output=True, text=True, check=True)
        results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        r = results[name]
        print(f"{name}: {r['forward_seconds_best']:.3f} s, {r['gflop_per_image']:.1f} GFLOP, "
              f"{r['achieved_gflops']:.1f} GFLOP/s, peak {r['peak_rss_mb']:.0f} MB, "
              f"{r['sample_points_per_second'] / 1e6:.2f} M points/s")
    ceiling = matmul_ceiling()
    common.write("generator", {
        "matmul_ceiling_gflops_2_threads": ceiling,
        "targets": {"paper-nr64_seconds": 7.6, "paper-nr128_seconds": 11.7, "tiny_seconds": 0.1,
                    "throughput_fraction_of_ceiling": 0.6},
        "cases": results})


if __name__ == "__main__":
    main()
