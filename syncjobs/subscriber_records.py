"""A subscriber's CRM side, for its page: the linked records (table, name, state, a link
that opens each in Dynamics), why each mapped field has its value (S11 provenance) and the
sync runs that touched the subscriber.

Everything comes from what the engine already recorded (links, their ``field_sources``,
issues and their history): a page never asks the CRM.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from audience.models import Subscriber, SubscriberField
from syncjobs.engine.conflicts import Rule, Side
from syncjobs.engine.provenance import PENDING
from syncjobs.models import JobRun, LinkState, RecordLink, SyncIssue, SyncIssueAttempt
from syncjobs.record_names import record_url, table_label, tenant_crm_url

SIDE_LABELS: dict[str, Promise] = {
    Side.CRM: _("CRM"),
    Side.MAILWORX: _("mailworx"),
}

RULE_LABELS: dict[str, Promise] = {
    Rule.ONE_WAY: _("The mapping goes from the CRM to mailworx only."),
    Rule.BACKFILL: _("A new field mapping takes the CRM's value on its first sync."),
    Rule.NEW_EMPTY: _("Never synced before, and only this side had a value."),
    Rule.CHANGED_ONE_SIDE: _("Changed on this side only since the last sync."),
    Rule.NEWER: _("Changed on both sides: this side's change was the newer one."),
    Rule.TIE: _("Changed on both sides at the same time: the CRM wins a tie."),
    Rule.CREATED: _("The CRM record was created from the subscriber."),
}

# Standard fields that make up a record's name, per table (first found wins).
_NAME_KEYS = {"account": (("company",),)}
_PERSON_KEYS = (("first_name", "last_name"), ("company",))
HISTORY_LIMIT = 50


@dataclass(frozen=True)
class FieldSource:
    key: str
    label: str
    value: str  # as last synced
    side: str
    side_label: str
    run_id: int | None
    rule: str
    rule_label: str
    pending: bool  # decided for mailworx, not yet confirmed by the CRM


@dataclass(frozen=True)
class Source:
    side: str
    run_id: int | None
    rule: str
    pending: bool


@dataclass
class LinkedRecord:
    link: RecordLink
    table_label: str
    name: str
    url: str
    fields: list[FieldSource] = field(default_factory=list)

    @property
    def state_label(self) -> str:
        if self.link.state == LinkState.ACTIVE and not self.link.crm_active:
            return str(_("Deactivated in the CRM"))
        return str(self.link.get_state_display())


def record_name(entity_type: str, synced: dict[str, Any]) -> str:
    """The record's name as mailworx last synced it (its name fields), or ""."""
    for keys in _NAME_KEYS.get(entity_type, _PERSON_KEYS):
        name = " ".join(str(synced.get(k) or "").strip() for k in keys).strip()
        if name:
            return name
    return ""


def linked_records(subscriber: Subscriber) -> list[LinkedRecord]:
    """The subscriber's links, the holding one first, each with its fields' provenance."""
    links = list(RecordLink.objects.filter(subscriber=subscriber).order_by("state", "-updated_at"))
    if not links:
        return []
    crm_url = tenant_crm_url(subscriber.tenant_id)
    labels = {f.key: f.label for f in SubscriberField.objects.filter(tenant=subscriber.tenant_id)}
    holding = {LinkState.ACTIVE: 0, LinkState.PENDING: 1, LinkState.CRM_DELETED: 2}
    links.sort(key=lambda link: holding.get(LinkState(link.state), 3))
    out = []
    for link in links:
        record = LinkedRecord(
            link,
            table_label(link.entity_type),
            record_name(link.entity_type, link.synced_values),
            record_url(link.tenant_id, link.entity_type, str(link.crm_id), crm_url=crm_url)
            if link.state != LinkState.PENDING
            else "",
        )
        for key, src in sorted(
            field_sources(link).items(), key=lambda kv: labels.get(kv[0], kv[0])
        ):
            record.fields.append(
                FieldSource(
                    key,
                    labels.get(key, key),
                    str(link.synced_values.get(key, "")),
                    src.side,
                    str(SIDE_LABELS.get(src.side, src.side)),
                    src.run_id,
                    src.rule,
                    str(RULE_LABELS.get(src.rule, src.rule)),
                    src.pending,
                )
            )
        out.append(record)
    return out


def field_sources(link: RecordLink) -> dict[str, Source]:
    """The link's provenance per field key (syncjobs/engine/provenance.py); malformed
    entries left out."""
    out: dict[str, Source] = {}
    for key, source in (link.field_sources or {}).items():
        if isinstance(source, list | tuple) and len(source) in (3, 4):
            run_id = source[1] if isinstance(source[1], int) else None
            pending = len(source) == 4 and source[3] == PENDING
            out[key] = Source(str(source[0]), run_id, str(source[2]), pending)
    return out


def sync_history(subscriber: Subscriber, records: list[LinkedRecord]) -> list[JobRun]:
    """Runs that touched the subscriber, newest first: those that set one of its fields,
    and those that failed, retried or resolved one of its issues."""
    run_ids = {f.run_id for r in records for f in r.fields if f.run_id is not None}
    issues = SyncIssue.objects.filter(subscriber=subscriber)
    run_ids.update(issues.exclude(run=None).values_list("run_id", flat=True))
    run_ids.update(
        SyncIssueAttempt.objects.filter(issue__in=issues)
        .exclude(run=None)
        .values_list("run_id", flat=True)
    )
    return list(
        JobRun.objects.filter(pk__in=run_ids, tenant_id=subscriber.tenant_id)
        .select_related("tenant")
        .order_by("-created_at", "-pk")[:HISTORY_LIMIT]
    )
