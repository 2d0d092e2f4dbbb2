"""Issue #20, alerts: a tenant whose syncs keep failing gets exactly one email per incident
— real sync runs against the emulator, broken by its fault injection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core import mail

from audience.groups import add_members
from audience.models import SubscriberGroup
from audience.subscribers import create_subscriber
from syncjobs.models import Incident, IncidentKind, JobStatus
from tenants.models import Membership, Role, Tenant
from tests.crm_fixtures import EmulatorAdmin
from tests.syncjobs.engine.conftest import SyncFn

pytestmark = pytest.mark.django_db


def break_crm(admin: EmulatorAdmin) -> None:
    """Every contacts read answers with a proxy's error page (no retry helps)."""
    admin.session.post(
        f"{admin.base}/faults",
        json={
            "fail_next": [
                {
                    "method": "GET",
                    "path": r"/contacts",
                    "count": 10000,
                    "status": 500,
                    "body": "html",
                }
            ]
        },
        timeout=10,
    ).raise_for_status()


def mend_crm(admin: EmulatorAdmin) -> None:
    admin.session.post(f"{admin.base}/faults/reset", timeout=10).raise_for_status()


def test_runs_that_keep_failing_send_one_email_per_incident(
    tenant: Tenant,
    owner: Any,
    member: Any,
    group: SubscriberGroup,
    names: None,
    sync: SyncFn,
    crm_admin: EmulatorAdmin,
    django_capture_on_commit_callbacks: Callable[..., Any],
    settings: Any,
) -> None:
    settings.ALERT_FAILED_RUNS = 3
    settings.PUBLIC_BASE_URL = "https://crm.mailworx.example"
    add_members(group, [create_subscriber(tenant, {"email": "anna@example.org"}).pk])

    def run_sync() -> str:
        with django_capture_on_commit_callbacks(execute=True):
            return sync().status

    assert run_sync() == JobStatus.SUCCEEDED
    break_crm(crm_admin)
    assert [run_sync() for _ in range(2)] == [JobStatus.FAILED] * 2
    assert mail.outbox == []  # two failures are not yet an incident
    assert [run_sync() for _ in range(4)] == [JobStatus.FAILED] * 4

    # Six failed runs, one incident, one email — to the administrator only.
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == [owner.email]
    assert Membership.objects.get(user=member).role == Role.USER
    assert "Runs keep failing" in email.subject and tenant.name in email.subject
    assert "The last 3 runs of “Subscriber synchronisation” failed" in email.body
    assert "internal error" in email.body  # the run's own explanation
    assert f"https://crm.mailworx.example/t/{tenant.slug}/jobs/" in email.body
    incident = Incident.objects.get(tenant=tenant)
    assert (incident.kind, incident.key) == (IncidentKind.RUNS_FAILING, "sync")
    assert incident.notified_at is not None and incident.resolved_at is None

    # The CRM recovers: the next run succeeds and ends the incident, silently.
    mend_crm(crm_admin)
    assert run_sync() == JobStatus.SUCCEEDED
    incident.refresh_from_db()
    assert incident.resolved_at is not None
    assert len(mail.outbox) == 1

    # It breaks again: a new incident, a second email.
    break_crm(crm_admin)
    assert [run_sync() for _ in range(3)] == [JobStatus.FAILED] * 3
    assert len(mail.outbox) == 2
    assert Incident.objects.filter(tenant=tenant, resolved_at__isnull=True).count() == 1
    assert Incident.objects.filter(tenant=tenant).count() == 2
    mend_crm(crm_admin)
