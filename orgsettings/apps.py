from typing import Any

from django.apps import AppConfig
from django.core import checks


class OrgsettingsConfig(AppConfig):
    name = "orgsettings"

    def ready(self) -> None:
        checks.register(outbound_settings_check)


def outbound_settings_check(**kwargs: Any) -> list[checks.CheckMessage]:
    """``manage.py check`` (and every server start) names a bad SPEC N8 setting."""
    from django.core.exceptions import ImproperlyConfigured

    from dynamics import Connection
    from orgsettings.destinations import outbound_policy, proxy

    errors: list[checks.CheckMessage] = []
    try:
        outbound_policy()
    except ImproperlyConfigured as exc:
        errors.append(checks.Error(str(exc), id="orgsettings.E001"))
    try:
        Connection("https://crm.example/api/data/v9.2/", proxy=proxy())
    except ValueError as exc:
        errors.append(checks.Error(f"CRM_HTTPS_PROXY: {exc}", id="orgsettings.E002"))
    return errors
