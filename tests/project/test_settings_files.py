"""Every setting can come from `<NAME>_FILE` (a file holding the value), as
`mailworx_crm/settings.py` promises: the settings are imported in a fresh process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = ROOT / "mailworx_crm" / "settings.py"
PRODUCTION_KEY = "$tarts-with-a-dollar-" + "k" * 50  # "$" must not be read as a reference


def _settings(tmp_path: Path, env: dict[str, str], **files: str) -> dict[str, Any]:
    """Import the settings with `env` and `<NAME>_FILE` variables for `files`; return the
    values the test looks at."""
    clean = {k: v for k, v in os.environ.items()
             if not k.endswith("_FILE") and k not in {"DATABASE_URL", "CELERY_BROKER_URL",
                                                      "SECRET_KEY", "FIELD_ENCRYPTION_KEYS",
                                                      "CONSENT_HASH_KEY",
                                                      "ALLOWED_HOSTS", "MWX_MODE"}}
    clean.pop("DJANGO_SETTINGS_MODULE", None)
    for name, content in files.items():
        path = tmp_path / name.lower()
        path.write_text(content, encoding="utf-8")
        clean[f"{name}_FILE"] = str(path)
    code = ("import json\n"
            "from mailworx_crm import settings as s\n"
            "db = s.DATABASES['default']\n"
            "print(json.dumps({'db': {k: db.get(k) for k in ('ENGINE', 'NAME', 'USER', 'HOST',"
            " 'PORT')}, 'broker': s.CELERY_BROKER_URL,"
            " 'broker_options': s.CELERY_BROKER_TRANSPORT_OPTIONS,"
            " 'secret_key': s.SECRET_KEY, 'fernet_keys': s.FIELD_ENCRYPTION_KEYS,"
            " 'consent_key': s.CONSENT_HASH_KEY,"
            " 'allowed_hosts': s.ALLOWED_HOSTS, 'production': s.PRODUCTION,"
            " 'timeout': s.CRM_READ_TIMEOUT}))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, text=True,
                            capture_output=True, timeout=60,
                            env={**clean, "MWX_VAR_DIR": str(tmp_path / "var"), **env})
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_database_url_from_a_file(tmp_path: Path) -> None:
    values = _settings(tmp_path, {},
                       DATABASE_URL="postgres://mailworx@db.internal:5433/mailworx_prod\n")
    assert values["db"] == {"ENGINE": "django.db.backends.postgresql",
                            "NAME": "mailworx_prod", "USER": "mailworx",
                            "HOST": "db.internal", "PORT": 5433}


def test_celery_broker_url_from_a_file(tmp_path: Path) -> None:
    values = _settings(tmp_path, {}, CELERY_BROKER_URL="redis://broker.internal:6379/3\n")
    assert values["broker"] == "redis://broker.internal:6379/3"
    assert values["broker_options"] == {}


def test_secrets_from_files_in_production(tmp_path: Path) -> None:
    keys = "bmV3LWtleS1uZXctdGVzdC1mZXJuZXQta2V5LTAxMjM=,b2xkLWtleQ=="
    values = _settings(tmp_path, {"MWX_MODE": "production", "ALLOWED_HOSTS": "x.example"},
                       SECRET_KEY=PRODUCTION_KEY + "\n", FIELD_ENCRYPTION_KEYS=keys + "\n",
                       CONSENT_HASH_KEY="consent-" + PRODUCTION_KEY + "\n")
    assert values["production"] is True
    assert values["secret_key"] == PRODUCTION_KEY
    assert values["fernet_keys"] == keys.split(",")
    assert values["consent_key"] == "consent-" + PRODUCTION_KEY


def test_a_file_wins_over_the_variable_and_any_setting_accepts_one(tmp_path: Path) -> None:
    values = _settings(tmp_path, {"ALLOWED_HOSTS": "plain.example"},
                       ALLOWED_HOSTS="a.example,b.example\n", CRM_READ_TIMEOUT=" 45.5\n")
    assert values["allowed_hosts"] == ["a.example", "b.example"]
    assert values["timeout"] == 45.5


def test_a_missing_file_stops_start_up(tmp_path: Path) -> None:
    code = "import mailworx_crm.settings"
    env = {**os.environ, "MWX_VAR_DIR": str(tmp_path / "var"),
           "DATABASE_URL_FILE": str(tmp_path / "missing")}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, text=True,
                            capture_output=True, timeout=60, env=env)
    assert result.returncode != 0 and "missing" in result.stderr


def test_settings_read_the_environment_only_through_the_file_aware_env() -> None:
    source = SETTINGS.read_text(encoding="utf-8")
    assert not re.search(r"os\.environ|os\.getenv|getenv\(", source)
    assert "environ.FileAwareEnv" in source
