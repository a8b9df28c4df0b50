"""Benchmark: fast inversion time per phase, edit latency (canonical-editor path +
preview render) versus re-running the optimisation, and region-edit locality.

    .venv/bin/python bench/inversion.py  ->  bench/results/inversion.json

`presets`: the shipped inversion presets against the ones before issue 18 (BEFORE) on the
real portraits of bench/real_photos.py, runs alternating between configurations (a shared
machine slows them alike): wall and CPU seconds, steps, perceptual distance, PSNR inside
the face and dlib identity distance at five yaws (real_photos.score).

    .venv/bin/python bench/inversion.py presets [--quality] [--rounds 2]
        [--variant NAME:BASE:field=value,...]  ->  bench/results/inversion_presets.json

`steps`: what one optimisation step costs (median wall and CPU seconds) on the astronaut:
a latent step at the preset's resolution, a coarse one, a tuning step (whole generator and
frozen backbone), and the forward pieces  ->  bench/results/inversion_steps.json
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import binary_dilation

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

from ide3d_backend import editing as E, inversion, preprocess, session as S  # noqa: E402
from ide3d_backend.assets import ASTRONAUT  # noqa: E402
from ide3d_backend.engine_cli import resolve_generator  # noqa: E402
from ide3d_backend.sources import optional_encoders, optional_parser  # noqa: E402


def timed(fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def synthheads_session(G, seed: int, tmp, base):
    """A held-out SynthHeads head (seed far from training), rendered frontally and inverted."""
    from PIL import Image

    from ide3d_backend import camera
    from ide3d_backend.synthheads import render_head, sample_head
    out = render_head(sample_head(seed), camera.frontal_label(), G.cfg.superres.output_resolution)
    photo = Path(tmp) / f"synth{seed}.png"
    Image.fromarray(out["rgb"]).save(photo)
    mask = Path(tmp) / f"synth{seed}_mask.png"
    Image.fromarray(out["mask"]).save(mask)
    return S.invert_photo(G, photo, Path(tmp) / f"synth{seed}", mask=mask, preset="fast", align=False,
                          encoders=optional_encoders(None, G.device), base_source=base)


def region_locality(G, tmp, seeds=(5, 6, 7), classes=(12,), views=((0.0, 0.0), (0.7, 0.1)), make=None):
    rows = []
    for seed in seeds:
        s = make(seed) if make else S.sample_session(G, seed, Path(tmp) / f"loc{seed}")
        for yaw, pitch in views:
            a = s.render(yaw, pitch).astype(np.float64) / 255
            cov = E.selection_coverage(G, s.ws, list(classes), yaw, pitch)
            E.edit_region(s, list(classes), seed=1000 + seed)
            b = s.render(yaw, pitch).astype(np.float64) / 255
            s.undo()
            d = np.abs(a - b).mean(-1)
            inside = cov > 0.5 * cov.max()
            outside = ~binary_dilation(cov > 0.02 * max(cov.max(), 1e-6), iterations=3)
            rows.append({"seed": seed, "yaw": yaw, "pitch": pitch,
                         "inside_mad": float(d[inside].mean()) if inside.any() else None,
                         "outside_mad": float(d[outside].mean()) if outside.any() else None,
                         "outside_px": int(outside.sum()), "inside_px": int(inside.sum())})
    return rows


# The presets as they were before issue 18's schedule (coarse steps, plateau stop).
BEFORE = {
    "fast": inversion.InversionPreset("fast", latent_steps=30, latent_lr=0.03, tune_steps=20, tune_lr=1e-3,
                                      neural_resolution=32, lr_rampup=0.05, lr_rampdown=0.25, preview_every=10),
    "quality": inversion.InversionPreset("quality", latent_steps=450, latent_lr=5e-3, tune_steps=350,
                                         tune_lr=3e-4, neural_resolution=None, early_stop=0.06,
                                         preview_every=25),
}


def parse_variant(text: str) -> tuple[str, inversion.InversionPreset]:
    """'NAME:BASE:field=value,...' -> (NAME, BASE's shipped preset with those fields replaced);
    BASE 'before-fast' / 'before-quality' starts from BEFORE."""
    name, base, *rest = text.split(":")
    preset = BEFORE[base.split("-", 1)[1]] if base.startswith("before-") else inversion.get_preset(base)
    fields = {f.name: f.type for f in dataclasses.fields(preset)}
    changes = {}
    for item in filter(None, (rest[0] if rest else "").split(",")):
        key, value = item.split("=")
        if key not in fields:
            raise SystemExit(f"unknown preset field {key!r}; fields: {', '.join(fields)}")
        changes[key] = None if value == "None" else (value == "True") if value in ("True", "False") \
            else int(value) if value.lstrip("-").isdigit() else float(value)
    return name, dataclasses.replace(preset, **changes)


def compare_presets(args):
    import real_photos
    G, base = resolve_generator(None, "cpu")
    enc, parser = optional_encoders(None, G.device), optional_parser(None, G.device)
    names = ["fast", "quality"] if args.quality else ["fast"]
    configs = {}
    for n in names:
        configs[f"before-{n}"] = BEFORE[n]
        configs[n] = inversion.get_preset(n)
    for v in args.variant:
        name, preset = parse_variant(v)
        configs[name] = preset
    photos = {k: path for k, (path, _) in real_photos.real_portraits().items() if k in args.photos.split(",")}
    runs = {name: {photo: [] for photo in photos} for name in configs}
    with tempfile.TemporaryDirectory() as tmp:
        S.invert_photo(G, photos[next(iter(photos))], Path(tmp) / "warm", preset=BEFORE["fast"].with_steps(1, 1),
                       encoders=enc, parser=parser, base_source=base)  # MediaPipe graphs, first-call costs
        for r in range(args.rounds):
            for photo, path in photos.items():
                order = list(configs) if r % 2 == 0 else list(reversed(configs))
                for name in order:
                    load = os.getloadavg()
                    t, c = time.perf_counter(), time.process_time()
                    s = S.invert_photo(G, path, Path(tmp) / f"{name}-{photo}-{r}", preset=configs[name],
                                       encoders=enc, parser=parser, base_source=base)
                    wall, cpu = time.perf_counter() - t, time.process_time() - c
                    inv = s.meta["extra"]["inversion"]
                    row = {"round": r, "load_average": load, "wall_seconds_with_front_end_and_session": wall,
                           "cpu_seconds": cpu, "timings_seconds": inv["timings"], "steps": inv["steps"],
                           "perceptual": inv["perceptual"]}
                    if r == 0:  # the scores do not depend on the machine's load: once is enough
                        row["scores"] = real_photos.score(s, None, edit=False)
                    runs[name][photo].append(row)
                    print(name, photo, r, f"{inv['timings']['total']:.2f}s", inv["steps"],
                          f"perc {inv['perceptual']:.4f}", f"load {load[0]:.2f}", flush=True)
    payload = {"presets": {n: dataclasses.asdict(p) for n, p in configs.items()},
               "rounds": args.rounds, "runs": runs, "summary": summarise_presets(runs)}
    common.write(args.out, payload)
    for name, rows in payload["summary"].items():
        print(name, rows)


def summarise_presets(runs: dict) -> dict:
    """Per configuration and photo: median seconds over the rounds and the round-0 scores."""
    out = {}
    for name, photos in runs.items():
        out[name] = {}
        for photo, rows in photos.items():
            sc = rows[0]["scores"]
            ids = [v["identity_distance"] for v in sc.get("views", {}).values() if v["identity_distance"] is not None]
            out[name][photo] = {
                "inversion_seconds_median": float(np.median([r["timings_seconds"]["total"] for r in rows])),
                "wall_seconds_median": float(np.median([r["wall_seconds_with_front_end_and_session"] for r in rows])),
                "cpu_seconds_median": float(np.median([r["cpu_seconds"] for r in rows])),
                "steps": rows[0]["steps"], "perceptual": rows[0]["perceptual"],
                "psnr_face_input_view": sc.get("psnr_face_input_view"),
                "identity_distance_input_view": sc.get("identity_distance_input_view"),
                "faces_found_of_5_views": sum(v["face_found"] for v in sc.get("views", {}).values()),
                "identity_distance_mean_found_views": float(np.mean(ids)) if ids else None}
    return out


def step_costs(args):
    import copy
    from ide3d_backend.perceptual import perceptual_distance
    G, _ = resolve_generator(None, "cpu")
    G.eval().requires_grad_(False)
    r = G.cfg.superres.output_resolution
    target = inversion.image_to_tensor(preprocess.preprocess(ASTRONAUT, r).image, r)
    p = inversion.PRESETS["fast"]
    objective = inversion.Objective(target, None, p)
    ws = inversion.average_latent(G).requires_grad_(True)
    yaw, pitch = torch.tensor(0.0, requires_grad=True), torch.tensor(0.0, requires_grad=True)

    def median(fn, n=args.repeats):
        fn()
        rows = []
        for _ in range(n):
            c, t = time.process_time(), time.perf_counter()
            fn()
            rows.append((time.perf_counter() - t, time.process_time() - c))
        rows.sort()
        return {"wall": rows[len(rows) // 2][0], "cpu": rows[len(rows) // 2][1]}
    label = inversion.cam.labels_from_angles(torch.tensor(0.0), torch.tensor(0.0))
    with torch.no_grad():
        img = G.synthesis(ws, label)["image"]
    tuned = copy.deepcopy(G)
    pivot = ws.detach()
    zero = torch.tensor(0.0)
    with torch.no_grad():
        planes = tuned.planes(pivot)

    def tune_step(frozen_backbone):
        for name, prm in tuned.named_parameters():
            prm.requires_grad_(not name.startswith(("mapping.", "backbone.") if frozen_backbone else ("mapping.",)))
        objective(tuned, pivot, zero, zero, planes=planes if frozen_backbone else None)[0].backward()
    load = os.getloadavg()
    payload = {"load_average_before": load, "repeats": args.repeats, "seconds": {
        "latent_step_nr32_loss128": median(lambda: objective(G, ws, yaw, pitch)[0].backward()),
        "latent_step_nr16_loss64": median(lambda: objective(G, ws, yaw, pitch, 16, 64)[0].backward()),
        "tune_step_whole_generator": median(lambda: tune_step(False)),
        "tune_step_frozen_backbone": median(lambda: tune_step(True)),
        "forward_planes": median(lambda: G.planes(ws.detach())),
        "forward_synthesis_nr32": median(lambda: G.synthesis(ws.detach(), label, neural_resolution=32)),
        "forward_synthesis_nr16": median(lambda: G.synthesis(ws.detach(), label, neural_resolution=16)),
        "perceptual_128_forward": median(lambda: perceptual_distance(img, target)),
        "perceptual_64_forward": median(lambda: perceptual_distance(inversion.downsample(img, 64),
                                                                    inversion.downsample(target, 64))),
    }, "load_average_after": os.getloadavg()}
    common.write(args.out if args.out != "inversion_presets" else "inversion_steps", payload)
    print(payload["seconds"])


def main():
    ap = argparse.ArgumentParser(description="inversion benchmarks")
    ap.add_argument("what", nargs="?", default="edits", choices=["edits", "presets", "steps"])
    ap.add_argument("--quality", action="store_true", help="presets: also the quality preset")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--photos", default="astronaut,grace_hopper")
    ap.add_argument("--variant", action="append", default=[], help="NAME:BASE:field=value,... (presets)")
    ap.add_argument("--out", default="inversion_presets")
    ap.add_argument("--repeats", type=int, default=7, help="steps: timed repeats")
    args = ap.parse_args()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    if args.what == "presets":
        return compare_presets(args)
    if args.what == "steps":
        return step_costs(args)
    edits()


def edits():
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    G, base = resolve_generator(None, "cpu")
    model = "default" if base.get("default") else "untrained-tiny"
    tmp = tempfile.mkdtemp(prefix="ide3d-bench-")
    load_before = os.getloadavg()
    t = time.perf_counter()
    aligned = preprocess.preprocess(ASTRONAUT, G.cfg.superres.output_resolution)
    t_pre = time.perf_counter() - t
    s = S.invert_photo(G, ASTRONAUT, Path(tmp) / "astro", preset="fast", encoders=optional_encoders(None, G.device),
                       parser=optional_parser(None, G.device), base_source=base)
    inv = s.meta["extra"]["inversion"]
    # edit latency: region style (feed-forward) + preview render of the input view
    def edit_and_preview(nr=None):
        E.edit_region(s, "hair", seed=3)
        s.render(neural_resolution=nr)
    lat32 = timed(lambda: edit_and_preview(None))
    lat16 = timed(lambda: edit_and_preview(16))
    lat_swap = timed(lambda: (E.edit_texture(s, seed=4), s.render()))
    rerun = inv["timings"]["total"]
    loc = region_locality(G, tmp)
    # the same measurement on inverted held-out SynthHeads heads, restyling their hair
    loc_synth = region_locality(G, tmp, seeds=(1_000_000, 1_000_001), classes=(13,),
                                make=lambda seed: synthheads_session(G, seed, tmp, base))
    outs = [r["outside_mad"] for r in loc if r["outside_mad"] is not None]
    ins = [r["inside_mad"] for r in loc if r["inside_mad"] is not None]
    payload = {
        "model": model, "preset": G.cfg.preset,
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "note": "2 cores; see the load averages for how much else ran",
        "preprocess_seconds": t_pre, "aligned_warnings": aligned.warnings,
        "fast_inversion": {"timings_seconds": inv["timings"], "steps": inv["steps"],
                           "perceptual": inv["perceptual"], "init": inv["init"],
                           "target_seconds": 30, "meets_target": inv["timings"]["total"] <= 30},
        "edit_latency_seconds": {"region_edit_plus_preview_neural32": lat32,
                                 "region_edit_plus_preview_neural16": lat16,
                                 "texture_swap_plus_preview_neural32": lat_swap,
                                 "target_seconds": 0.25},
        "rerun_optimisation_seconds": rerun,
        "speedup_vs_reoptimisation": {"neural32": rerun / lat32, "neural16": rerun / lat16, "target": 100},
        "region_locality": {"rows": loc, "outside_mad_max": max(outs) if outs else None,
                            "inside_mad_min": min(ins) if ins else None, "threshold_outside": 0.02,
                            "classes": ["l_lip"], "sessions": "generator samples (seeds 5-7)",
                            "method": "inside/outside from the rendered coverage of 3D points labelled "
                                      "with the selected classes (selection_coverage)"},
        "region_locality_synthheads": {
            "rows": loc_synth, "classes": ["hair"], "threshold_outside": 0.02,
            "sessions": "held-out SynthHeads heads (seeds 1000000, 1000001) rendered frontally, inverted (fast, align off)",
            "outside_mad_max": max(r["outside_mad"] for r in loc_synth if r["outside_mad"] is not None),
            "inside_mad_min": min(r["inside_mad"] for r in loc_synth if r["inside_mad"] is not None)},
    }
    common.write("inversion", payload)
    print({k: payload[k] for k in ("fast_inversion", "edit_latency_seconds", "speedup_vs_reoptimisation")})


if __name__ == "__main__":
    main()
