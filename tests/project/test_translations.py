"""Both UI catalogues are complete and up to date with the code (C16)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CATALOGUES = {lang: ROOT / "locale" / lang / "LC_MESSAGES" / "django.po" for lang in ("de", "en")}
SOURCES = ["manage.py", "mailworx_crm", "tenants", "audience", "orgsettings", "businessunits",
           "fieldmapping", "syncjobs", "crmevents", "api", "templates", "locale", "scripts"]


def msgids(po: Path) -> set[str]:
    text = po.read_text(encoding="utf-8")
    ids = set()
    for block in re.findall(r'^msgid ((?:".*"\n)+)', text, flags=re.M):
        value = "".join(re.findall(r'"(.*)"', block))
        if value:
            ids.add(value)
    return ids


@pytest.mark.parametrize("lang", ["de", "en"])
def test_catalogue_has_no_untranslated_or_fuzzy_entries(lang: str) -> None:
    if shutil.which("msgfmt") is None:
        pytest.skip("GNU gettext is not installed")
    result = subprocess.run(["msgfmt", "--check-format", "--statistics", "-o", "/dev/null",
                             str(CATALOGUES[lang])], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "untranslated" not in result.stderr and "fuzzy" not in result.stderr, result.stderr


def test_catalogues_contain_every_string_of_the_code(tmp_path: Path) -> None:
    if shutil.which("xgettext") is None:
        pytest.skip("GNU gettext is not installed")
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, tmp_path / name)
    subprocess.run([sys.executable, "scripts/update_messages.py"], cwd=tmp_path, check=True,
                   capture_output=True)
    fresh = msgids(tmp_path / "locale" / "de" / "LC_MESSAGES" / "django.po")
    for lang, po in CATALOGUES.items():
        missing = fresh - msgids(po)
        assert not missing, f"{lang}: run `make messages` and translate: {sorted(missing)[:10]}"
