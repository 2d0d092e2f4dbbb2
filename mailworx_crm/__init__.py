"""Project package: settings, URLs, Celery app, WSGI/ASGI entry points."""

from mailworx_crm.celery import app as celery_app

__all__ = ["celery_app"]
