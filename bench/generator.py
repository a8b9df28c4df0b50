"""Generator speed and memory: full forward at batch 1 for both presets, per stage, with the
fast paths and (alternating, same process) the reference formulations they replaced;
sample_points throughput; FLOP rate of each stage against this machine's fp32 matmul ceiling.

Each case runs in a fresh subprocess so its peak RSS is its own. The EG3D ratios are
read from bench/results/eg3d_compare.json (run bench/eg3d_compare.py first).
Usage: python bench/generator.py [--repeats 5] [--no-reference]   -> bench/results/generator.json
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
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


STAGES = ("mapping", "triplanes", "render", "superres")
CONV_STAGES = ("triplanes", "superres")  # StyleGAN2 conv stacks, held to a fraction of the matmul ceiling
TARGETS = {"tiny_seconds": 0.040, "paper-nr64_ratio_to_eg3d": 0.4, "paper-nr128_ratio_to_eg3d": 0.5,
           "conv_stages_fraction_of_ceiling": 0.5}


def forward_stages(G, z, c, nr: int) -> tuple[dict, dict]:
    """One batch-1 forward split into its stages: (seconds per stage, outputs)."""
    t0 = time.perf_counter()
    ws = G.mapping(z, c)
    t1 = time.perf_counter()
    planes = G.planes(ws)
    t2 = time.perf_counter()
    out = G.synthesis(ws, c, neural_resolution=nr, planes=planes, superres=False)
    t3 = time.perf_counter()
    w_s, w_t = G.split_ws(ws)
    image = G.superres.forward_rgb(out["features_raw"], out["image_raw"], w_t)
    semantic = G.superres.forward_semantic(out["semantic_raw"], w_s)
    t4 = time.perf_counter()
    seconds = dict(zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)))
    return seconds, {"ws": ws, "planes": planes, "out": out, "image": image, "semantic": semantic}


def stage_gflop(G, z, c, nr: int) -> dict:
    """conv/matmul GFLOP of each stage (FlopCounterMode counts those only)."""
    from torch.utils.flop_counter import FlopCounterMode
    ws = G.mapping(z, c)
    planes = G.planes(ws)
    out = G.synthesis(ws, c, neural_resolution=nr, planes=planes, superres=False)
    w_s, w_t = G.split_ws(ws)
    calls = {"mapping": lambda: G.mapping(z, c), "triplanes": lambda: G.planes(ws),
             "render": lambda: G.synthesis(ws, c, neural_resolution=nr, planes=planes, superres=False),
             "superres": lambda: (G.superres.forward_rgb(out["features_raw"], out["image_raw"], w_t),
                                  G.superres.forward_semantic(out["semantic_raw"], w_s))}
    result = {}
    for name, fn in calls.items():
        with FlopCounterMode(display=False) as fc:
            fn()
        result[name] = fc.get_total_flops() / 1e9
    return result


def run_case(name: str, repeats: int, reference: bool) -> dict:
    """Time the fast path (and, alternating with it, the reference formulations) in one process."""
    import torch

    from ide3d_backend import build_generator, camera
    from ide3d_backend.model import fastpath
    torch.set_num_threads(2)
    preset, nr = CASES[name]
    G = build_generator(preset, seed=0, device="cpu").eval().requires_grad_(False)
    params = sum(p.numel() for p in G.parameters())
    z = torch.randn(1, G.z_dim)
    c = camera.label_tensor()
    base_rss = common.peak_rss_mb()
    modes = ["fast", "reference"] if reference else ["fast"]
    times = {m: [] for m in modes}
    with torch.no_grad():
        for mode in modes:  # warm-up
            with (fastpath.reference_mode() if mode == "reference" else contextlib.nullcontext()):
                _, outs = forward_stages(G, z, c, nr)
        for rep in range(repeats):
            for mode in (modes if rep % 2 == 0 else modes[::-1]):  # alternate A/B
                with (fastpath.reference_mode() if mode == "reference" else contextlib.nullcontext()):
                    seconds, outs = forward_stages(G, z, c, nr)
                times[mode].append(seconds)
        # sample_points throughput with planes computed once (fast path)
        n = 1 << 18
        xyz = torch.rand(1, n, 3) - 0.5
        ws, planes = outs["ws"], outs["planes"]
        G.sample_points(ws, xyz, planes=planes)
        t = time.perf_counter()
        for _ in range(3):
            G.sample_points(ws, xyz, planes=planes)
        pps = 3 * n / (time.perf_counter() - t)
        gflop = stage_gflop(G, z, c, nr)
    ceiling = matmul_ceiling()
    total_gflop = sum(gflop.values())
    result = {"preset": preset, "neural_resolution": nr, "output_resolution": G.cfg.superres.output_resolution,
              "parameters": params, "gflop_per_image": total_gflop, "stage_gflop": gflop,
              "matmul_ceiling_gflops": ceiling, "sample_points_per_second": pps,
              "peak_rss_mb": common.peak_rss_mb(), "rss_before_forward_mb": base_rss}
    for mode in modes:
        totals = [sum(s.values()) for s in times[mode]]
        best = min(totals)
        stage_best = {k: min(s[k] for s in times[mode]) for k in STAGES}
        result[mode] = {
            "forward_seconds_best": best, "forward_seconds_all": totals,
            "breakdown_seconds": times[mode][totals.index(best)], "stage_seconds_best": stage_best,
            "achieved_gflops": total_gflop / best,
            "stage_fraction_of_ceiling": {k: gflop[k] / stage_best[k] / ceiling for k in CONV_STAGES + ("render",)}}
    if reference:
        result["speedup_reference_to_fast"] = result["reference"]["forward_seconds_best"] / result["fast"]["forward_seconds_best"]
    return result


def check_targets(results: dict) -> dict:
    """Each target against the figures; the EG3D ratios come from bench/results/eg3d_compare.json."""
    checks = {"tiny_seconds": results["tiny"]["fast"]["forward_seconds_best"] <= TARGETS["tiny_seconds"]}
    for case in ("paper-nr64", "paper-nr128"):
        checks[f"{case}_conv_stages_fraction_of_ceiling"] = {
            k: results[case]["fast"]["stage_fraction_of_ceiling"][k] >= TARGETS["conv_stages_fraction_of_ceiling"]
            for k in CONV_STAGES}
    compare = common.RESULTS / "eg3d_compare.json"
    if compare.exists():
        cases = json.loads(compare.read_text())["cases"]
        for nr in (64, 128):
            if f"nr{nr}" in cases:
                ratio = cases[f"nr{nr}"]["ratio_ours_to_eg3d"]
                checks[f"paper-nr{nr}_ratio_to_eg3d"] = {"ratio": ratio,
                                                         "met": ratio <= TARGETS[f"paper-nr{nr}_ratio_to_eg3d"]}
    return checks


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--case", choices=sorted(CASES))
    ap.add_argument("--no-reference", action="store_true",
                    help="skip the reference formulations (the 'before' of the fast paths)")
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.repeats, not args.no_reference)))
        return
    load_start = list(os.getloadavg())
    results = {}
    for name in CASES:
        proc = subprocess.run([sys.executable, __file__, "--case", name, "--repeats", str(args.repeats)]
                              + (["--no-reference"] if args.no_reference else []),
                              capture_output=True, text=True, check=True)
        results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        r = results[name]
        line = (f"{name}: fast {r['fast']['forward_seconds_best']:.3f} s, {r['gflop_per_image']:.1f} GFLOP, "
                f"{r['fast']['achieved_gflops']:.1f} GFLOP/s of {r['matmul_ceiling_gflops']:.0f}, "
                f"conv stages {', '.join(f'{k} {v:.0%}' for k, v in r['fast']['stage_fraction_of_ceiling'].items())}")
        if "reference" in r:
            line += f"; reference {r['reference']['forward_seconds_best']:.3f} s (x{r['speedup_reference_to_fast']:.2f})"
        print(line)
    common.write("generator", {
        "load_average_before_cases": load_start,
        "matmul_ceiling_gflops_2_threads": max(r["matmul_ceiling_gflops"] for r in results.values()),
        "how": "each case in its own process; 'fast' = default paths, 'reference' = fastpath.reference_mode() "
               "(the formulations before the speed work), alternating per repeat; best of the repeats",
        "targets": TARGETS, "targets_met": check_targets(results), "cases": results})


if __name__ == "__main__":
    main()
