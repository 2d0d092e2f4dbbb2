"""What a run leaves behind when it ends: the records it could not sync, named in its log
and counted in its result (``issues_left``), so the run's page shows "Succeeded with
issues" and says which records — even after a later run took the issues over.

The runner calls :func:`summarise` once the body has returned, whatever the outcome.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mailworx_crm.texts import StoredText, as_column, stored_plural
from syncjobs.models import IssueState, JobKind, JobLogLine, SyncIssue
from syncjobs.models.lists import CrmList
from syncjobs.record_names import table_label

# Names in the log line; the rest is counted ("and 40 more"): the issues page lists all.
NAMED = 20
OPEN = (IssueState.OPEN, IssueState.RETRYING)
# The kinds whose steps record sync issues (syncjobs.engine); other runs have none to name.
KINDS = (JobKind.SYNC, JobKind.REACTION_EXPORT)


def record_names(tenant_id: int, issues: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each issue's record as a person knows it: the subscriber's address, a marketing
    list's name, else the table and the CRM id. Two queries for any number of issues."""
    list_ids = [i["crm_id"] for i in issues if i["entity_type"] == "list" and i["crm_id"]]
    list_names = (
        dict(
            CrmList.objects.filter(tenant_id=tenant_id, list_id__in=list_ids).values_list(
                "list_id", "name"
            )
        )
        if list_ids
        else {}
    )
    names = []
    for issue in issues:
        if issue["subscriber__email"]:
            names.append(str(issue["subscriber__email"]))
        elif issue["crm_id"] in list_names:
            names.append(f"{table_label('list')} “{list_names[issue['crm_id']]}”")
        elif issue["crm_id"]:
            names.append(f"{table_label(issue['entity_type'])} {issue['crm_id']}")
        else:
            names.append(table_label(issue["entity_type"]) or issue["step"])
    return names


def summary_text(names: list[str], total: int) -> StoredText:
    shown = ", ".join(names[:NAMED])
    if total > NAMED:
        return stored_plural(
            "%(n)s record could not sync in this run: %(names)s and %(more)s more.",
            "%(n)s records could not sync in this run: %(names)s and %(more)s more.",
            total,
            names=shown,
            more=total - NAMED,
        )
    return stored_plural(
        "%(n)s record could not sync in this run: %(names)s.",
        "%(n)s records could not sync in this run: %(names)s.",
        total,
        names=shown,
    )


def summarise(run_id: int) -> int:
    """Log the records the run left open issues for; returns how many there are."""
    open_issues = SyncIssue.objects.filter(run_id=run_id, state__in=OPEN)
    total = open_issues.count()
    if not total:
        return 0
    rows = list(
        open_issues.order_by("pk").values(
            "pk", "tenant_id", "step", "entity_type", "crm_id", "subscriber__email"
        )[:NAMED]
    )
    JobLogLine.objects.create(
        run_id=run_id,
        level=JobLogLine.Level.WARNING,
        message=as_column(summary_text(record_names(rows[0]["tenant_id"], rows), total)),
        data={"issues": [row["pk"] for row in rows]},
    )
    return total
