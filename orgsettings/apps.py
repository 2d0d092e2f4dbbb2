from typing import Any

from django.apps import AppConfig
from django.core import checks


class OrgsettingsConfig(AppConfig):
    name = "orgsettings"

    def ready(self) -> None:
        checks.register(outbound_settings_check)


def outbound_settings_check(**kwargs: Any) -> list[checks.CheckMessage]:
    """``manage.py check`` (and every server start) names a bad SPEC N8 setting."""
    from dynamics import Connection
    from orgsettings.destinations import connection_options

    try:
        Connection("https://crm.example/api/data/v9.2/", **connection_options())
    except Exception as exc:  # ImproperlyConfigured or the proxy's ValueError
        return [checks.Error(f"CRM_ALLOWED_NETWORKS / CRM_HTTPS_PROXY: {exc}",
                             id="orgsettings.E001")]
    return []
