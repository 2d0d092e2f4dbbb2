"""No secret ever leaves where it was entered: after a whole sync, a failing integration
check and "prepare mailworx", no log line (any logger, any level), run row, log line of a
run, sync issue, history entry, page or API answer holds a client secret, an NTLM password
or the integration user's password."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.db import models
from django.test import Client

from audience.groups import add_members
from audience.models import SubscriberGroup
from audience.subscribers import create_subscriber
from dynamics_emulator import credentials
from dynamics_emulator.server import EmulatorServer
from orgsettings.integration_access import prepare_mailworx
from orgsettings.models import OrgSettings
from syncjobs import runner
from syncjobs.models import JobLogLine, JobRun, JobStatus, SyncIssue
from tenants.models import Tenant
from tests.api.conftest import token_client
from tests.crm_fixtures import configure_tenant_for_emulator
from tests.syncjobs.engine.conftest import ON_BOTH_PROTOCOLS, SyncFn

# The sync runs against a Web API and an Organization Service (SOAP) organisation.
pytestmark = ON_BOTH_PROTOCOLS

WRONG_SECRET = "wrong-but-still-secret-Zq81"
WRONG_PASSWORD = "wrong-ntlm-password-Kd42"


def rows_text(model: type[models.Model]) -> str:
    return json.dumps([list(row) for row in model.objects.values_list()], default=str)


def test_no_secret_in_logs_runs_issues_history_pages_or_api(
        tenant: Tenant, other_tenant: Tenant, group: SubscriberGroup, names: None, sync: SyncFn,
        crm: EmulatorServer, owner: Any, owner_client: Client, org: OrgSettings,
        no_dispatch: list[int], caplog: pytest.LogCaptureFixture, crm_org: str) -> None:
    caplog.set_level(logging.DEBUG)
    issued = prepare_mailworx(tenant, user=owner)
    secrets = [credentials.CLIENT_SECRET, WRONG_SECRET, WRONG_PASSWORD, issued.password,
               *(password for _domain, _user, password in credentials.NTLM_USERS)]
    secrets = [s for s in secrets if s]
    add_members(group, [create_subscriber(tenant, {"email": f"leak{i}@example.org"}).pk
                        for i in range(3)])
    assert sync().status == JobStatus.SUCCEEDED
    # Checks that fail at sign-in, with secrets that are wrong but still secrets: Online
    # (client credentials) and on-premise (NTLM).
    online, onprem = {"client_secret": WRONG_SECRET}, {"onprem_password": WRONG_PASSWORD}
    checks = ([(tenant, "contoso", online), (other_tenant, "fabrikam", onprem)]
              if crm_org == "contoso" else
              [(tenant, crm_org, onprem), (other_tenant, "contoso", online)])
    for where, org_name, wrong in checks:
        configure_tenant_for_emulator(where, crm, org=org_name, **wrong)
        check = runner.enqueue(where, "integration_check")
        runner.execute(check.pk)
        failed = JobRun.objects.get(pk=check.pk)
        assert failed.status == JobStatus.FAILED, org_name
    seen: list[str] = [caplog.text]
    for model in (JobRun, JobLogLine, SyncIssue, OrgSettings.history.model):
        seen.append(rows_text(model))
    pages = ["settings", "history", "setup", "jobs", "sync/issues"]
    seen += [owner_client.get(f"/t/{tenant.slug}/{page}/").content.decode() for page in pages]
    for run in JobRun.objects.filter(tenant=tenant):
        seen.append(owner_client.get(f"/t/{tenant.slug}/jobs/{run.pk}/").content.decode())
    api = token_client(owner)
    for endpoint in ("org-settings/", "runs/", "sync-issues/"):
        seen.append(api.get(f"/api/v1/tenants/{tenant.slug}/{endpoint}").content.decode())
    everything = "\n".join(seen)
    assert len(everything) > 10_000  # the sweep really read something
    for secret in secrets:
        assert secret not in everything, f"a secret leaked ({secret[:3]}…)"
