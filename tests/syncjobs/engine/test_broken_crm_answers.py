"""A CRM (or a proxy in front of it) that answers something broken — an HTML page, text
that is not JSON, a cut-off document, a collection without its rows — ends the run as
failed with a reason a person can read, never a traceback and never the page's markup."""

from __future__ import annotations

import pytest

from audience.groups import add_members
from audience.models import SubscriberGroup
from audience.subscribers import create_subscriber
from syncjobs.models import JobStatus, SyncStatus
from tenants.models import Tenant
from tests.crm_fixtures import EmulatorAdmin
from tests.syncjobs.engine.conftest import SyncFn


@pytest.mark.parametrize(("kind", "status", "says"), [
    ("html", 200, "not JSON"),
    ("html", 500, "internal error"),
    ("not_json", 200, "not JSON"),
    ("truncated", 200, "not JSON"),
    ("no_value", 200, "without 'value'"),
])
def test_a_broken_answer_fails_the_run_with_a_readable_reason(
        tenant: Tenant, group: SubscriberGroup, names: None, sync: SyncFn,
        crm_admin: EmulatorAdmin, kind: str, status: int, says: str) -> None:
    _fails_readably_then_recovers(tenant, group, sync, crm_admin, says, {
        "method": "GET", "path": r"/contacts", "count": 20, "status": status, "body": kind})


@pytest.mark.parametrize("crm_org", ["legacy2015"], indirect=True)
@pytest.mark.parametrize(("kind", "status", "says"), [
    ("html", 200, "cannot read"),  # a proxy's page where the SOAP envelope should be
    ("html", 500, "internal error"),  # not a SOAP fault: no XML
    ("truncated", 200, "cannot read"),
])
def test_a_broken_answer_of_the_organization_service_fails_the_run_readably(
        tenant: Tenant, group: SubscriberGroup, names: None, sync: SyncFn,
        crm_admin: EmulatorAdmin, crm_org: str, kind: str, status: int, says: str) -> None:
    _fails_readably_then_recovers(tenant, group, sync, crm_admin, says, {
        "method": "POST", "path": r"Organization\.svc/web", "count": 20, "status": status,
        "body": kind})


def _fails_readably_then_recovers(tenant: Tenant, group: SubscriberGroup, sync: SyncFn,
                                  crm_admin: EmulatorAdmin, says: str,
                                  rule: dict[str, object]) -> None:
    """A run that meets the broken answers (``rule``) fails saying ``says``, with no
    traceback or HTML anywhere an admin reads; the next run is fine again."""
    add_members(group, [create_subscriber(tenant, {"email": "broken@example.org"}).pk])
    assert sync().status == JobStatus.SUCCEEDED
    crm_admin.session.post(f"{crm_admin.base}/faults", json={"fail_next": [rule]},
                           timeout=10).raise_for_status()
    run = sync()
    assert run.status == JobStatus.FAILED
    assert says in run.error, run.error
    for text in (run.error, SyncStatus.objects.get(tenant=tenant).last_error,
                 *run.log_lines.values_list("message", flat=True)):
        assert "Traceback" not in text and "<html" not in text and "<title" not in text
    crm_admin.session.post(f"{crm_admin.base}/faults/reset", timeout=10).raise_for_status()
    assert sync().status == JobStatus.SUCCEEDED  # and the next run is fine again
