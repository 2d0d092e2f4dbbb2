"""Reaction export, what surrounds the activities: C4 export flags, C5 campaign figures,
N2 request budget, and the gate a reaction export shares with syncs."""

from __future__ import annotations

import uuid

import pytest

from audience.models import Campaign
from audience.subscribers import create_subscriber
from dynamics import DataverseClient
from orgsettings.models import OrgSettings, ReactionMode
from syncjobs.engine.start import SyncRefused, start_reaction_export
from syncjobs.engine.steps.reactions import BATCH
from syncjobs.models import JobStatus
from syncjobs.models.sync import CampaignExport
from tenants.models import Tenant
from tests.crm_fixtures import EmulatorAdmin
from tests.syncjobs.engine.conftest import ON_BOTH_PROTOCOLS
from tests.syncjobs.engine.reaction_helpers import (  # noqa: F401  (fixtures)
    REACTION_TEAM,
    activities,
    crm_counts,
    crm_record,
    expected_counts,
    export,
    link,
    linked_subscriber,
    react,
    reaction,
    writes,
)

pytestmark = [pytest.mark.django_db, ON_BOTH_PROTOCOLS]


def test_C4_kinds_switched_off_are_not_written(
        tenant: Tenant, campaign: Campaign, crm_client: DataverseClient,
        no_dispatch: list[int]) -> None:
    OrgSettings.objects.filter(tenant=tenant).update(export_opens=False)
    opener = linked_subscriber(tenant, crm_client, "opener@c4.example")
    clicker = linked_subscriber(tenant, crm_client, "clicker@c4.example")
    react(tenant, [reaction(campaign, opener, "open"), reaction(campaign, clicker, "open"),
                   reaction(campaign, clicker, "click")])
    run = export(tenant)
    assert run.status == JobStatus.SUCCEEDED
    rows = activities(crm_client)
    assert list(rows) == [f"{campaign.pk}-{clicker.pk}"]  # only opens: nothing at all
    assert (rows[f"{campaign.pk}-{clicker.pk}"]["mwx_opens"],
            rows[f"{campaign.pk}-{clicker.pk}"]["mwx_clicks"]) == (None, 1)
    assert rows[f"{campaign.pk}-{clicker.pk}"]["subject"] == "Newsletter März: geklickt"
    figures = crm_client.get("campaigns", str(campaign.crm_campaign_id))
    assert (figures["mwx_opens"], figures["mwx_clicks"]) == (None, 1)
    # Switched on again: the opens follow, without a second activity.
    OrgSettings.objects.filter(tenant=tenant).update(export_opens=True)
    assert export(tenant).status == JobStatus.SUCCEEDED
    assert crm_counts(activities(crm_client)) == expected_counts(tenant)


def _figures_scenario(tenant: Tenant, campaign: Campaign, client: DataverseClient) -> None:
    subs = [linked_subscriber(tenant, client, f"f{i}@c5.example") for i in range(3)]
    react(tenant, [reaction(campaign, subs[0], "open"), reaction(campaign, subs[0], "open"),
                   reaction(campaign, subs[1], "open"), reaction(campaign, subs[0], "click"),
                   reaction(campaign, subs[2], "bounce"), reaction(campaign, subs[2], "bounce")])


def test_C5_absolute_figures(tenant: Tenant, campaign: Campaign, crm_client: DataverseClient,
                             no_dispatch: list[int]) -> None:
    _figures_scenario(tenant, campaign, crm_client)
    assert export(tenant).counters["reactions"]["figures_written"] == 1
    row = crm_client.get("campaigns", str(campaign.crm_campaign_id))
    assert (row["mwx_opens"], row["mwx_clicks"], row["mwx_bounces"]) == (2, 1, 1)
    assert (row["mwx_openrate"], row["mwx_clickrate"]) == (None, None)
    assert row["mwx_figuresmode"] == 100000000
    assert row["mwx_figuresupdatedon"]
    assert export(tenant).counters["reactions"].get("figures_written", 0) == 0  # unchanged


