"""Compile the .po catalogues to .mo (part of every install). Needs GNU gettext's msgfmt."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    catalogues = sorted((ROOT / "locale").glob("*/LC_MESSAGES/*.po"))
    if not catalogues:
        return 0
    msgfmt = shutil.which("msgfmt")
    if msgfmt is None:
        print("!! msgfmt (GNU gettext) not found: the UI falls back to English. "
              "Install the 'gettext' package to get German.", file=sys.stderr)
        return 0
    for po in catalogues:
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        subprocess.run([msgfmt, "--check-format", "-o", str(mo), str(po)], check=True)  # noqa: S603
    return 0


if __name__ == "__main__":
    sys.exit(main())
