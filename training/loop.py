"""The step loop shared by the generator, encoder and parser trainers: progress bar,
metrics lines, periodic and final snapshots."""
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


def run_steps(trainer, steps: int, progress: bool) -> dict:
    """Call `trainer.train_step()` until `trainer.step == steps` (counting resumed steps).

    The trainer is a `training.run.RunTrainer`: `step`, `cfg.log_every`,
    `cfg.snapshot_every`, `metrics_path`, `is_main`, `desc`, `train_step() -> logs`,
    `metrics_record(means, now, seconds, steps)`, `progress_text(...)`, `after_step()`
    and `save()`. A metrics line holds each entry's mean since the previous line
    (IntervalMeans); only the main process writes lines. A snapshot is saved every
    `snapshot_every` steps (0: none on the way) and always at the end.
    Returns the last step's logs."""
    from tqdm import tqdm
    cfg = trainer.cfg
    bar = tqdm(total=steps, initial=trainer.step, disable=not (progress and trainer.is_main),
               dynamic_ncols=True, desc=trainer.desc)
    logs, t_last, s_last = {}, time.time(), trainer.step
    means = IntervalMeans()
    while trainer.step < steps:
        logs = trainer.train_step()
        means.add(logs)
        bar.update(1)
        if trainer.step % cfg.log_every == 0 or trainer.step == steps:
            now = time.time()
            record, seconds, done = means.flush(), now - t_last, trainer.step - s_last
            if trainer.is_main:
                log_line(trainer.metrics_path, trainer.metrics_record(record, now, seconds, done))
            bar.set_postfix_str(trainer.progress_text(record, seconds, done))
            t_last, s_last = now, trainer.step
        trainer.after_step()
        if cfg.snapshot_every and trainer.step % cfg.snapshot_every == 0:
            trainer.save()
    bar.close()
    if not cfg.snapshot_every or trainer.step % cfg.snapshot_every != 0:
        trainer.save()
    return logs
