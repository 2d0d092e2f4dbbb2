"""Consent through the UI (N6, docs/consent.md): a CSV import keeps the original consent
date and source, leaves suppressed addresses out and says how many; the subscriber page
shows the history; the export carries the permission and its date."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from audience import subscribers as svc
from audience.consent import history, suppress
from audience.groups import create_group
from audience.models import (
    ConsentSource,
    ConsentState,
    Subscriber,
    SubscriberGroup,
    SuppressionReason,
)
from audience.services import FieldError, create_field
from tenants.models import Tenant

pytestmark = pytest.mark.django_db

FILE = (
    "email;first_name;consent;consent_date;consent_source\n"
    "lena@example.com;Lena;double_opt_in;2025-04-01T08:15:00+00:00;Newsletter form\n"
    "out@example.com;Olga;Eingewilligt (Single-Opt-in);2024-01-01;Old list\n"
    "gone@example.com;Gerd;;;\n"
    "plain@example.com;Paul;;;\n"
)


@pytest.fixture
def group(tenant: Tenant) -> SubscriberGroup:
    return create_group(tenant, "Import")


def import_url(group: SubscriberGroup) -> str:
    return reverse(
        "audience_data:group_import", kwargs={"tenant": group.tenant.slug, "pk": group.pk}
    )


def test_an_import_keeps_original_consent_and_leaves_suppressed_addresses_out(
    owner_client: Client, tenant: Tenant, group: SubscriberGroup
) -> None:
    svc.unsubscribe(svc.create_subscriber(tenant, {"email": "out@example.com"}))
    suppress(tenant, "gone@example.com", SuppressionReason.ERASED)
    upload = SimpleUploadedFile("list.csv", FILE.encode(), "text/csv")
    preview = owner_client.post(import_url(group), {"file": upload})
    assert preview.status_code == 200
    assert "1 suppressed address not re-added" in preview.content.decode()
    assert not Subscriber.objects.filter(email_normalised="lena@example.com").exists()

    done = owner_client.post(
        import_url(group), {"import_id": preview.context["pending"].pk}, follow=True
    )
    page = done.content.decode()
    assert "4 rows imported" in page and "1 suppressed address not re-added" in page
    assert not Subscriber.objects.filter(email_normalised="gone@example.com").exists()
    out = Subscriber.objects.get(email_normalised="out@example.com")
    assert out.consent == ConsentState.OPTED_OUT  # the file's old opt-in changes nothing
    lena = Subscriber.objects.get(email_normalised="lena@example.com")
    entry = history(lena).get()
    assert (lena.consent, entry.source, entry.occurred_at.isoformat()) == (
        ConsentState.DOUBLE_OPT_IN,
        ConsentSource.IMPORT,
        "2025-04-01T08:15:00+00:00",
    )
    assert entry.detail["original_source"] == "Newsletter form"
    assert entry.user is not None and entry.user.email == "owner@acme.example"
    plain = Subscriber.objects.get(email_normalised="plain@example.com")
    assert plain.consent == ConsentState.UNKNOWN

    detail = owner_client.get(
        reverse("audience_data:subscriber", kwargs={"tenant": tenant.slug, "pk": lena.pk})
    ).content.decode()
    assert "Consent history" in detail and "Newsletter form" in detail
    assert 'data-source="import"' in detail

    export = owner_client.get(
        reverse("audience_data:subscribers_export", kwargs={"tenant": tenant.slug})
    )
    lines = b"".join(export.streaming_content).decode("utf-8-sig").splitlines()
    assert lines[0].startswith("id,status,consent,consent_changed_at,email")
    row = next(line for line in lines if "lena@example.com" in line)
    assert ",active,double_opt_in,2025-04-01T08:15:00+00:00," in row


def test_a_consent_value_the_import_does_not_understand_is_a_row_error_in_german(
    owner_client: Client, group: SubscriberGroup
) -> None:
    text = "email;consent\nx@example.com;vielleicht\n"
    upload = SimpleUploadedFile("list.csv", text.encode(), "text/csv")
    preview = owner_client.post(import_url(group), {"file": upload}, HTTP_ACCEPT_LANGUAGE="de")
    assert "„vielleicht“ ist keine Einwilligung" in preview.content.decode()
    assert preview.context["pending"] is None and not Subscriber.objects.exists()


def test_the_consent_columns_are_reserved_names(tenant: Tenant) -> None:
    with pytest.raises(FieldError, match="reserved"):
        create_field(tenant, key="consent_date", label_en="C", label_de="C", field_type="date")


def test_the_subscriber_page_is_tenant_scoped(outsider_client: Client, tenant: Tenant) -> None:
    sub = svc.create_subscriber(tenant, {"email": "anna@example.com"})
    response = outsider_client.get(
        reverse("audience_data:subscriber", kwargs={"tenant": tenant.slug, "pk": sub.pk})
    )
    assert response.status_code == 404
