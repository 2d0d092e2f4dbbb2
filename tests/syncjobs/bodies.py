"""Job bodies used only by the tests (named in ``tests.syncjobs.body_names``)."""

from __future__ import annotations

import time
from typing import Any

from syncjobs.runner import JobContext


class ReadableError(Exception):
    explanation = "The CRM refused the request: the user lacks the privilege prvReadContact."


def succeed(ctx: JobContext) -> dict[str, Any]:
    ctx.log("step one done")
    ctx.count("records", 3)
    ctx.progress(1, 2, "halfway")
    ctx.set_result(steps=["one"])
    ctx.progress(2, 2, "done")
    return {"answer": 42}


def fail_readably(ctx: JobContext) -> None:
    raise ReadableError("privilege")


def crash(ctx: JobContext) -> None:
    raise ZeroDivisionError("internal detail that must not reach the UI")


def sleep_on_first_attempt(ctx: JobContext) -> dict[str, Any]:
    """First attempt blocks (so a test can kill its process); later attempts finish."""
    if ctx.attempt == 1:
        ctx.progress(1, 2, "sleeping")
        time.sleep(120)
    return {"finished_on_attempt": ctx.attempt}


def sleep_briefly(ctx: JobContext) -> dict[str, Any]:
    time.sleep(float(ctx.params.get("seconds", 1)))
    return {}


def wait_for_cancel(ctx: JobContext) -> None:
    for i in range(200):
        ctx.progress(i, 200)
        time.sleep(0.05)
