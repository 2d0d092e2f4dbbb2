"""Per-step figures of one worker for ``sync_bench.py``: wall seconds, CPU seconds and peak
RSS of each engine step (the change-tracking start inside push reported on its own).

The peak of a step: the kernel's high-water mark (``VmHWM``) is reset before the step
(writing ``5`` to ``/proc/self/clear_refs``) and read after it.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

FIGURES: list[dict[str, Any]] = []


def _vm(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def _measured(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        # Not Linux or not allowed: the figure is the process's peak so far.
        with contextlib.suppress(OSError):
            Path("/proc/self/clear_refs").write_text("5")
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            FIGURES.append({"step": name, "wall_seconds": round(time.perf_counter() - wall, 1),
                            "cpu_seconds": round(time.process_time() - cpu, 2),
                            "peak_rss_mb": round(_vm("VmHWM"))})
    return run


def install() -> None:
    """Wrap the engine's steps (call before the job runs)."""
    from syncjobs.engine import run
    from syncjobs.engine.steps import push

    original = run.steps_for

    def steps_for(*args: Any, **kwargs: Any) -> list[tuple[str, Callable[..., Any]]]:
        return [(name, _measured(name, fn)) for name, fn in original(*args, **kwargs)]

    run.steps_for = steps_for
    push.prime_change_tracking = _measured(
        "change-tracking start (in push)", push.prime_change_tracking)


def summary() -> str:
    return "; ".join(f"{f['step']} {f['wall_seconds']:.1f} s, {f['cpu_seconds']:.1f} CPU s, "
                     f"{f['peak_rss_mb']} MB"
                     for f in FIGURES)


def peak_mb() -> float:
    """The worker's peak: the high-water mark is reset per step, so the largest of them."""
    return max([_vm("VmHWM"), *(f["peak_rss_mb"] for f in FIGURES)])
