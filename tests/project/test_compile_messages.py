"""scripts/compile_messages.py: .po → .mo with polib, only when stale, atomically, and
refusing translations whose placeholders differ from the original's."""

from __future__ import annotations

import gettext
import importlib.util
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

import polib
import pytest

ROOT = Path(__file__).resolve().parents[2]
HEADER = {"Content-Type": "text/plain; charset=UTF-8",
          "Plural-Forms": "nplurals=2; plural=(n != 1);"}


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "compile_messages", ROOT / "scripts" / "compile_messages.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


compile_messages = _script()


def _catalogue(root: Path, *entries: polib.POEntry) -> Path:
    po_path = root / "locale" / "de" / "LC_MESSAGES" / "django.po"
    po_path.parent.mkdir(parents=True)
    po = polib.POFile()
    po.metadata = dict(HEADER)
    for entry in entries:
        po.append(entry)
    po.save(str(po_path))
    return po_path


def _read_mo(path: Path) -> gettext.GNUTranslations:
    with path.open("rb") as fh:
        return gettext.GNUTranslations(fh)


def test_it_compiles_translated_entries_and_leaves_fuzzy_ones_out(tmp_path: Path) -> None:
    _catalogue(tmp_path,
               polib.POEntry(msgid="Add member", msgstr="Mitglied hinzufügen"),
               polib.POEntry(msgid="Hello %(name)s", msgstr="Hallo %(name)s",
                             flags=["python-format"]),
               polib.POEntry(msgid="%(n)s run", msgid_plural="%(n)s runs",
                             msgstr_plural={0: "ein Lauf", 1: "%(n)s Läufe"},
                             flags=["python-format"]),
               polib.POEntry(msgid="Guess", msgstr="Vermutung", flags=["fuzzy"]))
    [mo] = compile_messages.compile_all(tmp_path)
    catalogue = _read_mo(mo)
    assert catalogue.gettext("Add member") == "Mitglied hinzufügen"
    assert catalogue.gettext("Hello %(name)s") == "Hallo %(name)s"
    assert catalogue.ngettext("%(n)s run", "%(n)s runs", 3) == "%(n)s Läufe"
    assert catalogue.gettext("Guess") == "Guess"
    assert stat.S_IMODE(mo.stat().st_mode) & 0o044 == 0o044  # readable by the app's user


def test_it_compiles_only_what_is_missing_or_older_than_its_po(tmp_path: Path) -> None:
    po = _catalogue(tmp_path, polib.POEntry(msgid="Yes", msgstr="Ja"))
    assert len(compile_messages.compile_all(tmp_path)) == 1
    assert compile_messages.compile_all(tmp_path) == []
    mo = po.with_suffix(".mo")
    os.utime(po, (mo.stat().st_mtime + 10, mo.stat().st_mtime + 10))
    assert compile_messages.compile_all(tmp_path) == [mo]


@pytest.mark.parametrize(("msgid", "msgstr", "flag"), [
    ("Hello %(name)s", "Hallo %(nmae)s", "python-format"),
    ("%s of %s", "%s", "python-format"),
    ("{count} runs", "{anzahl} Läufe", "python-brace-format"),
])
def test_it_refuses_placeholders_that_differ(tmp_path: Path, msgid: str, msgstr: str,
                                             flag: str) -> None:
    po = _catalogue(tmp_path, polib.POEntry(msgid=msgid, msgstr=msgstr, flags=[flag]))
    with pytest.raises(ValueError, match="placeholders differ"):
        compile_messages.compile_all(tmp_path)
    assert not po.with_suffix(".mo").exists()


def test_concurrent_compiles_leave_one_whole_catalogue(tmp_path: Path) -> None:
    po = _catalogue(tmp_path, *[polib.POEntry(msgid=f"Text {i}", msgstr=f"Text {i} de")
                                for i in range(500)])
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: compile_messages.compile_catalogue(po), range(8)))
    assert sorted(p.name for p in po.parent.iterdir()) == ["django.mo", "django.po"]
    assert _read_mo(po.with_suffix(".mo")).gettext("Text 499") == "Text 499 de"


def test_the_project_catalogues_compile_cleanly() -> None:
    for po in sorted((ROOT / "locale").glob("*/LC_MESSAGES/*.po")):
        assert compile_messages.format_errors(polib.pofile(str(po))) == [], po
        assert po.with_suffix(".mo").exists()  # tests/conftest.py compiled it
