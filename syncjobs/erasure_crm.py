"""The job that tells the CRM about erasures (GDPR Art. 19, N7): one request set per
``ErasurePropagation`` row, outside any transaction, each outcome saved on the row and
written to the run log.

Per action (``OrgSettings.erasure_in_crm``, chosen when the erasure was made):
- ``flag_and_note``: "do not allow bulk email" is set and a dated line is added to the
  record's description — a column every contact, account and lead has and that the record
  form shows, so the CRM's users see why the person gets no mailings;
- ``flag_note_and_clear``: the same, and the columns mailworx wrote are emptied;
- ``owner_task``: the flag is set and a task, regarding the record, is created for the
  record's owner, who decides what else the CRM keeps. Its id is derived from the row, so a
  retry after a lost answer meets the task it made instead of making a second one (N1).

A record deleted meanwhile is nothing left to tell ("record gone"). A refusal (privilege,
bad request) fails that row; a broken connection leaves the rows pending and fails the run —
the next run (after the next erasure, or the hourly housekeeping) tries again.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext

from dynamics.crm_api import CrmApi
from dynamics.errors import NotFound, PermanentError
from mailworx_crm.crm_errors import describe
from mailworx_crm.entity_types import entity_set, primary_key
from mailworx_crm.texts import StoredText, as_column, stored_text
from orgsettings.connection import client_for
from orgsettings.models import ErasureInCrm
from syncjobs.engine.issues import refused_by_crm
from syncjobs.erasure import pending
from syncjobs.models import ErasurePropagation, JobLogLine, PropagationState
from syncjobs.runner import JobContext

DESCRIPTION_MAX = 2000
OWNER_TYPE = "_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"
TASK_NAMESPACE = uuid.UUID("6f1d3c52-9a4e-4b8e-a1f7-2d2c0e6b9e31")


def run_erasure_propagation(ctx: JobContext) -> dict[str, Any]:
    seen: set[int] = set()
    with client_for(ctx.tenant) as client:
        while True:
            # New erasures made while this run works are picked up before it ends.
            batch = [p for p in pending(ctx.tenant) if p.pk not in seen]
            if not batch:
                break
            for prop in batch:
                seen.add(prop.pk)
                _propagate(ctx, client, prop)
                ctx.progress(len(seen), len(seen) + len(batch) - 1)
    return {"propagations": len(seen)}


def _propagate(ctx: JobContext, client: CrmApi, prop: ErasurePropagation) -> None:
    prop.attempts += 1
    prop.run_id = ctx.run_id
    try:
        outcome = _send(client, prop)
        state = PropagationState.DONE
    except NotFound:
        state, outcome = (
            PropagationState.RECORD_GONE,
            stored_text("The CRM record no longer exists; there was nothing left to tell."),
        )
    except PermanentError as exc:
        if not refused_by_crm(exc):
            _save(prop, PropagationState.PENDING, describe(exc), finished=False)
            raise
        state, outcome = PropagationState.FAILED, describe(exc)
    _save(prop, state, outcome)
    level = JobLogLine.Level.ERROR if state == PropagationState.FAILED else JobLogLine.Level.INFO
    ctx.count(state)
    ctx.log(
        stored_text(
            "Erasure sent to CRM %(entity)s %(id)s: %(outcome)s",
            entity=prop.entity_type,
            id=str(prop.crm_id),
            outcome=outcome,
        ),
        level,
        propagation_id=prop.pk,
    )


def _save(
    prop: ErasurePropagation, state: str, outcome: StoredText, *, finished: bool = True
) -> None:
    prop.state = state
    prop.outcome = as_column(outcome)
    prop.finished_at = timezone.now() if finished else None
    prop.save(update_fields=["state", "outcome", "attempts", "run", "finished_at"])


def _send(client: CrmApi, prop: ErasurePropagation) -> StoredText:
    entity, record_id = prop.entity_type, str(prop.crm_id)
    row = _read(client, entity, record_id)
    changes: dict[str, Any] = {"donotbulkemail": True}
    action = ErasureInCrm(prop.action)
    if action in (ErasureInCrm.FLAG_AND_NOTE, ErasureInCrm.FLAG_NOTE_AND_CLEAR):
        changes["description"] = _with_note(str(row.get("description") or ""), prop)
        for column in prop.clear_columns if action == ErasureInCrm.FLAG_NOTE_AND_CLEAR else []:
            changes[column] = None
    client.update(entity_set(entity), record_id, changes)
    if action == ErasureInCrm.OWNER_TASK:
        _owner_task(client, prop, row)
        return stored_text(
            "“Do not allow bulk email” set; a task was created for the record's owner."
        )
    if action == ErasureInCrm.FLAG_NOTE_AND_CLEAR:
        return stored_text(
            "“Do not allow bulk email” set, the erasure noted in the "
            "description, %(n)s columns cleared.",
            n=len(prop.clear_columns),
        )
    return stored_text("“Do not allow bulk email” set and the erasure noted in the description.")


def _read(client: CrmApi, entity: str, record_id: str) -> dict[str, Any]:
    pk = primary_key(entity)
    prefer = ['odata.include-annotations="Microsoft.Dynamics.CRM.lookuplogicalname"']
    for page in client.query_pages(
        entity_set(entity),
        select=[pk, "description", "_ownerid_value"],
        filter=f"{pk} eq {record_id}",
        prefer=prefer,
    ):
        rows = page.get("value") or []
        if rows:
            return dict(rows[0])
    raise NotFound(f"{entity} {record_id} not found")


def _note(prop: ErasurePropagation) -> str:
    # Written into the CRM, in the requester's language (the run's language).
    return gettext(
        "mailworx: the personal data of this person's newsletter subscriber was erased on "
        "%(date)s at the person's request (GDPR Art. 17). Do not send bulk email."
    ) % {"date": prop.created_at.date().isoformat()}


def _with_note(description: str, prop: ErasurePropagation) -> str:
    note = _note(prop)
    if note in description:
        return description  # a retry after a lost answer: noted already
    keep = DESCRIPTION_MAX - len(note) - 2
    kept = description[-keep:] if keep > 0 else ""
    return f"{kept}\n\n{note}".strip()


def _owner_task(client: CrmApi, prop: ErasurePropagation, row: dict[str, Any]) -> None:
    entity = prop.entity_type
    task: dict[str, Any] = {
        "subject": gettext("Personal data erased in mailworx: review this record"),
        "description": _note(prop)
        + "\n"
        + gettext(
            "Check whether the CRM must also erase or correct data of this record "
            "(GDPR Art. 17, 19)."
        ),
        f"regardingobjectid_{entity}_task@odata.bind": f"/{entity_set(entity)}({prop.crm_id})",
    }
    owner, owner_type = row.get("_ownerid_value"), row.get(OWNER_TYPE)
    if owner and owner_type in ("systemuser", "team"):
        task["ownerid@odata.bind"] = f"/{entity_set(str(owner_type))}({owner})"
    task_id = uuid.uuid5(TASK_NAMESPACE, f"{prop.tenant_id}:{prop.pk}")
    client.create("tasks", task, id=str(task_id))
