"""What an adversarial run's discriminator tells reals from fakes by.

Loads the latest snapshot of a generator run folder (G, D) and prints the mean logit of
each D branch on a batch of dataset images, the generator's samples, and mixtures of the
two: a fake's high-resolution image with its own downsampling as the low-resolution pair,
a real image with a fake's neural render as that pair, blurred real images. A D that
judges sharpness scores blurred reals lower; one that keys on the neural render scores
"real I_h + fake I_l" as a fake. docs/default_model.md (session 10) shows a run of it.

    .venv/bin/python tools/discriminator_cues.py runs/generator-adv --data data/synth_mix_960_can \
        --init runs/generator-rich/export.safetensors --recon-steps 600
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ide3d_backend.perceptual import gaussian_blur  # noqa: E402
from training.config import get_train_config  # noqa: E402
from training.train_generator import GeneratorTrainer  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="generator run folder with snapshots")
    ap.add_argument("--data", required=True, help="the run's dataset")
    ap.add_argument("--init", default=None, help="the run's --init checkpoint (builds the same generator)")
    ap.add_argument("--recon-steps", type=int, default=0, help="the run's recon_steps")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--out", default=None, help="also write the logits as JSON here")
    args = ap.parse_args()
    torch.set_num_threads(2)
    cfg = get_train_config("tiny").replace(recon_steps=args.recon_steps)
    tr = GeneratorTrainer(args.data, args.run, cfg, init_checkpoint=args.init)
    if not tr.resume():
        raise SystemExit(f"no snapshot in {args.run}: give a run folder that has trained")
    rng, gen = np.random.default_rng(1), torch.Generator().manual_seed(1)
    rows: dict[str, dict[str, float]] = {}
    with torch.no_grad():
        real = tr._sample_real(rng, args.batch, False)
        c = real["label"]
        rgb_real, sem_real = tr._real_d_inputs(real)
        z = torch.randn(args.batch, tr.G.z_dim, generator=gen)
        ws = tr._mapping(z, tr._conditioning(c, rng), rng, gen)
        fake = tr.G.synthesis(ws, c, neural_resolution=tr.neural_resolution(), noise_mode="random",
                              perturb=True, generator=gen)
        # D's inputs made as training makes them (GeneratorTrainer._real_d_inputs / _fake_d_inputs)
        rgb_fake, sem_fake = tr._fake_d_inputs(fake, raw_from_image=False)
        rgb_fake_own = tr._fake_d_inputs(fake, raw_from_image=True)[0]

        def score(name, rgb_in, sem_in):
            logit_rgb, logit_sem = tr.D(rgb_in, sem_in, c)
            rows[name] = {"rgb": float(logit_rgb.mean()), "semantic": float(logit_sem.mean())}

        score("real", rgb_real, sem_real)
        score("fake", rgb_fake, sem_fake)
        probs = fake["semantic"].softmax(1)
        hard = F.one_hot(probs.argmax(1), probs.shape[1]).permute(0, 3, 1, 2).float()
        hard_raw = F.interpolate(hard, size=fake["semantic_raw"].shape[-2:], mode="area")
        score("fake, one-hot semantics", rgb_fake, tr.D.semantic_input(hard, hard_raw))
        score("fake I_h + its own downsampling", rgb_fake_own, sem_fake)
        score("real I_h + fake I_l", tr.D.rgb_input(real["image"], fake["image_raw"]), sem_real)
        for sigma in (0.5, 1.0, 2.0):
            blurred = tr._real_d_inputs({**real, "image": gaussian_blur(real["image"], sigma)})[0]
            score(f"real blurred, sigma {sigma} px", blurred, sem_real)
    print(f"{args.run} at step {tr.step}: mean D logits over {args.batch} images")
    for name, r in rows.items():
        print(f"  {name:34s} rgb {r['rgb']:+7.2f}   semantic {r['semantic']:+7.2f}")
    if args.out:
        Path(args.out).write_text(json.dumps({"run": args.run, "step": tr.step, "batch": args.batch,
                                              "mean_logits": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
