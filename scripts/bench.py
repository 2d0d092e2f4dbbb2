"""`make bench`: run every benchmark under bench/ in turn; each prints its own figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    scripts = sorted((ROOT / "bench").glob("*_bench.py"))
    wanted = [s for s in scripts if not argv or any(a in s.name for a in argv)]
    if not wanted:
        print("no benchmarks found under bench/")
        return 0
    worst = 0
    for script in wanted:
        print(f"\n===== {script.name} =====", flush=True)
        worst = max(worst, subprocess.call([sys.executable, str(script)], cwd=ROOT))
    return worst


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
