from django.apps import AppConfig


class MailworxCrmConfig(AppConfig):
    """The project package as an app: its management commands and system checks."""

    name = "mailworx_crm"

    def ready(self) -> None:
        from mailworx_crm import startup  # noqa: F401  (registers the system checks)
