"""Service benchmark: the real `ide3d serve` (tiny generator) over HTTP.

Measures request latency (p50/p95) of renders (new views: every request a yaw never asked
before, so the render runs; and repeated views, answered from the PNG cache), edits (region
style, texture swap, undo), compact meshes, and throughput with 4 concurrent clients
(threads, each its own session and views, renders + edits) with zero errors, and renders of
new views and /health (no token) while a 512³ mesh (smoothing 98) of another session and an
inversion run (targets: render p95 <= 1 s, /health p95 <= 50 ms).

    .venv/bin/python bench/service.py [--requests 40] [--clients 4] [--size 128] [--only all|long|concurrent]

Writes bench/results/service.json (every phase) or service_<phase>.json (--only).
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, write  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token"


def pct(xs, q):
    return float(np.percentile(np.asarray(xs) * 1000.0, q)) if xs else float("nan")


def summary(xs) -> dict:
    return {"n": len(xs), "p50_ms": round(pct(xs, 50), 2), "p95_ms": round(pct(xs, 95), 2),
            "mean_ms": round(float(np.mean(xs)) * 1000, 2) if xs else None}


def start_server(work: Path, threads: int):
    import httpx

    from ide3d_backend.api import build_generator, save_generator
    ckpt = work / "tiny.safetensors"
    save_generator(build_generator("tiny", seed=0, device="cpu"), ckpt)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, XDG_CONFIG_HOME=str(work / "config"), OMP_NUM_THREADS=str(threads))
    log = open(work / "server.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "ide3d_backend.cli", "serve", "--port", str(port),
                             "--data-dir", str(work / "data"), "--checkpoint", str(ckpt), "--token", TOKEN,
                             "--threads", str(threads)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    end = time.monotonic() + 180
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError((work / "server.log").read_text())
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError("server did not start")


def timed(fn):
    t = time.perf_counter()
    r = fn()
    return time.perf_counter() - t, r


def portrait_png() -> bytes:
    """A 128 px SynthHeads portrait (PNG) for the inversion."""
    import io

    from PIL import Image

    from ide3d_backend import camera
    from ide3d_backend.synthheads import render_head, sample_head
    buf = io.BytesIO()
    Image.fromarray(np.asarray(render_head(sample_head(3), camera.frontal_label(), 128)["rgb"], np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def during_long_work(url: str, headers: dict, sid: str, size: int, mesh_resolution: int, smooth: int,
                     limit_s: float) -> dict:
    """Render new views of `sid` and ask /health (no token) while a big mesh of another session
    and an inversion run; their latencies while both run (p50/p95)."""
    import httpx
    c = httpx.Client(base_url=url, headers=headers, timeout=900)
    other = c.post("/samples", json={"seed": 77}).json()["id"]
    state = {"mesh_s": None, "mesh_status": None}

    def mesh():
        dt, r = timed(lambda: c.get(f"/sessions/{other}/mesh", params={"resolution": mesh_resolution,
                                                                       "smooth": smooth}))
        state.update(mesh_s=round(dt, 2), mesh_status=r.status_code)

    t_start = time.perf_counter()
    mesh_thread = threading.Thread(target=mesh)
    mesh_thread.start()
    job = c.post("/sessions", files={"photo": ("head.png", portrait_png(), "image/png")},
                 data={"preset": "fast", "align": "false"}).json()
    health, renders, errors = [], [], []
    stop = threading.Event()

    def job_running() -> bool:
        return c.get(f"/jobs/{job['id']}").json()["state"] in ("queued", "running")

    def poll_health():
        with httpx.Client(base_url=url, timeout=60) as anon:
            while not stop.is_set():
                dt, r = timed(lambda: anon.get("/health"))
                if r.status_code != 200:
                    errors.append(f"health {r.status_code}")
                if mesh_thread.is_alive():
                    health.append(dt)
                time.sleep(0.1)

    health_thread = threading.Thread(target=poll_health)
    health_thread.start()
    i, both = 0, 0
    job_end_s = None
    while time.perf_counter() - t_start < limit_s:
        mesh_on = mesh_thread.is_alive()
        job_on = job_running()
        if job_end_s is None and not job_on:
            job_end_s = round(time.perf_counter() - t_start, 2)
        if not mesh_on and not job_on:
            break
        yaw = -0.7 + 1.4 * ((i * 0.618) % 1.0) + 1e-4 * i  # a new view every time
        dt, r = timed(lambda: c.get(f"/sessions/{sid}/render", params={"yaw": yaw, "size": size}))
        i += 1
        if r.status_code != 200:
            errors.append(f"render {r.status_code}")
        renders.append(dt)
        both += mesh_on and job_on
        time.sleep(0.05)
    stop.set()
    health_thread.join()
    mesh_thread.join(limit_s)
    final = c.get(f"/jobs/{job['id']}").json()
    c.close()
    return {"mesh": {"resolution": mesh_resolution, "smooth": smooth, "seconds": state["mesh_s"],
                     "status": state["mesh_status"]},
            "inversion": {"preset": "fast", "state": final["state"], "seconds_until_done": job_end_s},
            "render_new_view_during": summary(renders), "renders_while_both_ran": int(both),
            "health_during_mesh": summary(health), "errors": errors[:5]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=40, help="requests per measured kind")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--per-client", type=int, default=20, help="requests per concurrent client")
    ap.add_argument("--size", type=int, default=128, help="render size (the tiny model renders 128 px)")
    ap.add_argument("--threads", type=int, default=1,
                    help="server torch threads (1: fastest on a machine shared with other jobs)")
    ap.add_argument("--long-mesh", type=int, default=512, help="resolution of the big mesh of the long-work phase")
    ap.add_argument("--long-smooth", type=int, default=98, help="its Taubin smoothing")
    ap.add_argument("--long-limit", type=float, default=900.0, help="seconds the long-work phase may take")
    ap.add_argument("--only", choices=["all", "long", "concurrent"], default="all",
                    help="run every phase, or only the long-work / concurrent-clients one (for quick checks)")
    args = ap.parse_args(argv)
    import httpx

    work = Path(tempfile.mkdtemp(prefix="ide3d-bench-service-"))
    proc, url = start_server(work, args.threads)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    load_before = os.getloadavg()
    try:
        c = httpx.Client(base_url=url, headers=headers, timeout=300)
        t_sample, r = timed(lambda: c.post("/samples", json={"seed": 1}))
        sid = r.json()["id"]
        c.get(f"/sessions/{sid}/render", params={"size": args.size})  # warm-up (first forward pass)
        results = {}
        cold, errors, server_render = [], 0, []
        if args.only == "all":
            yaws = np.linspace(-0.8, 0.8, args.requests)
            warm = []
            for y in yaws:
                dt, r = timed(lambda: c.get(f"/sessions/{sid}/render", params={"yaw": float(y), "size": args.size}))
                errors += r.status_code != 200
                cold.append(dt)
                timing = dict(part.strip().split(";dur=") for part in r.headers.get("server-timing", "").split(",")
                              if ";dur=" in part)
                server_render.append(float(timing.get("render", "nan")) / 1000.0)
            for _ in range(args.requests):
                dt, r = timed(lambda: c.get(f"/sessions/{sid}/render", params={"yaw": 0.1, "size": args.size}))
                errors += r.status_code != 200
                warm.append(dt)
            kinds = {}
            for kind in ("mask", "depth"):
                xs = []
                for y in yaws[: args.requests // 2]:
                    dt, r = timed(lambda: c.get(f"/sessions/{sid}/render",
                                                params={"yaw": float(y) + 1e-3, "size": args.size, "kind": kind}))
                    errors += r.status_code != 200
                    xs.append(dt)
                kinds[kind] = summary(xs)
            edits = {"region": [], "texture": [], "undo": []}
            for i in range(args.requests // 2):
                for name, call in (("region", lambda: c.post(f"/sessions/{sid}/edits/region",
                                                             json={"classes": ["hair"], "seed": i})),
                                   ("texture", lambda: c.post(f"/sessions/{sid}/edits/texture", json={"seed": 100 + i})),
                                   ("undo", lambda: c.post(f"/sessions/{sid}/edits/undo"))):
                    dt, r = timed(call)
                    errors += r.status_code != 200
                    edits[name].append(dt)
            edit_then_render = []
            for i in range(args.requests // 4):
                t0 = time.perf_counter()
                r1 = c.post(f"/sessions/{sid}/edits/texture", json={"seed": 500 + i})
                r2 = c.get(f"/sessions/{sid}/render", params={"yaw": 0.2, "size": args.size})
                errors += (r1.status_code != 200) + (r2.status_code != 200)
                edit_then_render.append(time.perf_counter() - t0)
            mesh = []
            for i in range(3):
                c.post(f"/sessions/{sid}/edits/texture", json={"seed": 900 + i})  # new version: no mesh cache
                dt, r = timed(lambda: c.get(f"/sessions/{sid}/mesh", params={"resolution": 64}))
                errors += r.status_code != 200
                mesh.append(dt)

        conc = None
        if args.only in ("all", "concurrent"):
            # --- concurrent clients -----------------------------------------------------------
            sids = [c.post("/samples", json={"seed": 10 + k}).json()["id"] for k in range(args.clients)]
            lat, errs, lock = [], [], threading.Lock()
            barrier = threading.Barrier(args.clients)

            def client(k):
                with httpx.Client(base_url=url, headers=headers, timeout=300) as cc:
                    barrier.wait()
                    for j in range(args.per_client):
                        if j % 4 == 3:
                            call = lambda: cc.post(f"/sessions/{sids[k]}/edits/texture", json={"seed": j})  # noqa: E731
                        else:
                            yaw = -0.6 + 1.2 * (j * args.clients + k) / (args.per_client * args.clients)
                            call = lambda: cc.get(f"/sessions/{sids[k]}/render",  # noqa: E731
                                                  params={"yaw": yaw, "size": args.size})
                        try:
                            dt, r = timed(call)
                            ok = r.status_code == 200
                        except httpx.HTTPError as exc:
                            dt, ok = float("nan"), False
                            r = exc
                        with lock:
                            lat.append(dt)
                            if not ok:
                                errs.append(str(getattr(r, "status_code", r)))

            threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - t0
            total = args.clients * args.per_client
            conc = {"clients": args.clients, "requests": total, "errors": len(errs), "error_samples": errs[:5],
                    "wall_s": round(wall, 3), "throughput_rps": round(total / wall, 2),
                    "latency": summary([x for x in lat if x == x]),
                    "mix": "3/4 renders of new views, 1/4 texture edits; each client its own session"}
        if args.only in ("all", "long"):
            results["during_long_work"] = during_long_work(
                url, headers, sid, args.size, args.long_mesh, args.long_smooth, args.long_limit)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
    load_after = os.getloadavg()
    payload = {
        "machine": machine(),
        "settings": {"model": "tiny (untrained, 128 px output, neural rendering 32 px)", "render_size": args.size,
                     "server_threads": args.threads, "requests": args.requests, "phases": args.only},
        "load_average_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "sample_session_s": round(t_sample, 3),
    }
    targets = {}
    if args.only == "all":
        render = summary(cold)
        payload.update({
            "render_new_view": render,
            "render_new_view_server_side_model_time": summary(server_render),
            "render_repeated_view_cached": summary(warm),
            "render_other_kinds_new_view": kinds,
            "edits": {k: summary(v) for k, v in edits.items()},
            "texture_edit_then_render": summary(edit_then_render),
            "mesh_compact_res64": summary(mesh),
            "errors_sequential": int(errors)})
        targets["render_p50_under_100ms"] = render["p50_ms"] < 100.0
    if conc is not None:
        payload["concurrent"] = conc
        targets["concurrent_zero_errors"] = conc["errors"] == 0 and errors == 0
        targets["concurrent_p50_under_300ms"] = conc["latency"]["p50_ms"] <= 300.0
    if "during_long_work" in results:
        long = results["during_long_work"]
        payload["during_long_work"] = long
        targets["long_work_render_p95_under_1s"] = long["render_new_view_during"]["p95_ms"] <= 1000.0
        targets["long_work_health_p95_under_50ms"] = long["health_during_mesh"]["p95_ms"] <= 50.0
    payload["targets"] = targets
    write("service" if args.only == "all" else f"service_{args.only}",
          {k: v for k, v in payload.items() if k != "machine"})
    import json
    print(json.dumps(payload, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
