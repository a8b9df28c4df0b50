"""The step loop shared by the encoder and parser trainers: progress bar, metrics
lines, periodic and final snapshots."""
from __future__ import annotations

import json
import time
from pathlib import Path


def log_line(path: Path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


class IntervalMeans:
    """Means of each log entry over the steps since the last `flush()`, each over the
    steps that computed it (terms due every n-th step, such as R1 or the encoders'
    reconstruction losses, reach the log whatever n and the log interval are)."""

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, logs: dict[str, float]) -> None:
        for name, value in logs.items():
            self.sums[name] = self.sums.get(name, 0.0) + value
            self.counts[name] = self.counts.get(name, 0) + 1

    def flush(self) -> dict[str, float]:
        means = {name: self.sums[name] / self.counts[name] for name in self.sums}
        self.sums, self.counts = {}, {}
        return means


def run_steps(trainer, steps: int, progress: bool, desc: str, shown: str) -> dict:
    """Call `trainer.train_step()` until `trainer.step == steps` (counting resumed steps).

    The trainer provides `step`, `cfg.log_every`, `cfg.snapshot_every`, `metrics_path`,
    `train_step() -> logs` and `save()`; `shown` names the log entry on the progress bar.
    A metrics line holds each entry's mean since the previous line (IntervalMeans).
    Returns the last step's logs."""
    from tqdm import tqdm
    cfg = trainer.cfg
    bar = tqdm(total=steps, initial=trainer.step, disable=not progress, dynamic_ncols=True, desc=desc)
    logs, t_last, s_last = {}, time.time(), trainer.step
    means = IntervalMeans()
    while trainer.step < steps:
        logs = trainer.train_step()
        means.add(logs)
        bar.update(1)
        if trainer.step % cfg.log_every == 0 or trainer.step == steps:
            now = time.time()
            sec = (now - t_last) / max(trainer.step - s_last, 1)
            record = means.flush()
            log_line(trainer.metrics_path, {"step": trainer.step, "sec_per_step": sec, "time": now, **record})
            bar.set_postfix_str(f"{sec:.2f} s/step {shown}={record[shown]:.4f}")
            t_last, s_last = now, trainer.step
        if cfg.snapshot_every and trainer.step % cfg.snapshot_every == 0:
            trainer.save()
    bar.close()
    if not cfg.snapshot_every or trainer.step % cfg.snapshot_every != 0:
        trainer.save()
    return logs
