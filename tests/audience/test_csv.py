"""CSV import into a group (upload → preview → confirm; all rows or none) and export."""

from __future__ import annotations

import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from audience import subscribers as svc
from audience.csv_io import import_csv, safe_cell
from audience.groups import create_group
from audience.models import GroupMembership, Subscriber, SubscriberGroup, SubscriberValue
from tenants.models import Tenant

pytestmark = pytest.mark.django_db

GOOD = "email;Vorname;last_name\nanna.schmidt@example.com;Anna;Schmidt\nben@example.com;Ben;\n"
BAD = "email;first_name\nanna.schmidt@example.com;Anna\nnot-an-address;Ben\nc@example.com;C\n"


@pytest.fixture
def group(tenant: Tenant) -> SubscriberGroup:
    return create_group(tenant, "Import")


def import_url(group: SubscriberGroup) -> str:
    return reverse("audience_data:group_import",
                   kwargs={"tenant": group.tenant.slug, "pk": group.pk})


def test_a_bad_row_imports_nothing_and_names_the_row(group: SubscriberGroup) -> None:
    report = import_csv(group, BAD, confirm=True)
    assert not report.imported
    assert [str(e) for e in report.errors] == [
        "Row 3: “not-an-address” is not a valid email address."]
    assert not Subscriber.objects.exists() and not GroupMembership.objects.exists()


def test_an_ambiguous_row_imports_nothing(tenant: Tenant, group: SubscriberGroup) -> None:
    svc.create_subscriber(tenant, {"email": "ben@example.com"})
    svc.create_subscriber(tenant, {"email": "ben@example.com"})
    report = import_csv(group, GOOD, confirm=True)
    assert [e.row for e in report.errors] == [3]
    assert Subscriber.objects.count() == 2 and not GroupMembership.objects.exists()


def test_upload_preview_confirm(owner_client: Client, group: SubscriberGroup) -> None:
    upload = SimpleUploadedFile("list.csv", GOOD.encode("utf-8-sig"), "text/csv")
    preview = owner_client.post(import_url(group), {"file": upload})
    assert preview.status_code == 200
    assert b"anna.schmidt@example.com" in preview.content
    assert b"Confirm import" in preview.content
    assert not Subscriber.objects.exists()  # a preview stores nothing

    done = owner_client.post(import_url(group), {"import_id": preview.context["pending"].pk})
    assert done.status_code == 302
    assert set(Subscriber.objects.filter(memberships__group=group)
               .values_list("email", flat=True)) == {"anna.schmidt@example.com",
                                                     "ben@example.com"}
    assert SubscriberValue.objects.get(field__key="first_name",
                                       subscriber__email="anna.schmidt@example.com").value == "Anna"


def test_view_with_a_bad_row_lists_it_and_imports_nothing(
    owner_client: Client, group: SubscriberGroup
) -> None:
    upload = SimpleUploadedFile("list.csv", BAD.encode(), "text/csv")
    preview = owner_client.post(import_url(group), {"file": upload})
    assert "Row 3" in preview.content.decode()
    assert b"Confirm import" not in preview.content
    assert preview.context["pending"] is None  # a file with errors is not kept
    # A forged confirm stores nothing either.
    response = owner_client.post(import_url(group), {"import_id": str(uuid.uuid4())})
    assert response.status_code == 302
    assert not Subscriber.objects.exists()


def test_export_streams_the_group(owner_client: Client, tenant: Tenant,
                                  group: SubscriberGroup) -> None:
    import_csv(group, GOOD, confirm=True)
    svc.create_subscriber(tenant, {"email": "outside@example.com"})
    response = owner_client.get(reverse("audience_data:group_export",
                                        kwargs={"tenant": tenant.slug, "pk": group.pk}))
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    lines = text.strip().splitlines()
    assert lines[0].startswith("id,status,consent,consent_changed_at,email,first_name,last_name")
    assert len(lines) == 3 and "outside@" not in text
    assert "anna.schmidt@example.com,Anna,Schmidt" in text


@pytest.mark.parametrize(("data", "encoding"), [
    ("email;Vorname;last_name\r\nmüller@example.com;Jürgen;Müller\r\n".encode("utf-16"),
     "UTF-16"),
    ("email\tVorname\tlast_name\r\nmüller@example.com\tJürgen\tMüller\r\n".encode("utf-16"),
     "UTF-16"),
    ("email;Vorname;last_name\r\nmüller@example.com;Jürgen;Müller\r\n".encode("utf-16-le"),
     "UTF-16"),  # no byte order mark
    ("email;Vorname;last_name\nmüller@example.com;Jürgen;Müller\n".encode("cp1252"),
     "Windows-1252"),
    ("email;Vorname;last_name\nmüller@example.com;Jürgen;Müller\n".encode("utf-8-sig"),
     "UTF-8"),
    ("email;Vorname;last_name\nmüller@example.com;Jürgen;Müller\n".encode(), "UTF-8"),
])
def test_the_import_detects_the_encoding_and_says_which_it_used(
        owner_client: Client, group: SubscriberGroup, data: bytes, encoding: str) -> None:
    upload = SimpleUploadedFile("excel.csv", data, content_type="text/csv")
    response = owner_client.post(import_url(group), {"file": upload})
    text = response.content.decode()
    assert response.status_code == 200
    assert f"The file was read as {encoding}." in text
    assert "Unknown column" not in text and "ÿþ" not in text
    assert "Jürgen" in text and "Müller" in text


def test_every_export_neutralises_cells_that_would_start_a_formula(
        owner_client: Client, tenant: Tenant, group: SubscriberGroup) -> None:
    hostile = {"=HYPERLINK(\"http://x\",\"y\")": "formula", "+cmd|' /C calc'!A0": "plus",
               "-2+3": "minus", "@SUM(A1:A2)": "at"}
    for n, value in enumerate(hostile):
        sub = svc.create_subscriber(tenant, {"email": f"x{n}@example.com", "first_name": value})
        GroupMembership.objects.create(group=group, subscriber=sub)
    for name, kwargs in (("subscribers_export", {"tenant": tenant.slug}),
                         ("group_export", {"tenant": tenant.slug, "pk": group.pk})):
        response = owner_client.get(reverse(f"audience_data:{name}", kwargs=kwargs))
        text = b"".join(response.streaming_content).decode("utf-8-sig")
        import csv
        import io
        cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
        for value in hostile:
            assert value not in cells, (name, value)
            assert "'" + value in cells, (name, value)
    # Leading tab and carriage return (values are stripped on input, so only here).
    assert [safe_cell(v) for v in ("\tx", "\rx", "plain", -3, 2.5)] == [
        "'\tx", "'\rx", "plain", -3, 2.5]


@pytest.mark.parametrize("data", [
    b"\xff\xfe" + "email\r\nx@y.de\r\n".encode("utf-16-le") + b"\x00",  # odd length
    b"\xef\xbb\xbf" + b"email\n\xff\xfe\xfa@y.de\n",
    b"\xff\xfe" + b"\x00\xd8a\x00",  # a lone surrogate
    b"email;first_name\nnul@example.org;Ann\x00a\n",
])
def test_a_file_whose_bytes_contradict_its_mark_or_hold_nul_is_no_server_error(
        owner_client: Client, group: SubscriberGroup, data: bytes) -> None:
    response = owner_client.post(import_url(group), {"file": SimpleUploadedFile("x.csv", data)})
    assert response.status_code == 200
    assert "The file was read as" in response.content.decode()
