"""The alert email: to each active administrator of the tenant, in their language, with
links to the tenant's pages (``PUBLIC_BASE_URL``: there is no request to build them from)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from mailworx_crm.texts import render
from syncjobs.models import Incident
from tenants.language import languages_of
from tenants.models import Role, Tenant


def recipients(tenant: Tenant) -> list[tuple[Any, str]]:
    """``(user, language)`` of every active administrator with an email address."""
    users = list(
        get_user_model()
        .objects.filter(
            memberships__tenant=tenant,
            memberships__role=Role.ADMINISTRATOR,
            is_active=True,
        )
        .exclude(email="")
        .order_by("pk")
    )
    languages = languages_of(u.pk for u in users)
    return [(u, languages[u.pk]) for u in users]


def absolute(path: str) -> str:
    return str(settings.PUBLIC_BASE_URL).rstrip("/") + path


def message(incident: Incident, user: Any, language: str) -> EmailMessage:
    slug = incident.tenant.slug
    with translation.override(language):
        context = {
            "tenant": incident.tenant.name,
            "kind": incident.get_kind_display(),
            "detail": render(incident.detail),
            "opened_at": incident.opened_at,
            "page_url": absolute(incident.get_absolute_url()),
            "incidents_url": absolute(reverse("syncjobs:incidents", args=[slug])),
        }
        subject = " ".join(
            render_to_string("syncjobs/alerts/incident_subject.txt", context).split()
        )
        body = render_to_string("syncjobs/alerts/incident_email.txt", context)
    return EmailMessage(subject, body, to=[user.email])


def send(incident: Incident, user: Any, language: str) -> None:
    message(incident, user, language).send()
