"""Deployment artefacts: docker-compose parses and is complete; production settings pass
`manage.py check --deploy`; production refuses to start without its secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROD_ENV = {
    "MWX_MODE": "production",
    "SECRET_KEY": "x" * 60 + "-production-test-key-with-enough-entropy-!@#",
    "FIELD_ENCRYPTION_KEYS": "ZGVtby1vbmx5LWZlcm5ldC1rZXktMDEyMzQ1Njc4OTA=",
    "CONSENT_HASH_KEY": "production-test-consent-hash-key-" + "c" * 40,
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
    for name in ("postgres", "redis", "web", "worker", "beat"):
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no health check"


def test_compose_runs_two_workers_a_result_backend_and_beat_after_migrating() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert services["worker"]["deploy"]["replicas"] >= 2
    assert "--pool=prefork" in services["worker"]["command"]
    env = services["worker"]["environment"]
    assert env["CELERY_RESULT_BACKEND"].startswith("redis://")
    assert env["CELERY_RESULT_BACKEND"] != env["CELERY_BROKER_URL"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "mailworx_crm", "beat"]
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"}
    assert "--appendonly" in services["redis"]["command"]
    # The same request timeout as the image's own command (Dockerfile CMD).
    web = services["web"]["command"]
    assert web[web.index("--timeout") + 1] == "60"


@pytest.fixture(scope="module")
def built_static(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Static files collected in production mode, as the image builds them."""
    root = tmp_path_factory.mktemp("static")
    result = _manage("collectstatic", "--noinput", env={**PROD_ENV, "STATIC_ROOT": str(root)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert (root / "staticfiles.json").exists()
    return root


def test_check_deploy_is_clean_with_production_settings(built_static: Path) -> None:
    result = _manage("check", "--deploy", "--fail-level", "WARNING",
                     env={**PROD_ENV, "STATIC_ROOT": str(built_static)})
    assert result.returncode == 0, result.stdout + result.stderr


def _start_web(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Load the WSGI application as gunicorn does at start-up."""
    clean = {k: v for k, v in os.environ.items() if not k.endswith("_FILE")}
    return subprocess.run([sys.executable, "-c", "import mailworx_crm.wsgi"], cwd=ROOT,
                          text=True, capture_output=True, env={**clean, **env}, timeout=120)


def test_production_without_a_static_manifest_refuses_to_start(
        tmp_path: Path, built_static: Path) -> None:
    missing = _start_web({**PROD_ENV, "STATIC_ROOT": str(tmp_path)})
    assert missing.returncode != 0
    assert "static files manifest" in missing.stderr and "collectstatic" in missing.stderr
    check = _manage("check", "--deploy", env={**PROD_ENV, "STATIC_ROOT": str(tmp_path)})
    assert check.returncode != 0 and "mailworx.E001" in check.stdout + check.stderr
    built = _start_web({**PROD_ENV, "STATIC_ROOT": str(built_static)})
    assert built.returncode == 0, built.stderr


def test_the_image_builds_the_manifest_in_production_mode() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "MWX_MODE=production" in dockerfile and "collectstatic" in dockerfile
    assert "MWX_MODE=demo python manage.py collectstatic" not in dockerfile
    assert "STATIC_ROOT=/app/staticfiles" in dockerfile


def test_production_refuses_to_start_without_secret_key() -> None:
    env = {k: v for k, v in PROD_ENV.items() if k != "SECRET_KEY"}
    result = _manage("check", env={**env, "SECRET_KEY": ""})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_to_start_without_the_consent_hash_key() -> None:
    # The suppression list's hashes depend on it (docs/consent.md): no silent default.
    result = _manage("check", env={**PROD_ENV, "CONSENT_HASH_KEY": ""})
    assert result.returncode != 0
    assert "CONSENT_HASH_KEY" in result.stderr


def test_secret_can_come_from_a_file(tmp_path: Path, built_static: Path) -> None:
    secret_file = tmp_path / "key"
    secret_file.write_text(PROD_ENV["SECRET_KEY"] + "\n")
    env = {k: v for k, v in PROD_ENV.items() if k != "SECRET_KEY"}
    env["SECRET_KEY_FILE"] = str(secret_file)
    env["STATIC_ROOT"] = str(built_static)
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.django_db
def test_healthz_answers_without_a_login() -> None:
    from django.test import Client

    response = Client().get("/healthz")
    assert response.status_code == 200 and response.content == b"ok"


def test_production_renders_the_api_as_json_only(built_static: Path) -> None:
    code = ("from django.conf import settings; "
            "print(settings.REST_FRAMEWORK['DEFAULT_RENDERER_CLASSES'])")
    clean = {k: v for k, v in os.environ.items() if not k.endswith("_FILE")}
    result = subprocess.run(
        [sys.executable, "-c", "import django, os; os.environ.setdefault("
         "'DJANGO_SETTINGS_MODULE', 'mailworx_crm.settings'); django.setup(); " + code],
        cwd=ROOT, text=True, capture_output=True, timeout=120,
        env={**clean, **PROD_ENV, "STATIC_ROOT": str(built_static)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['rest_framework.renderers.JSONRenderer']"
