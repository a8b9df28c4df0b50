"""Our `paper` generator against EG3D's, side by side in one process on this CPU.

EG3D (NVlabs/eg3d) is not vendored: pass a local copy of its public source,
e.g.  git --git-dir=/work/.mirror/NVlabs+eg3d/repo archive HEAD | tar -x -C /tmp/eg3d
      python bench/eg3d_compare.py --eg3d-path /tmp/eg3d
Its TriPlaneGenerator is built with random weights in the FFHQ-512 configuration
of its train.py (--cfg=ffhq, cbase 32768, cmax 512, map depth 2, 48+48 samples,
rays 2.25..3.3, box_warp 1, SuperresolutionHybrid8XDC, generator pose
conditioning off). Both forwards run at batch 1, alternating EG3D / ours per
repeat, at neural rendering 64 and 128, next to the fp32 matmul ceiling; ours also
in fastpath.reference_mode() (the formulations before the speed work) unless
--no-reference.
-> bench/results/eg3d_compare.json
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from generator import matmul_ceiling  # noqa: E402

# FFHQ-512 settings of EG3D's train.py (defaults of its CLI plus the `ffhq` branch).
EG3D_RENDERING = {
    "image_resolution": 512, "disparity_space_sampling": False, "clamp_mode": "softplus",
    "superresolution_module": "training.superresolution.SuperresolutionHybrid8XDC",
    "c_gen_conditioning_zero": True, "gpc_reg_prob": None, "c_scale": 1.0,
    "superresolution_noise_mode": "none", "density_reg": 0.25, "density_reg_p_dist": 0.004,
    "reg_type": "l1", "decoder_lr_mul": 1.0, "sr_antialias": True,
    "depth_resolution": 48, "depth_resolution_importance": 48, "ray_start": 2.25, "ray_end": 3.3,
    "box_warp": 1, "avg_camera_radius": 2.7, "avg_camera_pivot": [0, 0, 0.2],
}
EG3D_HOW = ("EG3D built from its source with random weights (torch.manual_seed(0)); on CPU its "
            "custom CUDA ops (bias_act, upfirdn2d, filtered_lrelu) take the reference PyTorch paths "
            "EG3D itself falls back to off-GPU, and its fp16 super-resolution layers run in fp32 "
            "(EG3D forces fp32 when the device is not CUDA). noise_mode='const' for both models.")


def load_eg3d(path: Path):
    import torch
    root = path / "eg3d" if (path / "eg3d" / "training" / "triplane.py").exists() else path
    if not (root / "training" / "triplane.py").exists():
        raise SystemExit(f"--eg3d-path {path}: no training/triplane.py found there or in its eg3d/ folder; "
                         "extract EG3D's source first (see this script's docstring)")
    sys.path.insert(0, str(root))
    from training.triplane import TriPlaneGenerator  # EG3D's module, from the given path
    torch.manual_seed(0)
    G = TriPlaneGenerator(
        z_dim=512, c_dim=25, w_dim=512, img_resolution=512, img_channels=3, sr_num_fp16_res=4,
        mapping_kwargs={"num_layers": 2}, rendering_kwargs=dict(EG3D_RENDERING),
        sr_kwargs={"channel_base": 32768, "channel_max": 512, "fused_modconv_default": "inference_only"},
        channel_base=32768, channel_max=512, fused_modconv_default="inference_only", num_fp16_res=0,
        conv_clamp=None)
    return G.eval().requires_grad_(False), str(root)


def count_gflop(fn) -> float:
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as fc:  # conv/matmul FLOPs only, for both models alike
        fn()
    return fc.get_total_flops() / 1e9


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--eg3d-path", type=Path, required=True, help="local copy of NVlabs/eg3d's source")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--resolutions", type=int, nargs="+", default=[64, 128])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="eg3d_compare", help="name of the JSON in bench/results/")
    ap.add_argument("--no-reference", action="store_true",
                    help="skip our reference formulations (fastpath.reference_mode(), the 'before')")
    args = ap.parse_args()

    import torch
    from ide3d_backend import build_generator, camera
    from ide3d_backend.model import fastpath
    torch.set_num_threads(args.threads)
    load_start = list(os.getloadavg())
    eg3d, eg3d_root = load_eg3d(args.eg3d_path.resolve())
    ours = build_generator("paper", seed=0, device="cpu").eval().requires_grad_(False)
    z = torch.randn(1, 512, generator=torch.Generator().manual_seed(1))
    c = camera.label_tensor()  # same OpenGL-style 25-d label convention as EG3D's FFHQ poses

    def ours_reference(nr):
        with fastpath.reference_mode():
            return ours(z, c, neural_resolution=nr, noise_mode="const")

    models = {
        "eg3d": lambda nr: eg3d(z, c, neural_rendering_resolution=nr, noise_mode="const"),
        "ours": lambda nr: ours(z, c, neural_resolution=nr, noise_mode="const"),
    }
    if not args.no_reference:  # ours before the fast paths, same process, same alternation
        models["ours_reference"] = ours_reference
    times = {name: {nr: [] for nr in args.resolutions} for name in models}
    with torch.no_grad():
        for nr in args.resolutions:  # warm-up (allocator, lazily built kernels/filters)
            for fn in models.values():
                fn(nr)
        for rep in range(args.repeats):
            order = list(models) if rep % 2 == 0 else list(models)[::-1]  # alternate
            for nr in args.resolutions:
                for name in order:
                    t = time.perf_counter()
                    models[name](nr)
                    times[name][nr].append(time.perf_counter() - t)
                    print(f"rep {rep} nr {nr} {name}: {times[name][nr][-1]:.3f} s", flush=True)
        gflop = {name: {nr: count_gflop(lambda: models[name](nr)) for nr in args.resolutions}
                 for name in ("eg3d", "ours")}
    ceiling = matmul_ceiling(args.threads)

    cases = {}
    for nr in args.resolutions:
        e, o = min(times["eg3d"][nr]), min(times["ours"][nr])
        cases[f"nr{nr}"] = {
            "eg3d_seconds_best": e, "ours_seconds_best": o, "ratio_ours_to_eg3d": o / e,
            "eg3d_seconds_all": times["eg3d"][nr], "ours_seconds_all": times["ours"][nr],
            "eg3d_gflop": gflop["eg3d"][nr], "ours_gflop": gflop["ours"][nr],
            "eg3d_fraction_of_ceiling": gflop["eg3d"][nr] / e / ceiling,
            "ours_fraction_of_ceiling": gflop["ours"][nr] / o / ceiling,
        }
        if "ours_reference" in times:
            ref = min(times["ours_reference"][nr])
            cases[f"nr{nr}"].update({"ours_reference_seconds_best": ref,
                                     "ours_reference_seconds_all": times["ours_reference"][nr],
                                     "ratio_ours_reference_to_eg3d": ref / e})
        print(f"nr{nr}: EG3D {e:.2f} s, ours {o:.2f} s, ratio {o / e:.2f}")
    common.write(args.out, {
        "load_average_before_models": load_start,
        "how": EG3D_HOW, "eg3d_source": eg3d_root,
        "eg3d_config": {"rendering_kwargs": EG3D_RENDERING, "channel_base": 32768, "channel_max": 512,
                        "mapping_layers": 2, "parameters": sum(p.numel() for p in eg3d.parameters())},
        "ours_parameters": sum(p.numel() for p in ours.parameters()),
        "matmul_ceiling_gflops": ceiling, "threads": args.threads, "repeats": args.repeats,
        "targets": {"ratio_nr64": 0.4, "ratio_nr128": 0.5},
        "cases": cases})


if __name__ == "__main__":
    main()
