"""Shared helpers for benchmarks: machine description and JSON output."""
from __future__ import annotations

import json
import os
import platform
import resource
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
# SynthHeads seeds of the held-out heads every benchmark scores: far from any training seed.
HELDOUT_SEED_BASE = 1_000_000


def machine() -> dict:
    import torch
    cpu = platform.processor() or ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = list(os.getloadavg())  # a shared CPU makes wall times pessimistic: say how shared
    except OSError:
        load = None
    return {"platform": platform.platform(), "cpu": cpu, "cpu_count": os.cpu_count(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.is_available(), "python": platform.python_version(),
            "load_average_at_start": load, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def write(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"machine": machine(), **payload}
    try:
        payload["machine"]["load_average_at_end"] = list(os.getloadavg())
    except OSError:
        pass
    path.write_text(json.dumps(payload, indent=2))
    print(f"wrote {path}")
    return path
