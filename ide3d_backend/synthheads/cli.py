"""`ide3d data synth ...`, `ide3d data grid ...` and `ide3d data merge ...`."""
from __future__ import annotations

import argparse

VARIETIES = ("classic", "rich")  # variety.PRESETS (not imported here: the CLI stays light)


def _synth(args) -> int:
    from .writer import write_dataset

    meta = write_dataset(args.out, count=args.count, resolution=args.resolution, views=args.views,
                         seed=args.seed, progress=not args.quiet,
                         canonical_first=args.canonical_first, workers=args.workers,
                         variety=args.variety)
    print(f"wrote {len(meta['labels'])} images of {len(meta['groups'])} heads to {args.out}")
    return 0


def _grid(args) -> int:
    from .writer import make_grid

    from .writer import GRID_VIEWS

    seeds = range(args.seed, args.seed + args.rows)
    views = GRID_VIEWS if args.yaw is None else tuple((float(y), 0.0) for y in args.yaw)
    make_grid(seeds, views=views, resolution=args.resolution, out=args.out, variety=args.variety,
              columns=args.columns)
    print(f"wrote {args.out}")
    return 0


def _merge(args) -> int:
    from ..data import merge_datasets

    meta = merge_datasets(args.sources, args.out)
    print(f"wrote {args.out}: {len(meta['labels'])} images of {len(meta['groups'])} heads "
          f"from {len(args.sources)} datasets (linked, not copied)")
    return 0


def register(subparsers) -> argparse.ArgumentParser:
    """Add `data` with sub-commands `synth` (write a dataset) and `grid` (sample PNG)."""
    data = subparsers.add_parser("data", help="datasets: synthesise SynthHeads, sample grids, merge folders")
    sub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    data.set_defaults(func=lambda args: (data.print_help(), 2)[1])

    synth = sub.add_parser("synth", help="render a SynthHeads dataset (images, masks, depths, dataset.json)")
    synth.add_argument("--count", type=int, required=True, help="number of heads")
    synth.add_argument("--resolution", type=int, required=True, help="image size in pixels")
    synth.add_argument("--out", required=True, help="output folder")
    synth.add_argument("--views", type=int, default=1, help="poses per head (default 1)")
    synth.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    synth.add_argument("--canonical-first", action="store_true", help="make view 0 of every head frontal")
    synth.add_argument("--workers", type=int, default=None, help="worker processes (default: auto)")
    synth.add_argument("--quiet", action="store_true", help="no progress bar")
    synth.add_argument("--variety", choices=VARIETIES, default="classic",
                       help="head distribution: classic (default, the shipped model's) or rich "
                            "(random lights, expressions, skin detail, beards, glasses, backgrounds)")
    synth.set_defaults(func=_synth)

    grid = sub.add_parser("grid", help="write a sample grid PNG (RGB | mask, 3 views per head)")
    grid.add_argument("--out", required=True, help="output PNG")
    grid.add_argument("--rows", type=int, default=6, help="number of heads (default 6)")
    grid.add_argument("--seed", type=int, default=0, help="first head seed (default 0)")
    grid.add_argument("--resolution", type=int, default=128)
    grid.add_argument("--variety", choices=VARIETIES, default="classic", help="classic (default) or rich")
    grid.add_argument("--columns", type=int, default=1, help="heads side by side (default 1)")
    grid.add_argument("--yaw", type=float, nargs="+", default=None,
                      help="view yaws in radians (default: -0.45, 0 and 0.4 with a little pitch)")
    grid.set_defaults(func=_grid)

    merge = sub.add_parser("merge", help="list several dataset folders as one (links, no copies)")
    merge.add_argument("sources", nargs="+", help="dataset folders (their names tag the merged files)")
    merge.add_argument("--out", required=True, help="new output folder")
    merge.set_defaults(func=_merge)
    return data
