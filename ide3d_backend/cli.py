"""The `ide3d` command. Thin: each subcommand parses its arguments and calls one
engine function. Subcommands live next to the code they drive and register
themselves through a function that adds their parser to the subparsers object
(`set_defaults(func=...)`).

The runtime's own subcommands are listed in `COMMANDS`. Other installed packages
add theirs through the entry-point group `ide3d.commands` (name = "module:register"
in their pyproject.toml): that is how `ide3d train` (training/cli.py) joins without
the runtime package importing training/. A registrar that cannot be loaded still
shows up in `ide3d --help`, marked unavailable, and running it prints why.
"""
from __future__ import annotations

import argparse
import sys
import traceback
from importlib.metadata import EntryPoint, entry_points

ENTRY_POINT_GROUP = "ide3d.commands"

# name -> "module:register_function" inside ide3d_backend, loaded when the parser is built.
COMMANDS = {
    "data": "ide3d_backend.synthheads.cli:register",
    "demo": "ide3d_backend.demo:register",
    "serve": "ide3d_backend.service.cli:register",
    "invert": "ide3d_backend.engine_cli:register_invert",
    "render": "ide3d_backend.engine_cli:register_render",
    "edit": "ide3d_backend.engine_cli:register_edit",
    "sample": "ide3d_backend.engine_cli:register_sample",
    "draw": "ide3d_backend.engine_cli:register_draw",
    "mesh": "ide3d_backend.engine_cli:register_mesh",
}


def registrars() -> list[EntryPoint]:
    """Every subcommand's registrar: the runtime's (COMMANDS), then the installed entry
    points of `ide3d.commands` sorted by name. `.load()` returns the register function."""
    found = [EntryPoint(name, target, ENTRY_POINT_GROUP) for name, target in COMMANDS.items()]
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name):
        if ep.name in COMMANDS:
            raise RuntimeError(f"ide3d: the entry point {ep.name} = {ep.value!r} ({ENTRY_POINT_GROUP}) "
                               f"clashes with the built-in command {ep.name!r}")
        found.append(ep)
    return found


def _unavailable(sub: argparse._SubParsersAction, name: str, target: str, exc: BaseException) -> None:
    """A subcommand whose registrar failed to load: listed, and running it reports the failure."""
    reason = f"{type(exc).__name__}: {exc}"
    details = "".join(traceback.format_exception(exc))

    def report(args) -> int:
        print(details, end="", file=sys.stderr)
        print(f"ide3d {name}: error: this command could not be loaded from {target} ({reason})", file=sys.stderr)
        return 1

    # No option prefix: every argument, "--help" included, is taken as is and reaches `report`.
    p = sub.add_parser(name, help=f"unavailable: cannot load {target} ({reason})", add_help=False,
                       prefix_chars="\0")
    p.add_argument("args", nargs="*")
    p.set_defaults(func=report)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ide3d", description="IDE-3D: photo to editable 3D head")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for ep in registrars():
        try:
            register = ep.load()
        except Exception as exc:  # noqa: BLE001 - whatever broke the import: the other commands still work
            _unavailable(sub, ep.name, ep.value, exc)
            continue
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        if getattr(args, "device", None):
            # Every command with --device: an unusable device is one line and exit 1, before any work.
            from .checkpoint import select_device
            select_device(args.device)
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
