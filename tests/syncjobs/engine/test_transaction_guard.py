"""No CRM request while a job holds a database transaction (orgsettings.transaction_guard):
any job body or engine step that breaks the rule fails, in tests and in the demo."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from django.db import transaction

from audience.groups import add_members
from audience.models import SubscriberGroup
from audience.subscribers import create_subscriber
from dynamics import ChangeSet, DataverseClient
from dynamics.read_ahead import ReadAhead
from orgsettings.connection import client_for
from orgsettings.models import OrgSettings
from orgsettings.transaction_guard import CrmCallInTransaction, TransactionGuard
from syncjobs import job_bodies, runner
from syncjobs.engine import run as engine_run
from syncjobs.engine.context import Sync
from syncjobs.engine.steps import pull
from syncjobs.models import JobRun, JobStatus
from syncjobs.runner import JobContext
from tenants.models import Tenant
from tests.syncjobs.engine.conftest import ON_BOTH_PROTOCOLS, SyncFn

# The guard sits in the transport both clients share.
pytestmark = ON_BOTH_PROTOCOLS


def who_am_i_inside_a_transaction(ctx: JobContext) -> dict[str, Any]:
    with client_for(ctx.tenant) as client, transaction.atomic():
        client.who_am_i()
    return {}


def who_am_i_then_record(ctx: JobContext) -> dict[str, Any]:
    with client_for(ctx.tenant) as client:
        user = client.who_am_i()
        with transaction.atomic():
            ctx.log("read the CRM, then recorded it")
    return {"user": str(user)}


def run_body(tenant: Tenant, monkeypatch: pytest.MonkeyPatch,
             body: Callable[[JobContext], dict[str, Any]]) -> JobRun:
    monkeypatch.setitem(job_bodies.BODIES, "test_guard", body)
    run = runner.enqueue(tenant, "test_guard")
    runner.execute(run.pk)
    run.refresh_from_db()
    return run


def test_a_crm_request_inside_a_transaction_fails_the_job(
        tenant: Tenant, org: OrgSettings, monkeypatch: pytest.MonkeyPatch,
        no_dispatch: list[int], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="syncjobs.runner"):
        run = run_body(tenant, monkeypatch, who_am_i_inside_a_transaction)
    assert run.status == JobStatus.FAILED
    assert "CrmCallInTransaction" in run.error
    assert "inside a database transaction" in caplog.text


def test_read_first_then_a_short_transaction_is_fine(
        tenant: Tenant, org: OrgSettings, monkeypatch: pytest.MonkeyPatch,
        no_dispatch: list[int]) -> None:
    run = run_body(tenant, monkeypatch, who_am_i_then_record)
    assert run.status == JobStatus.SUCCEEDED, run.error


def test_in_production_mode_the_request_is_logged_and_goes_ahead(
        tenant: Tenant, org: OrgSettings, monkeypatch: pytest.MonkeyPatch,
        no_dispatch: list[int], settings: Any, caplog: pytest.LogCaptureFixture) -> None:
    settings.CRM_CALL_IN_TRANSACTION = "log"
    with caplog.at_level(logging.WARNING, logger="orgsettings.transaction_guard"):
        run = run_body(tenant, monkeypatch, who_am_i_inside_a_transaction)
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert "WhoAmI" in caplog.text and "inside a database transaction" in caplog.text


def test_an_engine_step_run_inside_a_transaction_fails_the_sync(
        tenant: Tenant, group: SubscriberGroup, names: None, sync: SyncFn,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """What a future step that forgot the rule looks like: its sync fails in the tests."""
    add_members(group, [create_subscriber(tenant, {"email": "guard@example.org"}).pk])
    steps_for = engine_run.steps_for

    def in_one_transaction(mode: str, params: dict[str, Any], **kw: Any) -> list[Any]:
        def wrap(step: Callable[[Sync], None]) -> Callable[[Sync], None]:
            def inside(sync: Sync) -> None:
                with transaction.atomic():
                    step(sync)
            return inside
        return [(name, wrap(step)) for name, step in steps_for(mode, params, **kw)]

    monkeypatch.setattr(engine_run, "steps_for", in_one_transaction)
    run = sync()
    assert run.status == JobStatus.FAILED
    assert "CrmCallInTransaction" in run.error


@pytest.mark.webapi_only  # read-ahead needs a client two threads may use; NTLM's is not one
def test_a_page_read_ahead_while_the_job_records_the_last_one_is_not_a_request_inside_it(
        tenant: Tenant, group: SubscriberGroup, names: None, sync: SyncFn,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The change-tracking start reads the next page while the job writes this one in a
    transaction: the job does not wait for that request inside the transaction, so it is
    allowed; taking the page (``next``) inside one would not be."""
    add_members(group, [create_subscriber(tenant, {"email": f"ahead{i}@example.org"}).pk
                        for i in range(6)])
    original_pages = DataverseClient.change_pages
    readers: set[str] = set()

    def small_pages(self: DataverseClient, entity_set: str, select: Sequence[str],
                    delta_link: str | None = None, page_size: int | None = None
                    ) -> Iterator[ChangeSet]:
        readers.add(threading.current_thread().name)
        return original_pages(self, entity_set, select, delta_link, 2)

    original_apply = pull.apply_rows
    applied: list[int] = []

    def slow_transaction(sync: Sync, step: str, entity: str, rows: list[dict[str, Any]],
                         **kw: Any) -> None:
        with transaction.atomic():  # long enough for the next page to be read meanwhile
            if len(applied) < 4:
                time.sleep(0.3)
            original_apply(sync, step, entity, rows, **kw)
        applied.append(len(rows))

    monkeypatch.setattr(DataverseClient, "change_pages", small_pages)
    monkeypatch.setattr(pull, "BATCH", 1)
    monkeypatch.setattr(pull, "apply_rows", slow_transaction)
    run = sync()
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert len(applied) >= 3  # several pages, each recorded while the next was read
    assert "crm-read-ahead" in readers  # the pages were read ahead, beside the job

    pages = ReadAhead(lambda: iter([1, 2]), before_wait=TransactionGuard())
    assert next(pages) == 1
    with transaction.atomic(), pytest.raises(CrmCallInTransaction):
        next(pages)  # waiting for a page inside a transaction is what the guard refuses
    pages.close()
