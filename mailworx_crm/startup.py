"""What the web server needs before it serves a single page, checked when it starts.

In production static files are served from WhiteNoise's manifest (hashed names, long
caching). Without the manifest every page would answer 500 at its first ``{% static %}``
— so a missing one stops the start-up with a message instead (``wsgi.py``), and
``manage.py check --deploy`` reports it too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured


def static_manifest_problem() -> str | None:
    backend = settings.STORAGES["staticfiles"]["BACKEND"]
    if "Manifest" not in backend:
        return None
    manifest = Path(settings.STATIC_ROOT) / "staticfiles.json"
    if manifest.exists():
        return None
    return (f"The static files manifest {manifest} is missing: run "
            "`MWX_MODE=production python manage.py collectstatic --noinput` when building "
            "the image (the Dockerfile does), or set STATIC_ROOT to where it was built.")


def require_static_manifest() -> None:
    problem = static_manifest_problem()
    if problem:
        raise ImproperlyConfigured(problem)


@checks.register(checks.Tags.staticfiles, deploy=True)
def check_static_manifest(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    problem = static_manifest_problem()
    return [checks.Error(problem, id="mailworx.E001")] if problem else []
