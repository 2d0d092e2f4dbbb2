"""Open sync issues grouped by reason (issue #20), with retry and ignore for a whole group.

A group is one step, CRM error code and reason text (its msgid: the same refusal about
different records is one group, whatever the record-specific parameters). Its key is a
short hash of the three, stable across requests, so a form can name the group.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Max, Q
from django.utils.translation import get_language

from mailworx_crm.texts import Deferred, from_column, render
from syncjobs import services
from syncjobs.counter_labels import step_label
from syncjobs.engine.issues import OPEN_STATES, refresh_open_count
from syncjobs.models import IssueState, SyncIssue
from tenants.models import Tenant


@dataclass
class IssueGroup:
    key: str
    step: str
    step_label: str
    code: str
    reason: str  # one issue's reason, in the reader's language
    hint: str
    count: int
    retrying: int
    last_seen: Any


def _msgid(reason: str) -> str:
    """The reason's sentence before its parameters were filled in."""
    if isinstance(reason, Deferred):  # as the model field reads it
        return reason.msgid
    value = from_column(reason)
    return str(value.get("t")) if isinstance(value, dict) else value


def group_key(step: str, code: str, reason: str) -> str:
    raw = "\x1f".join((step, code, _msgid(reason)))
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def open_groups(tenant: Tenant) -> list[IssueGroup]:
    """The tenant's open issues by reason, largest group first. One query: the database
    counts per distinct reason text, the groups merge texts that differ in parameters."""
    rows = (
        SyncIssue.objects.filter(tenant=tenant, state__in=OPEN_STATES)
        .values("step", "code", "reason", "hint")
        .annotate(
            n=Count("pk"),
            last=Max("last_seen"),
            retrying=Count("pk", filter=Q(state=IssueState.RETRYING)),
        )
        .order_by()
    )
    groups: dict[str, IssueGroup] = {}
    for row in rows:
        key = group_key(row["step"], row["code"], row["reason"])
        group = groups.get(key)
        if group is None:
            groups[key] = IssueGroup(
                key,
                row["step"],
                step_label(row["step"]),
                row["code"],
                render(row["reason"]),
                render(row["hint"]),
                row["n"],
                row["retrying"],
                row["last"],
            )
        else:
            group.count += row["n"]
            group.retrying += row["retrying"]
            group.last_seen = max(group.last_seen, row["last"])
    return sorted(groups.values(), key=lambda g: (-g.count, g.step_label, g.reason))


def issues_of(tenant: Tenant, key: str) -> list[SyncIssue]:
    """The open issues of the group ``key`` (empty when no open issue has that reason)."""
    candidates = SyncIssue.objects.filter(tenant=tenant, state__in=OPEN_STATES).select_related(
        "subscriber"
    )
    return [i for i in candidates if group_key(i.step, i.code, i.reason) == key]


def retry_group(tenant: Tenant, key: str, *, user: Any = None) -> services.RetryOutcome:
    """Another try for every record of the group, with one incremental sync."""
    return services.retry_issues(
        tenant, issues_of(tenant, key), user=user, language=get_language(), one_subscriber=False
    )


def ignore_group(tenant: Tenant, key: str) -> int:
    """Stop listing the group's records as open; a later successful sync still resolves
    each one. Returns how many issues were ignored."""
    ids = _ids(issues_of(tenant, key))
    ignored = SyncIssue.objects.filter(pk__in=ids, state__in=OPEN_STATES).update(
        state=IssueState.IGNORED
    )
    refresh_open_count(tenant)
    return ignored


def _ids(issues: Iterable[SyncIssue]) -> list[int]:
    return [issue.pk for issue in issues]
