"""A CRM row onto its link and subscriber: S11 per field, S13, C6 and C13.

Only mapped fields are read or written (C13: unmapped subscriber fields are never
touched). The CRM's values that equal ``synced_values`` are our own writes read back and
change nothing. Fields the mailworx side wins mark the link ``needs_push``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext_noop

from audience.bulk_updates import update_subscribers
from audience.models import Subscriber, SubscriberValue
from audience.subscribers import SubscriberError, update_subscriber
from syncjobs.engine.conflicts import Rule, Side, decide, explain
from syncjobs.engine.consent import crm_consent
from syncjobs.engine.context import Sync, parse_time
from syncjobs.engine.entities import SUBSCRIBER_ID, names_subscriber
from syncjobs.engine.fields import UNMAPPED, MappedField, crm_value
from syncjobs.engine.provenance import record_sources
from syncjobs.models.sync import RecordLink

SubValues = dict[str, tuple[str, dt.datetime | None]]
Item = tuple[RecordLink, Subscriber, list[MappedField], dict[str, Any]]


@dataclass
class Resolution:
    to_subscriber: dict[str, str] = field(default_factory=dict)
    synced: dict[str, Any] = field(default_factory=dict)
    needs_push: bool = False
    not_copyable: int = 0
    # The fields S11 gave to one side, and the rule that did (the fields' provenance).
    winners: dict[str, tuple[Side, Rule]] = field(default_factory=dict)


def subscriber_values(subscriber_ids: Iterable[int], *,
                      with_modified: bool = True) -> dict[int, SubValues]:
    """Mapped-field values per subscriber: ``{key: (value, modified_at)}``.

    ``with_modified=False`` leaves the times out (``None``) for callers that only compare
    values (push): converting them is most of the cost of reading many values.
    """
    out: dict[int, SubValues] = {}
    qs = SubscriberValue.objects.filter(subscriber_id__in=list(subscriber_ids))
    if with_modified:
        for sid, key, value, modified in qs.values_list(
                "subscriber_id", "field__key", "value", "modified_at"):
            out.setdefault(sid, {})[key] = (value, modified)
    else:
        for sid, key, value in qs.values_list("subscriber_id", "field__key", "value"):
            out.setdefault(sid, {})[key] = (value, None)
    return out


def resolve(mapped: list[MappedField], row: dict[str, Any], related: dict[Any, Any],
            values: SubValues, synced: dict[str, Any], *, pull_allowed: bool,
            prefer_crm_when_new: bool = False) -> Resolution:
    res = Resolution(synced=dict(synced))
    crm_modified = parse_time(row.get("modifiedon"))
    for mf in mapped:
        cv = crm_value(mf, row, related)
        if cv is UNMAPPED:
            res.not_copyable += 1
            continue
        sv, smod = values.get(mf.key, ("", None))
        if not pull_allowed:
            # C6 off: mailworx → CRM only; CRM-side changes are not taken over.
            if decide(mf, sub_value=sv, sub_modified=smod, crm_value=cv,
                      crm_modified=crm_modified, synced={}) is Side.SAME:
                res.synced[mf.key] = sv
            elif mf.two_way and (sv != "" if mf.key not in synced else sv != synced[mf.key]):
                res.needs_push = True
            continue
        side, rule = explain(mf, sub_value=sv, sub_modified=smod, crm_value=cv,
                             crm_modified=crm_modified, synced=synced,
                             prefer_crm_when_new=prefer_crm_when_new)
        if side is Side.SAME:
            res.synced[mf.key] = sv
            continue
        assert rule is not None
        res.winners[mf.key] = (side, rule)
        if side is Side.CRM:
            res.to_subscriber[mf.key] = cv
            res.synced[mf.key] = cv
        else:
            res.needs_push = True
    return res


def apply_row(sync: Sync, step: str, link: RecordLink, subscriber: Subscriber,
              mapped: list[MappedField], row: dict[str, Any], related: dict[Any, Any],
              values: SubValues, *, prefer_crm_when_new: bool = False) -> None:
    """Resolve and write one active CRM row; the caller holds the batch transaction."""
    allowed = sync.pull_allowed(link.origin)
    res = resolve(mapped, row, related, values, link.synced_values, pull_allowed=allowed,
                  prefer_crm_when_new=prefer_crm_when_new)
    if res.not_copyable:
        sync.skip(step, gettext_noop("CRM value without a mapped option"), res.not_copyable)
    if res.to_subscriber:
        try:
            changed = update_subscriber(subscriber, res.to_subscriber)
        except SubscriberError as exc:
            _refused(sync, step, link, subscriber, exc)
            return
        _count_changed(sync, step, changed)
    _finish(sync, step, link, subscriber, row, res, allowed)
    link.save()


def apply_many(sync: Sync, step: str, items: Sequence[Item], related: dict[Any, Any],
               values: dict[int, SubValues], *, prefer_crm_when_new: bool = False
               ) -> list[RecordLink]:
    """``apply_row`` for a batch: the subscribers' new values go out in one bulk write.

    Returns the links it changed (in memory); the caller writes them (``save_links`` or,
    for new links, ``bulk_create``) in its batch transaction. A link whose subscriber values
    were refused is left as it was and listed as an issue, as ``apply_row`` does.
    """
    resolved = []
    changes: dict[int, dict[str, str]] = {}
    for link, subscriber, mapped, row in items:
        allowed = sync.pull_allowed(link.origin)
        res = resolve(mapped, row, related, values.get(subscriber.pk, {}), link.synced_values,
                      pull_allowed=allowed, prefer_crm_when_new=prefer_crm_when_new)
        if res.not_copyable:
            sync.skip(step, gettext_noop("CRM value without a mapped option"), res.not_copyable)
        if res.to_subscriber:
            changes[subscriber.pk] = res.to_subscriber
        resolved.append((link, subscriber, row, res, allowed))
    outcome = update_subscribers(sync.tenant, changes) if changes else {}
    done = []
    for link, subscriber, row, res, allowed in resolved:
        result = outcome.get(subscriber.pk)
        if isinstance(result, SubscriberError):
            _refused(sync, step, link, subscriber, result)
            continue
        if result:
            _count_changed(sync, step, result)
        _finish(sync, step, link, subscriber, row, res, allowed)
        done.append(link)
    return done


def _refused(sync: Sync, step: str, link: RecordLink, subscriber: Subscriber,
             exc: SubscriberError) -> None:
    from syncjobs.engine.issues import record_issue

    record_issue(sync.tenant, step=step, run_id=sync.ctx.run_id,
                 subscriber_id=subscriber.pk, entity_type=link.entity_type,
                 crm_id=link.crm_id, reason=str(exc),
                 hint="Correct the value in the CRM record; the next sync takes it.")
    sync.count(step, "failed")


def _count_changed(sync: Sync, step: str, changed: list[str]) -> None:
    if changed:
        sync.count(step, "fields_updated", len(changed))
        sync.count(step, "subscribers_updated")


def _finish(sync: Sync, step: str, link: RecordLink, subscriber: Subscriber,
            row: dict[str, Any], res: Resolution, allowed: bool) -> None:
    """Status (S13) and the link's memory of the row; the caller saves the link."""
    if allowed and "donotbulkemail" in row:
        # S13 and N6: the CRM's "do not allow bulk email" and its re-opt-ins.
        crm_consent(sync, step, link, subscriber, row)
    # The marker mirrors the CRM's flag, so a later clearing is seen as a change.
    if "donotbulkemail" in row:
        link.bulk_email_blocked = bool(row["donotbulkemail"])
    if SUBSCRIBER_ID in row:
        # A record linked but not created by us, or one whose id went stale (S9 merge,
        # an edit in the CRM): push writes the subscriber's id in its next bulk update.
        link.subscriber_id_written = names_subscriber(row, subscriber.pk)
        link.needs_push = link.needs_push or not link.subscriber_id_written
    link.synced_values = res.synced
    if res.winners:
        link.field_sources = record_sources(link.field_sources, sync.ctx.run_id, res.winners)
    link.needs_push = link.needs_push or res.needs_push
    link.crm_active = True
    link.crm_modifiedon = parse_time(row.get("modifiedon"))
    version = row.get("versionnumber")
    link.crm_versionnumber = int(version) if version is not None else None
