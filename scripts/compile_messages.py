"""Compile the .po catalogues to .mo with polib (pure Python; no GNU gettext needed).

Runs on every install (`make install`) and at the start of every test session
(`tests/conftest.py`). A catalogue is compiled only when its .mo is missing or older than
the .po. Several processes may run this at once: each writes a temporary file next to
the .mo and renames it into place, so a reader never sees a half-written catalogue.
Like `msgfmt --check-format`, it refuses a translation whose Python placeholders differ
from the original's (it would fail at run time); fuzzy entries are left out.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent

# %(name)s, %s, %5.2f …; `%%` is a literal percent sign.
_PERCENT = re.compile(r"%(?:\((?P<name>[^)]*)\))?[#0 +-]*(?:\d+|\*)?(?:\.(?:\d+|\*))?"
                      r"(?P<type>[diouxXeEfFgGcrsa%])")
_BRACE = re.compile(r"(?<!\{)\{(?P<name>[^{}!:]*)(?:![rsa])?(?::[^{}]*)?\}(?!\})")


def _placeholders(text: str, flags: list[str]) -> Counter[str]:
    found: Counter[str] = Counter()
    if "python-format" in flags:
        for m in _PERCENT.finditer(text):
            if m.group("type") != "%":
                found[f"%({m.group('name')})" if m.group("name") is not None else "%"] += 1
    if "python-brace-format" in flags:
        found.update("{" + m.group("name") + "}" for m in _BRACE.finditer(text))
    return found


def format_errors(catalogue: polib.POFile) -> list[str]:
    """Translations whose placeholders do not match the original's."""
    errors = []
    for entry in catalogue.translated_entries():
        if entry.msgid_plural:
            # A plural form may leave out the number (e.g. "one item"), but must not
            # use a placeholder the original does not have.
            known = _placeholders(entry.msgid, entry.flags) | _placeholders(
                entry.msgid_plural, entry.flags)
            for text in entry.msgstr_plural.values():
                unknown = set(_placeholders(text, entry.flags)) - set(known)
                if unknown:
                    errors.append(f"{entry.msgid!r}: unknown {sorted(unknown)}")
        elif _placeholders(entry.msgstr, entry.flags) != _placeholders(entry.msgid, entry.flags):
            errors.append(f"{entry.msgid!r}: placeholders differ in {entry.msgstr!r}")
    return errors


def compile_catalogue(po: Path) -> Path:
    catalogue = polib.pofile(str(po))
    errors = format_errors(catalogue)
    if errors:
        raise ValueError(f"{po}: " + "; ".join(errors))
    mo = po.with_suffix(".mo")
    fd, tmp = tempfile.mkstemp(dir=mo.parent, prefix=f".{mo.name}.", suffix=".tmp")
    os.close(fd)
    try:
        catalogue.save_as_mofile(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; every user of the app reads it
        os.replace(tmp, mo)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return mo


def stale_catalogues(root: Path = ROOT) -> list[Path]:
    """The .po files whose .mo is missing or older than they are."""
    stale = []
    for po in sorted((root / "locale").glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            stale.append(po)
    return stale


def compile_all(root: Path = ROOT) -> list[Path]:
    """Compile what is stale; return the .mo files written."""
    return [compile_catalogue(po) for po in stale_catalogues(root)]


def main() -> int:
    try:
        compile_all()
    except ValueError as exc:
        print(f"!! {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
