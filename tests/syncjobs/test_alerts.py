"""Issue #20, alerts: the integration check breaking, a mapped attribute vanishing and the
sync falling behind each send one email per incident, in each administrator's language;
a failed send is retried without sending twice; the alerts page is the tenant's only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audience.models import SubscriberField
from dynamics import DataverseClient
from dynamics_emulator.server import EmulatorServer
from fieldmapping import services as mapping_services
from fieldmapping.models import CrmAttribute
from orgsettings.models import OrgSettings
from syncjobs import runner, tasks
from syncjobs.alerts import incidents
from syncjobs.alerts import mail as alert_mail
from syncjobs.models import Incident, IncidentKind, JobKind, JobRun, JobStatus
from tenants.models import Membership, Role, Tenant, UserLanguage
from tests.crm_fixtures import configure_tenant_for_emulator
from tests.mapping_fixtures import make_unit
from tests.syncjobs.ops_fixtures import make_ready

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_dispatch")]

Capture = Callable[..., Any]


@pytest.fixture(autouse=True)
def _keep_test_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    # The task closes stale connections first (a long-lived worker's habit); here that
    # would close the test's own transaction.
    monkeypatch.setattr(tasks, "close_old_connections", lambda: None)


def run_job(tenant: Tenant, kind: str, capture: Capture) -> JobRun:
    with capture(execute=True):
        run = runner.enqueue(tenant, kind)
        runner.execute(run.pk)
    run.refresh_from_db()
    return run


def tick(capture: Capture) -> None:
    """The beat task, as the worker runs it."""
    with capture(execute=True):
        tasks.watch_alerts.apply()


def started(tenant: Tenant, server: EmulatorServer, **overrides: Any) -> OrgSettings:
    org = configure_tenant_for_emulator(tenant, server, **overrides)
    OrgSettings.objects.filter(pk=org.pk).update(sync_started_at=timezone.now())
    return org


def test_a_broken_check_sends_one_email_in_each_admins_language(
    tenant: Tenant,
    owner: Any,
    make_user: Callable[..., Any],
    crm: EmulatorServer,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    german = make_user("chefin@acme.example")
    Membership.objects.create(user=german, tenant=tenant, role=Role.ADMINISTRATOR)
    UserLanguage.objects.create(user=german, language="de")
    started(tenant, crm, client_secret="not-the-secret")

    for _ in range(3):
        assert (
            run_job(tenant, JobKind.INTEGRATION_CHECK, django_capture_on_commit_callbacks).status
            == JobStatus.FAILED
        )
    by_recipient = {m.to[0]: m for m in mail.outbox}
    assert sorted(by_recipient) == ["chefin@acme.example", owner.email]
    english, deutsch = by_recipient[owner.email], by_recipient["chefin@acme.example"]
    assert "Integration check fails" in english.subject
    assert "The integration check failed at" in english.body
    assert "Integrationsprüfung schlägt fehl" in deutsch.subject
    assert "Die Integrationsprüfung ist bei" in deutsch.body
    assert "Integration check" not in deutsch.body

    # The secret is put right: the next passing check ends the incident, without email.
    started(tenant, crm)
    assert (
        run_job(tenant, JobKind.INTEGRATION_CHECK, django_capture_on_commit_callbacks).status
        == JobStatus.SUCCEEDED
    )
    assert Incident.objects.get(tenant=tenant).resolved_at is not None
    assert len(mail.outbox) == 2


def test_a_failing_check_during_setup_sends_nothing(
    tenant: Tenant, owner: Any, crm: EmulatorServer, django_capture_on_commit_callbacks: Capture
) -> None:
    configure_tenant_for_emulator(tenant, crm, client_secret="not-the-secret")
    assert (
        run_job(tenant, JobKind.INTEGRATION_CHECK, django_capture_on_commit_callbacks).status
        == JobStatus.FAILED
    )
    assert mail.outbox == [] and not Incident.objects.exists()


def test_a_vanished_mapped_attribute_sends_one_email_and_ends_when_unmapped(
    tenant: Tenant,
    owner: Any,
    crm: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    started(tenant, crm)
    assert (
        run_job(tenant, JobKind.ATTRIBUTE_PULL, django_capture_on_commit_callbacks).status
        == JobStatus.SUCCEEDED
    )
    mapping = mapping_services.save_mapping(
        make_unit(tenant),
        "contact",
        mapping_services.MappingInput(
            crm_attribute=CrmAttribute.objects.get(
                tenant=tenant, entity="contact", logical_name="jobtitle"
            ),
            subscriber_field=SubscriberField.objects.create(
                tenant=tenant,
                key="jobtitle",
                label_en="Job title",
                label_de="Position",
                field_type="text",
                position=50,
            ),
        ),
    )

    original = DataverseClient.entity_attributes

    def without_jobtitle(self: DataverseClient, logical_name: str) -> Any:
        return [
            a
            for a in original(self, logical_name)
            if not (logical_name == "contact" and a.logical_name == "jobtitle")
        ]

    monkeypatch.setattr(DataverseClient, "entity_attributes", without_jobtitle)
    for _ in range(2):
        assert (
            run_job(tenant, JobKind.ATTRIBUTE_PULL, django_capture_on_commit_callbacks).status
            == JobStatus.SUCCEEDED
        )
    tick(django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1
    assert "Mapped CRM attribute vanished" in mail.outbox[0].subject
    assert "contact.jobtitle" in mail.outbox[0].body
    incident = Incident.objects.get(tenant=tenant)
    assert (incident.kind, incident.key) == (IncidentKind.ATTRIBUTE_VANISHED, "contact.jobtitle")

    mapping_services.delete_mapping(mapping)  # the admin unmaps it: over at the next tick
    tick(django_capture_on_commit_callbacks)
    incident.refresh_from_db()
    assert incident.resolved_at is not None and len(mail.outbox) == 1


def test_a_sync_behind_its_interval_sends_one_email_until_it_catches_up(
    tenant: Tenant, owner: Any, django_capture_on_commit_callbacks: Capture
) -> None:
    org = make_ready(tenant)
    OrgSettings.objects.filter(pk=org.pk).update(
        sync_interval_minutes=15, sync_started_at=timezone.now() - timedelta(minutes=29)
    )
    tick(django_capture_on_commit_callbacks)
    assert mail.outbox == []  # within twice the interval

    OrgSettings.objects.filter(pk=org.pk).update(
        sync_started_at=timezone.now() - timedelta(minutes=31)
    )
    tick(django_capture_on_commit_callbacks)
    tick(django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1
    assert "Synchronisation behind schedule" in mail.outbox[0].subject
    assert "the interval is 15 minutes" in mail.outbox[0].body

    run = runner.enqueue(tenant, JobKind.SYNC, params={"mode": "incremental"})
    JobRun.objects.filter(pk=run.pk).update(status=JobStatus.SUCCEEDED, finished_at=timezone.now())
    tick(django_capture_on_commit_callbacks)
    assert Incident.objects.get(tenant=tenant).resolved_at is not None
    assert len(mail.outbox) == 1


def test_a_paused_sync_is_not_behind(
    tenant: Tenant, owner: Any, django_capture_on_commit_callbacks: Capture
) -> None:
    org = make_ready(tenant)
    OrgSettings.objects.filter(pk=org.pk).update(
        sync_paused=True, sync_started_at=timezone.now() - timedelta(days=1)
    )
    tick(django_capture_on_commit_callbacks)
    assert mail.outbox == [] and not Incident.objects.exists()


def test_a_failed_send_is_retried_without_sending_twice(
    tenant: Tenant,
    owner: Any,
    make_user: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    second = make_user("second@acme.example")
    Membership.objects.create(user=second, tenant=tenant, role=Role.ADMINISTRATOR)
    org = make_ready(tenant)
    OrgSettings.objects.filter(pk=org.pk).update(
        sync_started_at=timezone.now() - timedelta(hours=2)
    )
    real_send = alert_mail.send

    def smtp_refuses_second(incident: Incident, user: Any, language: str) -> None:
        if user.pk == second.pk:
            raise OSError("SMTP server unavailable")
        real_send(incident, user, language)

    monkeypatch.setattr(alert_mail, "send", smtp_refuses_second)
    tick(django_capture_on_commit_callbacks)
    assert [m.to for m in mail.outbox] == [[owner.email]]
    incident = Incident.objects.get(tenant=tenant)
    assert incident.notified_at is None and incident.sending_since is None

    monkeypatch.setattr(alert_mail, "send", real_send)  # the SMTP server is back
    tick(django_capture_on_commit_callbacks)
    tick(django_capture_on_commit_callbacks)
    assert [m.to for m in mail.outbox] == [[owner.email], [second.email]]
    incident.refresh_from_db()
    assert incident.notified_at is not None


def test_two_workers_noticing_at_once_open_one_incident_and_send_one_email(
    tenant: Tenant,
    owner: Any,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    org = make_ready(tenant)
    OrgSettings.objects.filter(pk=org.pk).update(
        sync_started_at=timezone.now() - timedelta(hours=2)
    )
    tick(django_capture_on_commit_callbacks)  # the first worker opens and notifies
    # The second looked before the first committed: it sees no open incident.
    monkeypatch.setattr(incidents, "already_open", lambda *args: False)
    tick(django_capture_on_commit_callbacks)
    assert Incident.objects.filter(tenant=tenant).count() == 1
    assert len(mail.outbox) == 1


def test_only_one_open_incident_per_condition(tenant: Tenant) -> None:
    Incident.objects.create(tenant=tenant, kind=IncidentKind.SYNC_BEHIND)
    with pytest.raises(IntegrityError), transaction.atomic():
        Incident.objects.create(tenant=tenant, kind=IncidentKind.SYNC_BEHIND)
    Incident.objects.update(resolved_at=timezone.now())
    Incident.objects.create(tenant=tenant, kind=IncidentKind.SYNC_BEHIND)  # a new one


class TestAlertsPage:
    def url(self, tenant: Tenant) -> str:
        return reverse("syncjobs:incidents", kwargs={"tenant": tenant.slug})

    def test_members_see_open_and_resolved_alerts(
        self, tenant: Tenant, member_client: Client
    ) -> None:
        Incident.objects.create(
            tenant=tenant, kind=IncidentKind.CHECK_BROKEN, detail="The integration check failed."
        )
        Incident.objects.create(
            tenant=tenant, kind=IncidentKind.SYNC_BEHIND, resolved_at=timezone.now()
        )
        page = member_client.get(self.url(tenant)).content.decode()
        open_part, resolved_part = page.split("Recently resolved")
        assert "Integration check fails" in open_part
        assert f'href="/t/{tenant.slug}/setup/check/"' in open_part  # where to act
        assert "Synchronisation behind schedule" in resolved_part

    def test_in_german(self, tenant: Tenant, owner_client: Client) -> None:
        Incident.objects.create(tenant=tenant, kind=IncidentKind.RUNS_FAILING, key="sync")
        owner_client.post(reverse("set_language"), {"language": "de"})
        page = owner_client.get(self.url(tenant)).content.decode()
        assert "Offene Warnungen" in page and "Läufe schlagen wiederholt fehl" in page

    def test_outsider_gets_404(self, tenant: Tenant, outsider_client: Client) -> None:
        assert outsider_client.get(self.url(tenant)).status_code == 404


def test_the_ui_language_is_remembered_at_log_in_and_on_a_switch(
    client: Client, owner: Any
) -> None:
    response = client.post(
        reverse("login"),
        {"username": owner.email, "password": "correct horse battery staple 42"},
        headers={"accept-language": "de"},
    )
    assert response.status_code == 302
    assert UserLanguage.objects.get(user=owner).language == "de"
    client.post(reverse("set_language"), {"language": "en"})
    assert UserLanguage.objects.get(user=owner).language == "en"
    client.post(reverse("set_language"), {"language": "xx"})  # unknown: nothing changes
    assert UserLanguage.objects.get(user=owner).language == "en"
