"""Deployment artefacts: docker-compose parses and is complete; production settings pass
`manage.py check --deploy`; production refuses to start without its secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PROD_ENV = {
    "MWX_MODE": "production",
    "SECRET_KEY": "x" * 60 + "-production-test-key-with-enough-entropy-!@#",
    "FIELD_ENCRYPTION_KEYS": "ZGVtby1vbmx5LWZlcm5ldC1rZXktMDEyMzQ1Njc4OTA=",
    "ALLOWED_HOSTS": "mailworx.example",
    "DATABASE_URL": "sqlite:///:memory:",
}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.endswith("_FILE") and k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, text=True,
                          capture_output=True, env={**clean, **env}, timeout=120)


def test_compose_file_declares_the_stack() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(services)
    assert "celery" in services["worker"]["command"]
    assert "beat" in services["beat"]["command"]
    assert services["web"]["environment"]["MWX_MODE"] == "production"
    for name in compose["secrets"]:
        assert name in services["web"]["secrets"]


def test_check_deploy_is_clean_with_production_settings() -> None:
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PROD_ENV)
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_to_start_without_secret_key() -> None:
    env = {k: v for k, v in PROD_ENV.items() if k != "SECRET_KEY"}
    result = _manage("check", env={**env, "SECRET_KEY": ""})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_secret_can_come_from_a_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "key"
    secret_file.write_text(PROD_ENV["SECRET_KEY"] + "\n")
    env = {k: v for k, v in PROD_ENV.items() if k != "SECRET_KEY"}
    env["SECRET_KEY_FILE"] = str(secret_file)
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
