"""`ide3d serve`: run the HTTP backend (docs/service.md)."""
from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

from .settings import Settings, default_data_dir


def _steps(text: str) -> tuple[str, tuple[int, int]]:
    try:
        name, _, counts = text.partition("=")
        lat, _, tune = counts.partition(",")
        return name.strip(), (int(lat), int(tune or 0))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected PRESET=LATENT,TUNE (e.g. fast=10,5), got {text!r}") from None


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("serve", help="run the local HTTP backend for the Blender add-on",
                              description="Run the IDE-3D HTTP backend (API: docs/api.md, guide: docs/service.md).")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    p.add_argument("--token", default=None,
                   help="bearer token to require (default: $IDE3D_TOKEN, else the token file, created on first start)")
    p.add_argument("--data-dir", type=Path, default=None,
                   help=f"where sessions live (default $IDE3D_DATA_DIR or {default_data_dir()})")
    p.add_argument("--checkpoint", default=None,
                   help="generator checkpoint (default $IDE3D_CHECKPOINT, else the shipped model); "
                        "build:tiny[:SEED] serves an untrained tiny generator (development)")
    p.add_argument("--encoders", default=None, help="encoders checkpoint (default: the shipped one, if installed)")
    p.add_argument("--parser", default=None, help="face parser checkpoint (default: the shipped one, if installed)")
    p.add_argument("--device", default=None, help="cpu or cuda[:N] (default: CUDA when available)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow binding to a non-loopback address (a studio server); keep the token secret")
    p.add_argument("--preset-steps", type=_steps, action="append", default=[], metavar="PRESET=LATENT,TUNE",
                   help="override an inversion preset's step counts (slow machines, tests)")
    p.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"],
                   help="uvicorn log level (default warning)")
    p.set_defaults(func=serve)
    return p


def settings_from_args(args) -> Settings:
    kw = dict(host=args.host, port=args.port, token=args.token or os.environ.get("IDE3D_TOKEN") or None,
              checkpoint=args.checkpoint, encoders=args.encoders, parser=args.parser, device=args.device,
              allow_remote=args.allow_remote, threads=args.threads, preset_steps=dict(args.preset_steps))
    if args.data_dir is not None:
        kw["data_dir"] = args.data_dir
    return Settings(**kw)


def bind_socket(host: str, port: int) -> socket.socket:
    """A socket bound to the address before anything is loaded or printed: a port in use is
    reported first (OSError, which `ide3d` prints in one line with exit 1)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; is another `ide3d serve` "
                      "running there? stop it or pick another --port") from None
    sock.set_inheritable(True)
    return sock


def serve(args) -> int:
    import logging

    settings = settings_from_args(args)
    settings.check()  # ValueError: `ide3d` prints it and exits 1
    if not settings.is_loopback:
        print(f"WARNING: binding to {settings.host}: every machine that reaches this address can use the "
              "backend with the token; use it on a trusted studio network only (docs/service.md)",
              file=sys.stderr, flush=True)
    if settings.threads:
        import torch
        torch.set_num_threads(int(settings.threads))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    import uvicorn

    from ..checkpoint import CheckpointError
    from .app import create_app
    from .store import DataDirBusy
    sock = bind_socket(settings.host, int(settings.port))
    try:
        app = create_app(settings)
    except (CheckpointError, DataDirBusy) as exc:
        sock.close()
        hint = " (serve --checkpoint PATH, or set IDE3D_CHECKPOINT)" if isinstance(exc, CheckpointError) else ""
        print(f"ide3d serve: error: {exc}{hint}", file=sys.stderr, flush=True)
        return 1
    except BaseException:
        sock.close()
        raise
    b = app.state.backend
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    print(f"IDE-3D backend {b.health()['version']}: model {b.G.cfg.preset} on {b.G.device}, "
          f"{b.resolution} px; sessions in {settings.data_dir}", flush=True)
    if b.store.cleaned:
        print(f"removed {len(b.store.cleaned)} unfinished session(s) left by an interrupted run", flush=True)
    if b.token_path is not None:
        print(f"token: {b.token_path} (send it as `Authorization: Bearer <token>`)", flush=True)
    else:
        print("token: given with --token / $IDE3D_TOKEN", flush=True)
    print(f"listening on http://{host}:{settings.port}", flush=True)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level=args.log_level,
                            access_log=args.log_level in ("info", "debug"), timeout_graceful_shutdown=5)
    # The probe socket held the port while the model loaded; uvicorn binds its own (its
    # connection handling on a handed-over socket differed: early 413s reset the connection).
    sock.close()
    uvicorn.Server(config).run()
    return 0
