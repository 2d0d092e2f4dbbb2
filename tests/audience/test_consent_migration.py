"""The upgrade to consent tracking (N6): existing subscribers keep what is known — their
status becomes a permission, with a first history entry "before consent tracking" — and
nothing is invented."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from audience.suppression_key import address_hash

BEFORE = [("audience", "0006_pending_csv_import")]
AFTER = [("audience", "0007_consent")]
SUBSCRIBED = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
LEFT = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)


def _migrate(targets: list[tuple[str, str]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return MigrationExecutor(connection)


@pytest.mark.django_db(transaction=True)
def test_existing_subscribers_get_a_permission_and_a_first_history_entry() -> None:
    old = _migrate(BEFORE).loader.project_state(BEFORE).apps
    tenant = old.get_model("tenants", "Tenant").objects.create(name="U", slug="u")
    model = old.get_model("audience", "Subscriber")
    made = {}
    for name, status in (("active", "active"), ("out", "unsubscribed"), ("bounce", "bounced")):
        made[name] = model.objects.create(
            tenant=tenant,
            email=f"{name}@Example.org",
            email_normalised=f"{name}@example.org",
            language="de",
            status=status,
            status_changed_at=None if status == "active" else LEFT,
        )
    model.objects.filter(pk__in=[s.pk for s in made.values()]).update(created_at=SUBSCRIBED)

    new = _migrate(AFTER).loader.project_state(AFTER).apps
    subs = {s.pk: s for s in new.get_model("audience", "Subscriber").objects.all()}
    assert subs[made["active"].pk].consent == "unknown"  # on the list; how is not known
    assert subs[made["out"].pk].consent == "opted_out"
    assert subs[made["out"].pk].consent_changed_at == LEFT
    assert subs[made["bounce"].pk].consent == "bounced"
    events = new.get_model("audience", "ConsentEvent").objects.order_by("subscriber_id", "id")
    got = [(e.subscriber_id, e.state, e.occurred_at, e.source) for e in events]
    assert got == [
        (made["active"].pk, "unknown", SUBSCRIBED, "before_consent_tracking"),
        (made["out"].pk, "unknown", SUBSCRIBED, "before_consent_tracking"),
        (made["out"].pk, "opted_out", LEFT, "before_consent_tracking"),
        (made["bounce"].pk, "unknown", SUBSCRIBED, "before_consent_tracking"),
        (made["bounce"].pk, "bounced", LEFT, "before_consent_tracking"),
    ]
    assert events.first().detail["status"] == "active"  # type: ignore[union-attr]
    suppressed = dict(
        new.get_model("audience", "SuppressedAddress").objects.values_list("address_hash", "reason")
    )
    assert suppressed == {
        address_hash("out@example.org"): "opted_out",
        address_hash("bounce@example.org"): "hard_bounce",
    }

    back = _migrate(BEFORE).loader.project_state(BEFORE).apps
    statuses = dict(back.get_model("audience", "Subscriber").objects.values_list("pk", "status"))
    assert statuses == {
        made["active"].pk: "active",
        made["out"].pk: "unsubscribed",
        made["bounce"].pk: "bounced",
    }
    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())  # back to today
