"""`make messages`: extract UI strings into the German and English catalogues.

English is the source language, so its catalogue is filled with the msgids themselves
(msgen); German entries that are new arrive untranslated and the catalogue test fails
until someone translates them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IGNORE = [".venv/*", "dynamics/*", "dynamics_emulator/*", "bench/*", "tests/*", "scripts/*",
          "var/*", "docs/*"]


def main() -> int:
    cmd = [sys.executable, "manage.py", "makemessages", "-l", "de", "-l", "en", "--no-location"]
    for pattern in IGNORE:
        cmd += ["--ignore", pattern]
    subprocess.run(cmd, cwd=ROOT, check=True)
    en = ROOT / "locale" / "en" / "LC_MESSAGES" / "django.po"
    # gettext's fuzzy guesses from older strings are moot in the source language: empty
    # them, then msgen fills every empty msgstr with its msgid.
    subprocess.run(["msgattrib", "--clear-fuzzy", "--empty", "--clear-previous", str(en),
                    "-o", str(en)], check=True)
    subprocess.run(["msgen", str(en), "-o", str(en)], check=True)
    for po in (en, ROOT / "locale" / "de" / "LC_MESSAGES" / "django.po"):
        text = po.read_text(encoding="utf-8")
        # The header is not a translation; a fuzzy header makes msgfmt drop the charset.
        text = text.replace('#, fuzzy\nmsgid ""\nmsgstr ""\n', 'msgid ""\nmsgstr ""\n', 1)
        po.write_text(text, encoding="utf-8")
    return subprocess.call([sys.executable, "scripts/compile_messages.py"], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main())
