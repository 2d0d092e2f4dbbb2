"""Dry run: the real pipeline, with nothing written anywhere.

The steps run unchanged — the same code decides as in a real sync, so the report cannot
drift from what a real run does. Two things differ: the CRM client answers its own writes
(``dynamics.simulate``: reads still reach the CRM), and every database change the steps
make is rolled back at the end. Before the rollback the run looks at what changed in
mailworx (new subscribers, merges, field values, links, issues); after it, the values
they replaced are read back for the sample. Log lines are held in memory meanwhile and
written after the rollback.

On SQLite the run holds the write lock until it ends (other writers wait); on PostgreSQL
only the rows it touched are locked.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from audience.models import Subscriber, SubscriberValue
from dynamics.crm_api import CrmApi
from dynamics.simulate import SimulatedWrite
from mailworx_crm.texts import StoredText, render
from mailworx_crm.texts import deferred as _
from orgsettings.transaction_guard import crm_calls_allowed
from syncjobs.engine.context import Sync
from syncjobs.models import JobLogLine
from syncjobs.models.sync import RecordLink, SyncIssue
from syncjobs.runner import JobContext

SAMPLE = 10  # examples per kind of change in the report
Plan = list[tuple[str, Callable[[Sync], None]]]


class _HeldBack(JobContext):
    """The run's context with log lines kept in memory and progress writes left out (they
    would be rolled back, and on PostgreSQL would lock the run row against the heartbeat).
    Counters and results are the run's own dicts, so they survive the rollback."""

    def __init__(self, ctx: JobContext) -> None:
        self.__dict__.update(ctx.__dict__)
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    def log(self, message: StoredText | str, level: str = JobLogLine.Level.INFO,
            **data: Any) -> None:
        self.lines.append((render(message), level, data))

    def progress(self, done: int, total: int | None = None, label: str | None = None) -> None:
        self.check_cancelled()

    def set_result(self, **values: Any) -> None:
        self.result.update(values)


def run_dry(ctx: JobContext, client: CrmApi, plan: Plan) -> dict[str, Any]:
    """Run ``plan`` without writing; returns the report stored as the run's ``dry_run``."""
    ctx.log(_("Dry run: the CRM is read but never written, and nothing is saved in mailworx. "
              "The figures say what a real sync would do now."))
    held = _HeldBack(ctx)
    sync = Sync(held, client)
    started = timezone.now()
    merged_before = set(Subscriber.objects.filter(tenant=ctx.tenant, merged_into__isnull=False)
                        .values_list("pk", flat=True))
    try:
        # The one exemption from "no CRM request inside a transaction": a dry run makes its
        # mailworx-side changes for real and rolls them back, so the pipeline runs exactly
        # as a sync would. It holds the transaction while it reads the CRM; on SQLite that
        # is the database's write lock, which is why dry runs there are limited by tenant
        # size (DRY_RUN_SQLITE_MAX_SUBSCRIBERS, engine/start.py). It sends no CRM write.
        with transaction.atomic(), crm_calls_allowed(client, "dry run, rolled back"):
            sync.run_steps(plan)
            mailworx = _mailworx_changes(sync, started, merged_before)
            transaction.set_rollback(True)
    finally:
        for message, level, data in held.lines:
            ctx.log(message, level, **data)
    _add_old_values(mailworx)
    return {"crm": crm_summary(client.simulated_writes), "mailworx": mailworx}


# -- the CRM side: the writes the client answered itself ----------------------------------

def crm_summary(writes: list[SimulatedWrite]) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    samples: dict[str, list[dict[str, Any]]] = {}
    for write in writes:
        key = f"{write.action or write.entity_set}:{write.kind}"
        counts[key] += 1
        bucket = samples.setdefault(key, [])
        if len(bucket) < SAMPLE:
            bucket.append({"path": write.path.split("?", 1)[0][:120],
                           "values": _short(write.body)})
    return {"writes": len(writes), "by_kind": dict(sorted(counts.items())),
            "samples": samples}


def _short(body: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in list(body.items())[:12]:
        text = str(value)
        out[key] = text if len(text) <= 80 else text[:77] + "…"
    return out


# -- the mailworx side: what changed inside the transaction ---------------------------------

def _mailworx_changes(sync: Sync, started: dt.datetime,
                      merged_before: set[int]) -> dict[str, Any]:
    tenant = sync.tenant
    created = Subscriber.objects.filter(tenant=tenant, created_at__gte=started)
    merged = (Subscriber.objects.filter(tenant=tenant, merged_into__isnull=False)
              .exclude(pk__in=merged_before).select_related("merged_into"))
    status = (Subscriber.objects.filter(tenant=tenant, consent_changed_at__gte=started)
              .exclude(created_at__gte=started))
    values = (SubscriberValue.objects.filter(tenant=tenant, modified_at__gte=started)
              .exclude(subscriber__created_at__gte=started)
              .select_related("subscriber", "field").order_by("subscriber_id", "field_id"))
    links = RecordLink.objects.filter(tenant=tenant, created_at__gte=started)
    issues = SyncIssue.objects.filter(tenant=tenant, last_seen__gte=started)
    return {
        "subscribers_created": {
            "count": created.count(),
            "sample": list(created.order_by("pk").values_list("email", flat=True)[:SAMPLE])},
        "subscribers_merged": {
            "count": merged.count(),
            "sample": [{"from": s.email, "into": s.merged_into.email if s.merged_into else ""}
                       for s in merged[:SAMPLE]]},
        "status_changed": {
            "count": status.count(),
            "sample": [{"email": s.email, "status": s.status.label}
                       for s in status[:SAMPLE]]},
        "values_changed": {
            "count": values.count(),
            "subscribers": values.values("subscriber_id").distinct().count(),
            "sample": [{"subscriber_id": v.subscriber_id, "field_id": v.field_id,
                        "email": v.subscriber.email, "field": v.field.key, "new": v.value}
                       for v in values[:SAMPLE]]},
        "links": {
            "by_state": dict(Counter(links.values_list("state", flat=True))),
            "sample": [{"email": link.subscriber.email, "entity": link.entity_type,
                        "crm_id": str(link.crm_id), "state": link.state}
                       for link in links.select_related("subscriber")[:SAMPLE]]},
        "issues": {
            "count": issues.count(),
            "sample": [{"email": i.subscriber.email if i.subscriber else "",
                        "step": i.step, "reason": i.reason, "hint": i.hint}
                       for i in issues.select_related("subscriber")[:SAMPLE]]},
    }


def _add_old_values(mailworx: dict[str, Any]) -> None:
    """After the rollback: the values the sampled changes would replace."""
    sample = mailworx["values_changed"]["sample"]
    old = {(sid, fid): value for sid, fid, value in SubscriberValue.objects.filter(
        subscriber_id__in=[s["subscriber_id"] for s in sample]).values_list(
            "subscriber_id", "field_id", "value")}
    for item in sample:
        item["old"] = old.get((item.pop("subscriber_id"), item.pop("field_id")), "")
