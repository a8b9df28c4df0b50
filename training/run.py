"""What every trainer shares: its run folder and the loop that fills it.

A run folder holds `metrics.jsonl` (one line per log interval), the snapshots
(`snapshot-*.safetensors` + `latest.json`, training.snapshot) that `resume()`
continues from bit-exactly, and the exported network (`export_name`), which is
the checkpoint its loader in ide3d_backend reads. A trainer names what its
snapshot holds and how its network is written; saving, resuming, exporting and
the step loop (training.loop) are the same for all of them.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from .loop import run_steps
from .snapshot import latest_snapshot, load_snapshot, save_snapshot


class RunTrainer:
    desc = "train"              # the progress bar's label
    shown = "loss"              # the log entry shown on the progress bar
    export_name = "network.safetensors"  # the exported network's file name in the run folder
    is_main = True              # only the main process writes files (multi-process runs)

    def __init__(self, run_dir: str | Path, cfg):
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.metrics_path = self.run_dir / "metrics.jsonl"
        self.step = 0

    # ------------------------------------------------------------------ what a trainer provides
    def train_step(self) -> dict[str, float]:
        """One optimisation step; increments `self.step`; returns the step's log entries."""
        raise NotImplementedError

    def snapshot_modules(self) -> dict[str, torch.nn.Module]:
        raise NotImplementedError

    def snapshot_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def snapshot_tensors(self) -> dict[str, torch.Tensor]:
        return {}

    def snapshot_info(self) -> dict[str, Any]:
        """Counters and settings stored with a snapshot; "config" becomes the checkpoint's config."""
        raise NotImplementedError

    def resizable_modules(self) -> dict[str, str] | None:
        """Modules (name -> their optimiser's name) that a resume may re-initialise when
        their size changed (training.snapshot.load_snapshot's `optional`)."""
        return None

    def restore(self, tensors: dict[str, torch.Tensor], info: dict[str, Any]) -> None:
        """Counters and extra tensors of a loaded snapshot (modules and optimisers are loaded)."""
        self.step = int(info["step"])

    def write_network(self, path: str | Path, extra: dict[str, Any]) -> None:
        raise NotImplementedError

    def export_info(self) -> dict[str, Any]:
        """What the exported checkpoint records besides the step and the training config."""
        return {}

    # ------------------------------------------------------------------ run folder
    def save(self) -> Path | None:
        if not self.is_main:
            return None
        return save_snapshot(self.run_dir, self.step, self.snapshot_modules(), self.snapshot_optimizers(),
                             self.snapshot_tensors(), self.snapshot_info(), keep=self.cfg.keep_snapshots)

    def resume(self) -> bool:
        """Continue from the run folder's latest snapshot; False when there is none."""
        path = latest_snapshot(self.run_dir)
        if path is None:
            return False
        tensors, info = load_snapshot(path, self.snapshot_modules(), self.snapshot_optimizers(),
                                      optional=self.resizable_modules())
        self.restore(tensors, info)
        return True

    def export(self, path: str | Path) -> None:
        """The trained network as the checkpoint its loader reads."""
        self.write_network(path, {"step": self.step, **self.export_info(), "train_config": asdict(self.cfg)})

    def export_to_run(self) -> Path:
        """`export` to the run folder's `export_name`; returns the path."""
        path = self.run_dir / self.export_name
        self.export(path)
        return path

    # ------------------------------------------------------------------ the loop
    def train(self, steps: int, progress: bool = True) -> dict:
        """Run until `steps` total steps (counting resumed ones); returns the last logs."""
        return run_steps(self, steps, progress)

    def metrics_record(self, means: dict[str, float], now: float, seconds: float, steps: int) -> dict:
        """The metrics.jsonl line of a log interval of `steps` steps that took `seconds`."""
        return {"step": self.step, "sec_per_step": seconds / max(steps, 1), "time": now, **means}

    def progress_text(self, means: dict[str, float], seconds: float, steps: int) -> str:
        return f"{seconds / max(steps, 1):.2f} s/step {self.shown}={means[self.shown]:.4f}"

    def after_step(self) -> None:
        """Work due after a step and its log line, before a snapshot (e.g. sample images)."""
