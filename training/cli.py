"""`ide3d train generator|encoders|parser|export ...` (also `python -m training ...`).

`register` is the `ide3d` command's entry point for `train` (pyproject.toml, group
"ide3d.commands"): the runtime package does not import training/. Each runner
parses its settings, builds its trainer (training.train_*), resumes or starts the
run and exports the network to the run folder.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .config import ENCODER_TRAIN_PRESETS, PARSER_TRAIN_PRESETS


def _threads(args, cfg) -> None:
    import torch
    torch.set_num_threads(args.threads or cfg.num_threads or torch.get_num_threads())


def _export(trainer) -> None:
    out = trainer.export_to_run()
    print(f"wrote {out}")


def run_generator(args) -> int:
    from .config import apply_overrides, get_train_config
    from .distributed import init_distributed, shutdown
    from .train_generator import GeneratorTrainer
    cfg = apply_overrides(get_train_config(args.preset), args.set)
    if args.phase == "recon":
        steps = args.steps or cfg.recon_steps
    elif args.phase == "adversarial":
        cfg = cfg.replace(recon_steps=0)
        steps = args.steps
    else:
        steps = args.steps
    if not steps:
        raise ValueError("give --steps N (total steps of the run, counting resumed ones)")
    _threads(args, cfg)
    ctx = init_distributed(args.device)
    try:
        trainer = GeneratorTrainer(args.data, args.out, cfg, ctx, init_checkpoint=args.init)
        if args.resume and trainer.resume():
            print(f"resumed {args.out} at step {trainer.step} ({trainer.kimg:.1f} kimg)", file=sys.stderr)
        elif args.init is not None and args.init_latents == "encoders":
            _init_latents_from_encoders(trainer, args.encoders)
        trainer.train(steps, progress=not args.quiet)
        if ctx.is_main:
            _export(trainer)
            from .latent_init import save_latents
            save_latents(Path(args.out) / "latents.safetensors", trainer.latents, trainer.data)
            print(f"wrote {Path(args.out) / 'latents.safetensors'} (per-head codes, for `train encoders --latents`)")
    finally:
        shutdown(ctx)
    return 0


def _init_latents_from_encoders(trainer, encoders_path) -> None:
    """Start the per-head codes where the --init generator already renders each head."""
    import torch

    from ide3d_backend.encoding import load_encoders

    from .distributed import broadcast_tensor
    from .latent_init import latents_from_encoders
    enc = load_encoders(encoders_path, device=trainer.dev)
    z, residual = latents_from_encoders(trainer.G, enc, trainer.data)
    with torch.no_grad():
        trainer.latents.copy_(z)
    broadcast_tensor(trainer.latents.data, trainer.ctx)
    if trainer.ctx.is_main:
        print(f"per-head codes fitted to the encoders' W+ codes (mean squared residual {residual:.4f})",
              file=sys.stderr)


def run_export(args) -> int:
    from ide3d_backend.api import save_generator
    from ide3d_backend.checkpoint import load_checkpoint
    from ide3d_backend.config import GeneratorConfig
    from ide3d_backend.model.generator import TriPlaneGenerator

    from .snapshot import latest_snapshot
    snap = latest_snapshot(Path(args.run))
    if snap is None:
        raise FileNotFoundError(f"no snapshot in {args.run}")
    flat, meta = load_checkpoint(snap)
    G = TriPlaneGenerator(GeneratorConfig.from_dict(meta["config"]["generator"]))
    G.load_state_dict({k[len("G_ema."):]: v for k, v in flat.items() if k.startswith("G_ema.")})
    save_generator(G, args.out, extra={"source": snap.name, "step": meta["extra"]["step"]}, half=args.half)
    print(f"wrote {args.out} from {snap}")
    return 0


def run_encoders(args) -> int:
    from .config import apply_overrides, get_encoder_train_config
    from .snapshot import latest_snapshot
    from .train_encoders import EncoderTrainer
    cfg = apply_overrides(get_encoder_train_config(args.preset), args.set)
    if args.steps is None:
        raise ValueError("give --steps N (total steps of the run, counting resumed ones)")
    _threads(args, cfg)
    init = args.init
    if args.resume and latest_snapshot(Path(args.out)) is not None:
        init = None  # the snapshot holds the weights: --init (and its pose-head fit) only starts a new run
    trainer = EncoderTrainer(args.generator, args.out, cfg, data_dir=args.data, device=args.device,
                             latents_path=args.latents, init_checkpoint=init)
    if args.resume and trainer.resume():
        print(f"resumed {args.out} at step {trainer.step}", file=sys.stderr)
    elif trainer.init_note:
        print(trainer.init_note, file=sys.stderr)
    trainer.train(args.steps, progress=not args.quiet)
    if cfg.final_pose_fit:
        print(trainer.refit_pose_head(), file=sys.stderr)
    _export(trainer)
    return 0


def run_parser(args) -> int:
    from .config import apply_overrides, get_parser_train_config
    from .train_parser import ParserTrainer
    cfg = apply_overrides(get_parser_train_config(args.preset), args.set)
    if args.steps is None:
        raise ValueError("give --steps N (total steps of the run, counting resumed ones)")
    _threads(args, cfg)
    trainer = ParserTrainer(args.out, cfg, generator=args.generator, data_dir=args.data, device=args.device)
    if args.resume and trainer.resume():
        print(f"resumed {args.out} at step {trainer.step}", file=sys.stderr)
    trainer.train(args.steps, progress=not args.quiet)
    _export(trainer)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train the generator, encoders, canonical editor or face parser")
    tsub = p.add_subparsers(dest="what", metavar="WHAT")
    g = tsub.add_parser("generator", help="train the 3D generator (recon and/or adversarial phase)")
    g.add_argument("--data", required=True, type=Path, help="dataset folder (images/, masks/, dataset.json)")
    g.add_argument("--out", required=True, type=Path, help="run folder: snapshots, samples, metrics.jsonl")
    g.add_argument("--preset", default="tiny", choices=["tiny", "paper"])
    g.add_argument("--phase", default="both", choices=["recon", "adversarial", "both"])
    g.add_argument("--steps", type=int, default=None, help="total steps, counting resumed ones")
    g.add_argument("--resume", action="store_true", help="continue from the run folder's latest snapshot")
    g.add_argument("--init", type=Path, default=None, help="start from a generator checkpoint")
    g.add_argument("--init-latents", default="encoders", choices=["encoders", "random"],
                   help="with --init: per-head codes fitted to what the encoders read from each head (default) "
                        "or random")
    g.add_argument("--encoders", type=Path, default=None,
                   help="encoders for --init-latents encoders (default: the shipped ones)")
    g.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a training setting")
    g.add_argument("--device", default=None)
    g.add_argument("--threads", type=int, default=None)
    g.add_argument("--quiet", action="store_true")
    g.set_defaults(func=run_generator)
    e = tsub.add_parser("export", help="write the EMA generator of a run's latest snapshot")
    e.add_argument("run", type=Path)
    e.add_argument("--out", required=True, type=Path)
    e.add_argument("--half", action="store_true", help="store float16 (shipped weights: half the size)")
    e.set_defaults(func=run_export)
    en = tsub.add_parser("encoders", help="train E_t, E_s and the canonical editor against a frozen generator")
    en.add_argument("--generator", required=True, type=Path, help="generator checkpoint (frozen)")
    en.add_argument("--out", required=True, type=Path, help="run folder: snapshots, metrics.jsonl, encoders.safetensors")
    en.add_argument("--preset", default="tiny", choices=sorted(ENCODER_TRAIN_PRESETS))
    en.add_argument("--data", type=Path, default=None, help="optional dataset folder (reconstruction losses only)")
    en.add_argument("--latents", type=Path, default=None,
                   help="per-head codes of the generator run on --data (RUN/latents.safetensors): "
                        "latent + pose targets for dataset images")
    en.add_argument("--init", type=Path, default=None,
                   help="start from these encoders instead of random weights (fine-tuning)")
    en.add_argument("--steps", type=int, default=None, help="total steps, counting resumed ones")
    en.add_argument("--resume", action="store_true", help="continue from the run folder's latest snapshot")
    en.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a setting, e.g. batch=4 or weights.pose=2")
    en.add_argument("--device", default=None)
    en.add_argument("--threads", type=int, default=None)
    en.add_argument("--quiet", action="store_true")
    en.set_defaults(func=run_encoders)
    pa = tsub.add_parser("parser", help="train the face parser on generator renders and/or a dataset")
    pa.add_argument("--out", required=True, type=Path, help="run folder: snapshots, metrics.jsonl, parser.safetensors")
    pa.add_argument("--generator", type=Path, default=None, help="generator checkpoint giving paired RGB/mask renders")
    pa.add_argument("--data", type=Path, default=None, help="dataset folder with images and masks (e.g. SynthHeads)")
    pa.add_argument("--preset", default="tiny", choices=sorted(PARSER_TRAIN_PRESETS))
    pa.add_argument("--steps", type=int, default=None, help="total steps, counting resumed ones")
    pa.add_argument("--resume", action="store_true", help="continue from the run folder's latest snapshot")
    pa.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a setting, e.g. batch=4")
    pa.add_argument("--device", default=None)
    pa.add_argument("--threads", type=int, default=None)
    pa.add_argument("--quiet", action="store_true")
    pa.set_defaults(func=run_parser)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train"] + list(sys.argv[1:] if argv is None else argv))
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)
