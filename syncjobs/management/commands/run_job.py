"""Run one queued job in the foreground (operations; also how tests stage a worker crash)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from syncjobs import runner


class Command(BaseCommand):
    help = "Claim and run the queued job with the given id in this process."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("run_id", type=int)

    def handle(self, *args: Any, run_id: int, **options: Any) -> None:
        status = runner.execute(run_id)
        if status is None:
            self.stderr.write(f"job {run_id} is not queued (already claimed or finished)")
        else:
            self.stdout.write(f"job {run_id}: {status}")
