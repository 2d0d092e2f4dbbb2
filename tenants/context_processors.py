from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def tenant_nav(request: HttpRequest) -> dict[str, Any]:
    return {}