def test_C5_relative_figures(tenant: Tenant, campaign: Campaign, crm_client: DataverseClient,
                             no_dispatch: list[int]) -> None:
    OrgSettings.objects.filter(tenant=tenant).update(reaction_mode=ReactionMode.RELATIVE)
    Campaign.objects.filter(pk=campaign.pk).update(recipients=3)
    _figures_scenario(tenant, campaign, crm_client)
    assert export(tenant).status == JobStatus.SUCCEEDED
    row = crm_client.get("campaigns", str(campaign.crm_campaign_id))
    assert (row["mwx_openrate"], row["mwx_clickrate"]) == (66.67, 33.33)
    assert (row["mwx_opens"], row["mwx_clicks"], row["mwx_bounces"]) == (None, None, None)
    assert row["mwx_figuresmode"] == 100000001
    # Back to absolute: the next run rewrites the figures without any new reaction.
    OrgSettings.objects.filter(tenant=tenant).update(reaction_mode=ReactionMode.ABSOLUTE)
    assert export(tenant).counters["reactions"]["figures_written"] == 1
    row = crm_client.get("campaigns", str(campaign.crm_campaign_id))
    assert (row["mwx_opens"], row["mwx_openrate"]) == (2, None)


def test_N2_requests_grow_with_pairs_not_reactions(
        tenant: Tenant, campaign: Campaign, crm_client: DataverseClient,
        no_dispatch: list[int]) -> None:
    contacts = crm_client.create_multiple("contacts", "contact", [
        {"contactid": str(uuid.uuid4()), "lastname": f"n{i}", "emailaddress1": f"n{i}@n2.example"}
        for i in range(250)])
    subs = []
    for i, result in enumerate(contacts):
        sub = create_subscriber(tenant, {"email": f"n{i}@n2.example"})
        link(sub, "contact", str(result.entity_id))
        subs.append(sub)
    react(tenant, [reaction(campaign, subs[i % 250], "open" if i % 3 else "click", minute=i)
                   for i in range(1000)])
    run = export(tenant)
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.counters["reactions"]["written"] == 250
    # Version, bulk probes for both tables, the UpsertMultiple — its 250 targets spread
    # over the dop hint's five parallel requests (dynamics/parallel.py) — and one $batch of
    # figures; a thousand reactions would be the same.
    assert run.counters["http"]["round_trips"] <= 5 + 5, run.counters["http"]
    assert crm_counts(activities(crm_client)) == expected_counts(tenant)


def test_start_reaction_export_is_gated_like_a_sync(tenant: Tenant, campaign: Campaign,
                                                    no_dispatch: list[int]) -> None:
    OrgSettings.objects.filter(tenant=tenant).update(sync_paused=True)
    with pytest.raises(SyncRefused):
        start_reaction_export(tenant)
    OrgSettings.objects.filter(tenant=tenant).update(sync_paused=False, check_passed_at=None)
    with pytest.raises(SyncRefused):
        start_reaction_export(tenant)
    assert not CampaignExport.objects.exists()


@pytest.mark.webapi_only  # the Web API's UpsertMultiple requests (SOAP: ExecuteMultiple)
def test_N2_one_upsert_multiple_carries_up_to_a_thousand_activities(
        crm_client: DataverseClient, crm_admin: EmulatorAdmin) -> None:
    targets = [{"@odata.id": f"mwx_emailreactions(mwx_reactionkey='n2/{i}')",
                "subject": f"n2 {i}"} for i in range(600)]
    before = crm_admin.counters()
    results = crm_client.upsert_multiple("mwx_emailreactions", "mwx_emailreaction", targets,
                                         chunk_size=BATCH)
    assert all(r.ok for r in results)
    after = crm_admin.counters()
    key = "contoso POST mwx_emailreactions/Microsoft.Dynamics.CRM.UpsertMultiple"
    # 600 targets are spread over the dop hint's five parallel requests (120 each); a load
    # that fills them all (the export's batches hold BATCH per parallel request) keeps
    # requests of a thousand.
    executor = crm_client.parallel
    assert after.get(key, 0) - before.get(key, 0) == 600 // executor.chunk_size(600, BATCH) == 5
    assert executor.chunk_size(BATCH * executor.degree, BATCH) == BATCH
