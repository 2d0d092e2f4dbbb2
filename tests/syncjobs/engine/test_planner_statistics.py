"""A sync run gives SQLite's planner statistics for the tables it reads by tenant, so a
look-up of a tenant's subscribers by address uses the (tenant, address) index instead of
walking the tenant (mailworx_crm/planner_statistics.py); PostgreSQL keeps its own."""

from __future__ import annotations

import pytest
from django.db import connection

from audience.models import Subscriber, SubscriberGroup
from audience.subscribers import bulk_upsert
from mailworx_crm.planner_statistics import refresh_planner_statistics
from syncjobs.models import JobStatus
from tests.syncjobs.engine.conftest import SyncFn

pytestmark = pytest.mark.django_db


def _plan_of_an_address_look_up(tenant_id: int) -> str:
    emails = list(Subscriber.objects.values_list("email_normalised", flat=True)[:50])
    query = (Subscriber.objects.live().filter(tenant_id=tenant_id, email_normalised__in=emails)
             .only("id", "email"))
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        return " ".join(str(row[-1]) for row in cursor.fetchall())


def test_after_a_sync_sqlite_looks_subscribers_up_by_address_not_by_walking_the_tenant(
        group: SubscriberGroup, sync: SyncFn) -> None:
    # Enough subscribers for the planner's costs to tell the two indexes apart.
    bulk_upsert(group.tenant, [{"email": f"s{i}@planner.example"} for i in range(3000)])
    run = sync()
    assert run.status == JobStatus.SUCCEEDED, run.error
    if connection.vendor != "sqlite":
        assert refresh_planner_statistics() == []  # PostgreSQL analyses by itself
        return
    plan = _plan_of_an_address_look_up(group.tenant_id)
    assert "subscriber_tenant_email" in plan, plan
    # Fresh statistics: the next run analyses nothing (its cost follows change, N2) — also
    # with merged subscribers, whose partial index has statistics of a few rows.
    first, second, third = Subscriber.objects.filter(tenant=group.tenant).order_by("pk")[:3]
    Subscriber.objects.filter(pk__in=[second.pk, third.pk]).update(merged_into=first)
    refresh_planner_statistics()
    assert refresh_planner_statistics() == []
    bulk_upsert(group.tenant, [{"email": f"more{i}@planner.example"} for i in range(3000)])
    assert "audience_subscriber" in refresh_planner_statistics()  # the table doubled
