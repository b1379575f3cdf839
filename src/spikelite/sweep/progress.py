"""Live progress of a sweep's running points: which points train, epoch k/n of each and
an estimate of the time left, read from the ``progress.json`` every training run writes
in its folder (``points/<key>/``), so it sees worker processes too.

On a terminal each running point gets a line in the sweep's rich progress display; on a
log (not a terminal) each new epoch is one printed line instead.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.progress import Progress

from spikelite.sweep.point import point_folder
from spikelite.train.metrics import PROGRESS


def read_progress(run_dir: Path, key: str) -> dict[str, Any] | None:
    """The point's latest ``progress.json`` (``None`` before its first epoch)."""
    try:
        data = json.loads((point_folder(run_dir, key) / PROGRESS).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def describe(info: dict[str, Any]) -> tuple[str, float]:
    """``"stage s, epoch k/n"`` and the stage's seconds left (mean epoch × epochs left)."""
    k, n = int(info.get("epoch", 0)), int(info.get("epochs", 0))
    left = max(n - k, 0) * float(info.get("epoch_seconds", 0.0))
    stage = int(info.get("stage", 1))
    return (f"stage {stage}, " if stage > 1 else "") + f"epoch {k}/{n}", left


class PointWatcher:
    """Polls the running points (``running()`` → their keys) every ``every`` seconds."""

    def __init__(self, run_dir: Path, names: dict[str, str], bar: Progress,
                 running: Callable[[], list[str]], *, every: float = 1.0) -> None:
        self.run_dir, self.names, self.bar, self.running = run_dir, names, bar, running
        self.every = every
        self.tasks: dict[str, Any] = {}
        self.seen: dict[str, str] = {}
        self.live = bar.console.is_terminal and not bar.disable
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name="spikelite-sweep-progress")

    def __enter__(self) -> PointWatcher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        for task in self.tasks.values():
            self.bar.remove_task(task)

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.poll()
            except Exception:  # a display problem never stops the sweep
                continue

    def poll(self) -> None:
        keys = set(self.running())
        for key in list(self.tasks):
            if key not in keys:
                self.bar.remove_task(self.tasks.pop(key))
        for key in sorted(keys):
            info = read_progress(self.run_dir, key)
            if info is None:
                continue
            text, left = describe(info)
            line = f"{text}, ~{left:.0f} s left in the stage"
            if self.live:
                n = int(info.get("epochs", 0)) or None
                if key not in self.tasks:
                    self.tasks[key] = self.bar.add_task(f"  {self.names.get(key, key)}",
                                                        total=n)
                self.bar.update(self.tasks[key], completed=int(info.get("epoch", 0)),
                                total=n)
            elif self.seen.get(key) != text:
                self.bar.console.print(f"  {self.names.get(key, key)}: {line}",
                                       highlight=False)
            self.seen[key] = text
