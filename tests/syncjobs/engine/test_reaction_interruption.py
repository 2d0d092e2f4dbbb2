"""N1 for the reaction export: interrupted anywhere — between batches, after the CRM wrote
but before the answer arrived, by CRM faults — the next run ends exactly as an
uninterrupted one: every reaction counted once, one activity per pair, one CRM campaign."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from audience.campaigns import create_campaign
from audience.models import Campaign, Reaction
from audience.subscribers import create_subscriber
from businessunits.models import BusinessUnit
from dynamics import DataverseClient
from syncjobs.engine.steps import reactions
from syncjobs.models import JobStatus
from syncjobs.models.sync import ReactionExport, ReactionExportState
from tenants.models import Tenant
from tests.crm_fixtures import EmulatorAdmin
from tests.syncjobs.engine.conftest import ON_BOTH_PROTOCOLS, at_boundary
from tests.syncjobs.engine.reaction_helpers import (
    activities,
    crm_counts,
    expected_counts,
    export,
    linked_subscriber,
    react,
    reaction,
)

pytestmark = [pytest.mark.django_db, ON_BOTH_PROTOCOLS]


def scenario(tenant: Tenant, unit: BusinessUnit, client: DataverseClient,
             team: str) -> list[Campaign]:
    unit.owner_id, unit.owner_type = uuid.UUID(team), "team"
    unit.save()
    known = create_campaign(tenant, "Known", recipients=10)
    known.crm_campaign_id = uuid.uuid4()
    known.save()
    client.create("campaigns", {"name": "Known"}, id=str(known.crm_campaign_id))
    new = create_campaign(tenant, "Made by the export", recipients=10)
    subs = [linked_subscriber(tenant, client, f"i{i}@n1.example") for i in range(5)]
    subs.append(create_subscriber(tenant, {"email": "unlinked@n1.example"}))
    items: list[dict[str, Any]] = []
    for i, sub in enumerate(subs):
        items += [reaction(known, sub, "open", minute=i), reaction(new, sub, "click", minute=i)]
        if i % 2:
            items += [reaction(known, sub, "bounce", minute=20 + i)]
    react(tenant, items)
    return [known, new]


def assert_end_state(tenant: Tenant, client: DataverseClient, campaigns: list[Campaign]) -> None:
    linked = {k: v for k, v in expected_counts(tenant).items()
              if not k.endswith(f"-{_unlinked(tenant)}")}
    assert crm_counts(activities(client)) == linked  # every reaction once, one activity each
    assert len(list(client.query("campaigns", filter="name eq 'Made by the export'"))) == 1
    for campaign in campaigns:
        campaign.refresh_from_db()
        row = client.get("campaigns", str(campaign.crm_campaign_id))
        assert row["mwx_opens"] == Reaction.objects.filter(
            campaign=campaign, kind="open").values("subscriber").distinct().count()
    states = set(ReactionExport.objects.values_list("state", flat=True))
    assert states == {ReactionExportState.EXPORTED, ReactionExportState.PENDING}
    assert ReactionExport.objects.filter(state=ReactionExportState.PENDING).count() == 2


def _unlinked(tenant: Tenant) -> int:
    return Reaction.objects.filter(tenant=tenant, subscriber__email="unlinked@n1.example"
                                   ).values_list("subscriber_id", flat=True)[0]


@pytest.mark.parametrize("nth", [None, 1, 2, 3, 5])
def test_n1_reaction_export_interrupted_between_batches_ends_as_an_uninterrupted_run(
        tenant: Tenant, unit: BusinessUnit, crm_client: DataverseClient,
        no_dispatch: list[int], monkeypatch: pytest.MonkeyPatch, reaction_team: str,
        interrupt: Callable[[str, int], None], nth: int | None) -> None:
    campaigns = scenario(tenant, unit, crm_client, reaction_team)
    # 12 pairs: six batches, seven boundaries; each batch's two activities go as two parallel
    # UpsertMultiple requests of one target.
    monkeypatch.setattr(reactions, "BATCH", 1)
    monkeypatch.setattr(reactions, "pairs_per_batch", lambda sync: 2)
    if nth is not None:
        interrupt("reactions", nth)
        failed = export(tenant)
        assert failed.status == JobStatus.FAILED
        assert "Traceback" not in failed.error
    run = export(tenant)
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert_end_state(tenant, crm_client, campaigns)


def test_n1_a_crash_after_the_crm_created_the_campaign_makes_no_second_campaign(
        tenant: Tenant, unit: BusinessUnit, crm_client: DataverseClient,
        no_dispatch: list[int], monkeypatch: pytest.MonkeyPatch, client_class: Any,
        reaction_team: str) -> None:
    campaigns = scenario(tenant, unit, crm_client, reaction_team)
    real = client_class.create_multiple

    def create_then_crash(self: DataverseClient, *args: Any, **kwargs: Any) -> Any:
        real(self, *args, **kwargs)
        raise ConnectionResetError("worker lost its connection")
    monkeypatch.setattr(client_class, "create_multiple", create_then_crash)
    assert export(tenant).status == JobStatus.FAILED
    monkeypatch.setattr(client_class, "create_multiple", real)
    run = export(tenant)
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert_end_state(tenant, crm_client, campaigns)


def test_n1_crm_failures_fail_the_run_and_the_next_run_completes(
        tenant: Tenant, unit: BusinessUnit, crm_client: DataverseClient,
        no_dispatch: list[int], crm_admin: EmulatorAdmin, crm_org: str,
        monkeypatch: pytest.MonkeyPatch, reaction_team: str) -> None:
    campaigns = scenario(tenant, unit, crm_client, reaction_team)
    monkeypatch.setattr(reactions, "BATCH", 1)
    monkeypatch.setattr(reactions, "pairs_per_batch", lambda sync: 2)

    def crm_breaks_down(step: str) -> None:  # after the first batch: every request fails
        if step == "reactions" and not armed:
            armed.append(step)
            crm_admin.session.post(f"{crm_admin.base}/faults", json={
                "enabled": True, "fail_next": [{"method": "*", "path": f"^/{crm_org}/",
                                                "count": 40, "status": 503,
                                                "retry_after": 0}]},
                timeout=10).raise_for_status()
    armed: list[str] = []
    with monkeypatch.context() as patched:
        at_boundary(patched, crm_breaks_down)
        failed = export(tenant)
    assert armed and failed.status == JobStatus.FAILED
    assert "Traceback" not in failed.error
    crm_admin.session.post(f"{crm_admin.base}/faults/reset", timeout=10).raise_for_status()
    run = export(tenant)
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert_end_state(tenant, crm_client, campaigns)


def test_n1_a_reaction_that_committed_late_is_still_exported(
        tenant: Tenant, unit: BusinessUnit, crm_client: DataverseClient,
        no_dispatch: list[int], reaction_team: str) -> None:
    campaigns = scenario(tenant, unit, crm_client, reaction_team)
    assert export(tenant).status == JobStatus.SUCCEEDED
    sub = linked_subscriber(tenant, crm_client, "late@n1.example")
    react(tenant, [reaction(campaigns[0], sub, "open")])
    # Its transaction began before the last run read (PostgreSQL: visible only later).
    from syncjobs.models import SyncCursor

    watermark = SyncCursor.objects.get(tenant=tenant, name="reactions").watermark
    Reaction.objects.filter(subscriber=sub).update(
        created_at=watermark - reactions.OVERLAP / 2)  # type: ignore[operator]
    assert export(tenant).status == JobStatus.SUCCEEDED
    assert crm_counts(activities(crm_client))[f"{campaigns[0].pk}-{sub.pk}"] == (1, 0, 0)
