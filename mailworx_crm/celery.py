"""The Celery app. Tasks live in each app's ``tasks.py``; they stay one or two lines."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailworx_crm.settings")

app = Celery("mailworx_crm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
