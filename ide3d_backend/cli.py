"""The `ide3d` command. Thin: each subcommand parses its arguments and calls one
engine function. Subcommands live next to the code they drive and register
themselves through `COMMANDS` (module path, function that adds the parser)."""
from __future__ import annotations

import argparse
import importlib
import sys

# name -> "module:register_function". Each register function receives the
# subparsers object and adds its parser with `set_defaults(func=...)`.
COMMANDS = {
    "data": "ide3d_backend.synthheads.cli:register",
    "demo": "ide3d_backend.demo:register",
    "train": "training.cli:register",
    "serve": "ide3d_backend.service.cli:register",
    "invert": "ide3d_backend.engine_cli:register_invert",
    "render": "ide3d_backend.engine_cli:register_render",
    "edit": "ide3d_backend.engine_cli:register_edit",
    "sample": "ide3d_backend.engine_cli:register_sample",
    "draw": "ide3d_backend.engine_cli:register_draw",
    "mesh": "ide3d_backend.engine_cli:register_mesh",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ide3d", description="IDE-3D: photo to editable 3D head")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, target in COMMANDS.items():
        if target is None:
            continue
        module, func = target.split(":")
        try:
            register = getattr(importlib.import_module(module), func)
        except ModuleNotFoundError as exc:
            # A subcommand whose module is not there yet must not break the others.
            if exc.name and exc.name.split(".")[0] in ("ide3d_backend", "training"):
                continue
            raise
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        result = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, PermissionError, OSError) as exc:
        print(f"ide3d {args.command}: error: {exc}", file=sys.stderr)
        return 1
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
