"""Record-level failures as rows an admin can read and retry (N3).

One open issue per (subscriber or CRM record, step); a repeat raises ``attempts``. After
``SYNC_ISSUE_MAX_ATTEMPTS`` the record is skipped by later runs until a person retries it
(``retry_issue``); a later success resolves the issue. Every attempt, retry, ignore and
resolution is kept as a ``SyncIssueAttempt``, so the history survives the retries that
restart ``attempts``. Only failures and resolutions of open issues write one: a clean sync
writes none.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from dynamics.errors import (
    AuthenticationFailed,
    CertificateError,
    PermanentError,
    RetriesExhausted,
)
from mailworx_crm.texts import StoredText, as_column
from syncjobs.models.sync import (
    AttemptOutcome,
    IssueState,
    SyncIssue,
    SyncIssueAttempt,
    SyncStatus,
)
from tenants.models import Tenant

OPEN_STATES = [IssueState.OPEN, IssueState.RETRYING]


def refused_by_crm(exc: PermanentError) -> bool:
    """A record-level refusal (privilege, bad request …), not a broken connection: the list
    or record becomes an issue and the step goes on with the next one."""
    return not isinstance(exc, RetriesExhausted | AuthenticationFailed | CertificateError)


def max_attempts() -> int:
    return int(getattr(settings, "SYNC_ISSUE_MAX_ATTEMPTS", 3))


def record_issue(tenant: Tenant, *, step: str, reason: StoredText | str,
                 hint: StoredText | str = "",
                 run_id: int | None = None, subscriber_id: int | None = None,
                 entity_type: str = "", crm_id: str | uuid.UUID | None = None,
                 code: str = "") -> SyncIssue:
    crm_uuid = uuid.UUID(str(crm_id)) if crm_id else None
    # Stored as msgid and parameters: each reader sees them in their language (C16).
    reason, hint = as_column(reason), as_column(hint)
    same = SyncIssue.objects.filter(tenant=tenant, step=step, state__in=OPEN_STATES)
    same = (same.filter(subscriber_id=subscriber_id) if subscriber_id is not None
            else same.filter(subscriber__isnull=True, crm_id=crm_uuid))
    existing = same.first()
    if existing is not None:
        SyncIssue.objects.filter(pk=existing.pk).update(
            attempts=F("attempts") + 1, state=IssueState.OPEN, reason=reason, hint=hint,
            code=code, run_id=run_id, last_seen=timezone.now(), entity_type=entity_type,
            crm_id=crm_uuid)
        existing.refresh_from_db()
        issue = existing
    else:
        issue = SyncIssue.objects.create(
            tenant=tenant, step=step, subscriber_id=subscriber_id, entity_type=entity_type,
            crm_id=crm_uuid, code=code, reason=reason, hint=hint, run_id=run_id)
    SyncIssueAttempt.objects.create(issue=issue, run_id=run_id, outcome=AttemptOutcome.FAILED,
                                    reason=reason)
    return issue


def resolve_issues(tenant: Tenant, step: str, subscriber_ids: Iterable[int], *,
                   run_id: int | None = None) -> None:
    ids = list(subscriber_ids)
    if not ids:
        return
    pks = list(SyncIssue.objects.filter(tenant=tenant, step=step, subscriber_id__in=ids,
                                        state__in=OPEN_STATES).values_list("pk", flat=True))
    if pks:
        SyncIssue.objects.filter(pk__in=pks).update(state=IssueState.RESOLVED)
        SyncIssueAttempt.objects.bulk_create([
            SyncIssueAttempt(issue_id=pk, run_id=run_id, outcome=AttemptOutcome.RESOLVED)
            for pk in pks])


def blocked_subscribers(tenant: Tenant, step: str) -> set[int]:
    """Subscribers whose issue in ``step`` used up its attempts: skipped until retried."""
    return set(SyncIssue.objects.filter(
        tenant=tenant, step=step, state=IssueState.OPEN, attempts__gte=max_attempts(),
        subscriber__isnull=False).values_list("subscriber_id", flat=True))


def retry_issue(issue: SyncIssue, *, by: str = "") -> None:
    """A person asks for another try: the next run picks the record up again (the count
    that blocks the record restarts; the history keeps the earlier attempts)."""
    waiting = SyncIssue.objects.filter(pk=issue.pk, state=IssueState.RETRYING, attempts=0)
    if waiting.exists():
        return  # a retry is already waiting for the next run: asking again is no new attempt
    SyncIssue.objects.filter(pk=issue.pk).update(state=IssueState.RETRYING, attempts=0)
    SyncIssueAttempt.objects.create(issue=issue, outcome=AttemptOutcome.RETRY_REQUESTED,
                                    by=by[:150])


def ignore_issue(issue: SyncIssue, *, by: str = "") -> None:
    SyncIssue.objects.filter(pk=issue.pk).update(state=IssueState.IGNORED)
    SyncIssueAttempt.objects.create(issue=issue, outcome=AttemptOutcome.IGNORED, by=by[:150])


def refresh_open_count(tenant: Tenant) -> int:
    count = SyncIssue.objects.filter(tenant=tenant, state__in=OPEN_STATES).count()
    SyncStatus.objects.update_or_create(tenant=tenant, defaults={"open_issues": count})
    return count
