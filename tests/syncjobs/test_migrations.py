"""Data migrations carry existing rows."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

# audience before consent tracking: the rows below are made with the stored status.
BEFORE = [("syncjobs", "0006_sync_issue_entity_type_length"),
          ("audience", "0006_pending_csv_import")]
AFTER = [("syncjobs", "0007_record_link_bulk_email_blocked_one_origin"),
         ("audience", "0006_pending_csv_import")]


def _migrate(targets: list[tuple[str, str]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return MigrationExecutor(connection)


@pytest.mark.django_db(transaction=True)
def test_the_bulk_email_marker_becomes_a_field_and_back() -> None:
    old = _migrate(BEFORE).loader.project_state(BEFORE).apps
    tenant = old.get_model("tenants", "Tenant").objects.create(name="M", slug="m")
    subscribers = old.get_model("audience", "Subscriber")
    link_model = old.get_model("syncjobs", "RecordLink")
    flagged, plain = (subscribers.objects.create(
        tenant=tenant, email=f"{n}@example.org", email_normalised=f"{n}@example.org", language="de")
        for n in ("flagged", "plain"))
    link_model.objects.create(tenant=tenant, subscriber=flagged, entity_type="contact",
                              crm_id=uuid.uuid4(),
                              synced_values={"first_name": "Ann", "@donotbulkemail": True})
    link_model.objects.create(tenant=tenant, subscriber=plain, entity_type="contact",
                              crm_id=uuid.uuid4(), synced_values={"first_name": "Bo"})

    new = _migrate(AFTER).loader.project_state(AFTER).apps
    rows = {link.subscriber_id: link for link in new.get_model("syncjobs", "RecordLink")
            .objects.all()}
    assert rows[flagged.pk].bulk_email_blocked is True
    assert rows[flagged.pk].synced_values == {"first_name": "Ann"}
    assert rows[plain.pk].bulk_email_blocked is False
    assert rows[plain.pk].synced_values == {"first_name": "Bo"}

    back = _migrate(BEFORE).loader.project_state(BEFORE).apps
    values = {link.subscriber_id: link.synced_values
              for link in back.get_model("syncjobs", "RecordLink").objects.all()}
    assert values[flagged.pk] == {"first_name": "Ann", "@donotbulkemail": True}
    assert values[plain.pk] == {"first_name": "Bo"}
    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())  # back to today


@pytest.mark.django_db(transaction=True)
def test_the_email_key_of_an_internationalised_domain_is_recomputed() -> None:
    before = [("audience", "0004_campaign_takeover")]
    after = [("audience", "0005_email_key_idn_unicode")]
    old = _migrate(before).loader.project_state(before).apps
    tenant = old.get_model("tenants", "Tenant").objects.create(name="I", slug="i")
    subscribers = old.get_model("audience", "Subscriber")
    idn = subscribers.objects.create(tenant=tenant, email="Anna@xn--bcher-kva.example",
                                     email_normalised="anna@xn--bcher-kva.example",
                                     language="de")
    plain = subscribers.objects.create(tenant=tenant, email="Ben@Example.org",
                                       email_normalised="ben@example.org", language="de")
    new = _migrate(after).loader.project_state(after).apps
    keys = dict(new.get_model("audience", "Subscriber").objects.values_list(
        "pk", "email_normalised"))
    assert keys == {idn.pk: "anna@bücher.example", plain.pk: "ben@example.org"}
    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
