"""Run a worker command with the tests' job bodies registered:
``python -m tests.with_test_bodies manage.py run_job 7`` or
``python -m tests.with_test_bodies celery -A mailworx_crm worker …``.

The registry is filled before Django or Celery start, in this process, so the product
needs no setting or hook that exists only for its tests.
"""

from __future__ import annotations

import runpy
import sys

from syncjobs import job_bodies
from tests.syncjobs.body_names import TEST_BODIES


def main(argv: list[str]) -> None:
    job_bodies.BODIES.update(TEST_BODIES)
    command, *args = argv
    sys.argv = [command, *args]
    if command == "celery":
        runpy.run_module("celery", run_name="__main__", alter_sys=True)
    else:
        runpy.run_path(command, run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
