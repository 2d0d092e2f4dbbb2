"""A sync with two application users (dynamics/lanes.py, orgsettings/app_users.py): the
same end state as with one, and the bulk work used both users' budgets."""

from __future__ import annotations

import pytest
from django.utils import timezone

from audience.groups import add_members
from audience.models import SubscriberGroup
from audience.subscribers import create_subscriber
from dynamics_emulator import credentials
from orgsettings.app_users import add_app_user
from orgsettings.models import AdditionalAppUser, OrgSettings
from syncjobs.models import JobStatus, LinkState, RecordLink
from syncjobs.models.lists import ListLink
from tenants.models import Tenant
from tests.crm_fixtures import EmulatorAdmin
from tests.syncjobs.engine.conftest import SyncFn, crm_dump

pytestmark = pytest.mark.django_db

COUNT = 300
DOMAIN = "@two-users.example"


def test_a_sync_with_two_users_ends_as_with_one_and_uses_both_budgets(
    tenant: Tenant,
    org: OrgSettings,
    group: SubscriberGroup,
    names: None,
    sync: SyncFn,
    crm_admin: EmulatorAdmin,
) -> None:
    second, _ = add_app_user(
        tenant, credentials.SECOND_CLIENT_ID, credentials.SECOND_CLIENT_SECRET, user=None
    )
    # As after an integration check that signed in as it (tests/orgsettings cover the check).
    AdditionalAppUser.objects.filter(pk=second.pk).update(check_passed_at=timezone.now())
    crm_admin.session.post(
        f"{crm_admin.base}/server-time", json={"profile": "default", "sleep": False}, timeout=10
    ).raise_for_status()
    subs = [
        create_subscriber(tenant, {"email": f"u{i}{DOMAIN}", "first_name": f"U{i}"})
        for i in range(COUNT)
    ]
    add_members(group, [s.pk for s in subs])

    run = sync()
    assert run.status == JobStatus.SUCCEEDED, run.error

    # The end state of a one-user run: each subscriber once in the CRM, linked, listed.
    contacts = crm_dump(crm_admin, "contacts", f"contains(emailaddress1,'{DOMAIN}')")
    by_email = {row["emailaddress1"]: row["contactid"] for row in contacts}
    assert len(contacts) == COUNT and sorted(by_email) == sorted(s.email for s in subs)
    links = {
        link.subscriber_id: str(link.crm_id)
        for link in RecordLink.objects.filter(tenant=tenant, state=LinkState.ACTIVE)
    }
    assert links == {s.pk: by_email[s.email] for s in subs}
    list_link = ListLink.objects.get(tenant=tenant, member_type="contact")
    members = crm_dump(crm_admin, "listmembers", f"_listid_value eq {list_link.list_id}")
    assert sorted(str(m["_entityid_value"]) for m in members) == sorted(links.values())

    # Both budgets were used: the run's counters and the emulator's ledger agree.
    per_user = run.counters["http"]["app_users"]
    assert set(per_user) == {credentials.CLIENT_ID, credentials.SECOND_CLIENT_ID}
    assert all(n > 0 for n in per_user.values())
    assert sum(per_user.values()) == run.counters["http"]["round_trips"]
    charged = crm_admin.session.get(f"{crm_admin.base}/server-time", timeout=10).json()["charged"]
    users_with_records = {key.split("/")[2] for key, row in charged.items() if row["records"]}
    assert len(users_with_records) == 2
