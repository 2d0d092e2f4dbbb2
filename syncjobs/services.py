"""What pages and the API do with syncs (S12, N3): start one by hand, cancel it, retry or
ignore the records that could not sync. Views and the API call these; the CRM is only ever
called by the queued run."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from audience.models import Subscriber, SubscriberGroup
from syncjobs import runner
from syncjobs.engine.issues import OPEN_STATES, ignore_issue, refresh_open_count, retry_issue
from syncjobs.engine.start import SyncRefused, start_reaction_export, start_sync
from syncjobs.engine.steps.backfill import backfill_pending
from syncjobs.models import IssueState, JobRun, SyncIssue, Trigger
from tenants.models import Tenant

# Modes a person starts for the whole tenant from the runs page (backfill: when mappings
# changed, S14); group and subscriber runs start from their pages, the API takes every mode.
TENANT_MODES = ("incremental", "full", "backfill")


def backfill_needed(tenant: Tenant) -> int:
    """Linked records a field-mapping change has not reached yet (S14); 0 when none."""
    return backfill_pending(tenant)

# The issues list's filter: its value → the states it shows.
ISSUE_FILTERS: dict[str, list[str]] = {
    "open": list(OPEN_STATES),
    "retrying": [IssueState.RETRYING],
    "ignored": [IssueState.IGNORED],
    "resolved": [IssueState.RESOLVED],
    "all": [choice.value for choice in IssueState],
}


class StartRefused(Exception):
    """A sync could not be queued; ``explanation`` says why, ``run`` is the active run (if
    one is in the way)."""

    def __init__(self, explanation: str, run: JobRun | None = None) -> None:
        super().__init__(explanation)
        self.explanation = explanation
        self.run = run


def mode_label(mode: str) -> str:
    labels = {
        "incremental": _("incremental"), "full": _("full"), "group": _("group"),
        "subscriber": _("subscriber"), "backfill": _("backfill"), "reconcile": _("reconcile"),
        "lists": _("marketing lists"), "campaigns": _("campaigns"),
        "crm_events": _("what the CRM told"),
    }
    return str(labels.get(mode, mode))


def already_active(run: JobRun) -> str:
    return _("%(kind)s #%(id)s (%(mode)s) is already %(status)s for this tenant; a second one "
             "was not started. Follow it on its page, or cancel it there first.") % {
        "kind": run.get_kind_display(), "id": run.pk,
        "mode": mode_label(str(run.params.get("mode", ""))) or "—",
        "status": run.get_status_display().lower()}


@contextmanager
def _explained() -> Iterator[None]:
    """A refused start becomes ``StartRefused`` with the words a person reads."""
    try:
        yield
    except SyncRefused as exc:
        raise StartRefused(exc.explanation) from None
    except runner.JobAlreadyActive as exc:
        raise StartRefused(already_active(exc.run), exc.run) from None


def start_manual_sync(tenant: Tenant, mode: str, *, user: Any = None,
                      trigger: str = Trigger.MANUAL, group: SubscriberGroup | None = None,
                      subscriber: Subscriber | None = None,
                      language: str | None = None, dry_run: bool = False) -> JobRun:
    """Queue a sync started by a person; ``StartRefused`` explains why not."""
    with _explained():
        return start_sync(tenant, mode, trigger=trigger, user=user, group=group,
                          subscriber=subscriber, language=language, dry_run=dry_run)


def start_manual_reaction_export(tenant: Tenant, *, user: Any = None,
                                 trigger: str = Trigger.MANUAL,
                                 language: str | None = None) -> JobRun:
    """Queue a reaction export started by a person (S4); ``StartRefused`` explains why not."""
    with _explained():
        return start_reaction_export(tenant, trigger=trigger, user=user, language=language)


def cancel_run(run: JobRun) -> bool:
    """Ask the run to stop: a queued run ends at once, a running sync at its next batch
    boundary (its log then says the step and how far it got). False when it had ended."""
    return runner.request_cancel(run)


def issues_for(tenant: Tenant, state: str = "open") -> QuerySet[SyncIssue]:
    states = ISSUE_FILTERS.get(state, ISSUE_FILTERS["open"])
    return (SyncIssue.objects.filter(tenant=tenant, state__in=states)
            .select_related("subscriber", "run"))


@dataclass(frozen=True)
class RetryOutcome:
    retried: int
    run: JobRun | None  # the sync that retries them
    refused: StartRefused | None  # why no sync was queued now (the next run retries them)


def retry_issues(tenant: Tenant, issues: Sequence[SyncIssue], *, user: Any = None,
                 trigger: str = Trigger.MANUAL, language: str | None = None,
                 one_subscriber: bool = True) -> RetryOutcome:
    """Give the records another try and queue the sync that makes it: a subscriber sync
    when it is one subscriber's issue (and ``one_subscriber``), an incremental sync
    otherwise."""
    by = getattr(user, "username", "") or ""
    for issue in issues:
        retry_issue(issue, by=by)
    refresh_open_count(tenant)
    if not issues:
        return RetryOutcome(0, None, None)
    only = issues[0].subscriber if one_subscriber and len(issues) == 1 else None
    try:
        if only is not None and only.merged_into_id is None:
            run = start_manual_sync(tenant, "subscriber", subscriber=only, user=user,
                                    trigger=trigger, language=language)
        else:
            run = start_manual_sync(tenant, "incremental", user=user, trigger=trigger,
                                    language=language)
    except StartRefused as exc:
        return RetryOutcome(len(issues), None, exc)
    return RetryOutcome(len(issues), run, None)


def retry_all(tenant: Tenant, *, user: Any = None, trigger: str = Trigger.MANUAL,
              language: str | None = None) -> RetryOutcome:
    """Retry every open issue of the tenant with one incremental sync."""
    issues = list(SyncIssue.objects.filter(tenant=tenant, state__in=OPEN_STATES)
                  .select_related("subscriber"))
    return retry_issues(tenant, issues, user=user, trigger=trigger, language=language,
                        one_subscriber=False)


def ignore(issue: SyncIssue, *, user: Any = None) -> None:
    """Stop listing the record as open; a later successful sync still resolves it."""
    ignore_issue(issue, by=getattr(user, "username", "") or "")
    refresh_open_count(issue.tenant)


def retry_message(outcome: RetryOutcome) -> str:
    if outcome.refused is not None:
        return ngettext(
            "%(n)s record will be tried again by the next sync; none was started now: "
            "%(why)s",
            "%(n)s records will be tried again by the next sync; none was started now: "
            "%(why)s", outcome.retried) % {"n": outcome.retried,
                                         "why": outcome.refused.explanation}
    assert outcome.run is not None
    return ngettext("%(n)s record will be tried again; %(kind)s #%(id)s (%(mode)s) started.",
                    "%(n)s records will be tried again; %(kind)s #%(id)s (%(mode)s) started.",
                    outcome.retried) % {
        "n": outcome.retried, "kind": outcome.run.get_kind_display(), "id": outcome.run.pk,
        "mode": mode_label(str(outcome.run.params.get("mode")))}
