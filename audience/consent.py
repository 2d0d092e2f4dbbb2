"""Consent: the one service every path that adds or changes subscribers goes through (N6).

Public functions (their names are stable; other modules build on them):

- ``is_suppressed(tenant, email)`` / ``suppression_of(tenant, email)`` — one address.
- ``suppressed_among(tenant, emails)`` — many addresses at once: ``{normalised: reason}``.
- ``suppress(tenant, email, reason, at=…)`` — put an address on the suppression list.
- ``proves_opt_in(state, detail, after=…)`` / ``confirmed_at(detail)`` — the proof rule.
- ``guard_create(tenant, email, state=…, detail=…)`` — may a *new* subscriber with this
  address be created? Returns a ``Decision`` (``allowed``, ``reason``, ``message``).
- ``guard_change(subscriber, state, source=…, detail=…, allow_crm_resubscribe=…)`` — may
  the permission change to ``state``? The ``Decision`` says which state it really becomes
  (a CRM re-opt-in becomes "awaiting confirmation").
- ``record_change(subscriber, state, source=…, …)`` — apply ``guard_change``'s decision,
  write the history entry, keep the suppression list; ``ConsentRefused`` when refused.
- ``record_created(subscribers, source=…, …)`` — the first history entry of new
  subscribers (their ``consent`` as created).
- ``record_many(subscribers, state, source=…, …)`` — one change for many subscribers
  (hard bounces), no re-subscription.
- ``audience.consent_merge``: ``stricter(a, b)`` — the state a merge keeps (S9, S13);
  ``merge_consent(survivor, source, at)`` applies it and returns the history entry to save.
- ``history(subscriber)`` — the entries, newest first.
- ``purge_events(queryset)`` — the only way to delete history entries (erasure, retention).
- ``audience.address_change.follow_address_change(subscriber, old_email)`` — an address
  changed on either side: the permission stays with the subscriber (the new address
  inherits it), the old address is suppressed as superseded.

Rules: an opt-out or a bounce always applies and suppresses the address. A suppressed address
is never created again and a subscriber who opted out, bounced or awaits confirmation is never
made a recipient again — except by a provable new opt-in: a double opt-in with its
confirmation time, or a CRM change when the tenant explicitly allows CRM-driven
re-subscription. Without that setting a CRM re-opt-in leads to "awaiting confirmation".
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from audience.models import (
    ConsentEvent,
    ConsentSource,
    ConsentState,
    Subscriber,
    SubscriberStatus,
    SuppressedAddress,
    SuppressionReason,
)
from audience.suppression import (  # noqa: F401 - public here (see the docstring)
    is_suppressed,
    lift,
    suppress,
    suppress_id,
    suppressed_among,
    suppressed_message,
    suppression_of,
)
from audience.suppression_key import address_hash
from tenants.models import Tenant

# States that stop mail and that only a provable opt-in leaves.
RESTRICTIVE = frozenset(
    {ConsentState.OPTED_OUT, ConsentState.BOUNCED, ConsentState.AWAITING_CONFIRMATION}
)
SUPPRESSES = {
    ConsentState.OPTED_OUT: SuppressionReason.OPTED_OUT,
    ConsentState.BOUNCED: SuppressionReason.HARD_BOUNCE,
}

# What a request for a mailing status means as a permission (the API's ``status``).
STATE_FOR_STATUS = {
    SubscriberStatus.ACTIVE: ConsentState.OPTED_IN,
    SubscriberStatus.PENDING: ConsentState.AWAITING_CONFIRMATION,
    SubscriberStatus.UNSUBSCRIBED: ConsentState.OPTED_OUT,
    SubscriberStatus.BOUNCED: ConsentState.BOUNCED,
}


class DecisionReason(enum.StrEnum):
    OK = "ok"
    SUPPRESSED = "suppressed"  # the address is on the suppression list
    NEEDS_OPT_IN = "needs_opt_in"  # a re-subscription without provable opt-in
    NEEDS_CONFIRMATION = "needs_confirmation"  # allowed, but only to awaiting confirmation
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: DecisionReason
    state: ConsentState | None = None  # the state it becomes when allowed
    message: str = ""
    suppression: SuppressionReason | None = None

    def __bool__(self) -> bool:
        return self.allowed


class ConsentRefused(ValueError):
    """A change the consent rules refuse; the message is meant for an admin (N3)."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.message)
        self.decision = decision


@dataclass(frozen=True)
class Who:
    """Who made a change: a user, or a readable name for the system ("sync run 42")."""

    user: Any = None
    actor: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        if self.actor:
            return self.actor
        return str(getattr(self.user, "email", "") or "") if self.user else "system"


SYSTEM = Who(actor="system")


# --- decisions ---------------------------------------------------------------------------------


def confirmed_at(detail: Mapping[str, Any] | None) -> dt.datetime | None:
    """The confirmation time of a double opt-in's ``detail``, if it holds a valid one."""
    raw = (detail or {}).get("confirmed_at")
    if isinstance(raw, dt.datetime):
        moment = raw
    else:
        try:
            moment = dt.datetime.fromisoformat(str(raw or ""))
        except ValueError:
            return None
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


def proves_opt_in(
    state: ConsentState | str,
    detail: Mapping[str, Any] | None,
    *,
    after: dt.datetime | None = None,
) -> bool:
    """A double opt-in with its confirmation time is the accepted proof of a new opt-in —
    when it was confirmed after ``after`` (the opt-out, bounce or erasure it overrides): an
    old confirmation, say from an imported list, proves nothing about a later opt-out."""
    if state != ConsentState.DOUBLE_OPT_IN:
        return False
    moment = confirmed_at(detail)
    return moment is not None and (after is None or moment > after)


def guard_create(
    tenant: Tenant,
    email: str,
    *,
    state: ConsentState = ConsentState.UNKNOWN,
    detail: Mapping[str, Any] | None = None,
) -> Decision:
    """May a new subscriber with ``email`` be created in ``state``?"""
    if state == ConsentState.DOUBLE_OPT_IN and not proves_opt_in(state, detail):
        return Decision(
            False,
            DecisionReason.NEEDS_OPT_IN,
            message=_("A double opt-in needs the time it was confirmed (detail “confirmed_at”)."),
        )
    entry = suppression_of(tenant, email)
    if entry is None or proves_opt_in(state, detail, after=entry.suppressed_at):
        return Decision(True, DecisionReason.OK, state)
    reason = SuppressionReason(entry.reason)
    return Decision(
        False,
        DecisionReason.SUPPRESSED,
        message=suppressed_message(email, reason),
        suppression=reason,
    )


def guard_change(
    subscriber: Subscriber,
    state: ConsentState,
    *,
    source: ConsentSource,
    detail: Mapping[str, Any] | None = None,
    allow_crm_resubscribe: bool = False,
) -> Decision:
    """May ``subscriber``'s permission become ``state``? ``allow_crm_resubscribe`` is the
    tenant's explicit choice that a CRM record allowing bulk email again re-subscribes."""
    current = ConsentState(subscriber.consent)
    if state == current:
        return Decision(True, DecisionReason.UNCHANGED, state)
    if state in RESTRICTIVE:
        return Decision(True, DecisionReason.OK, state)
    if state == ConsentState.DOUBLE_OPT_IN and not proves_opt_in(state, detail):
        return Decision(
            False,
            DecisionReason.NEEDS_OPT_IN,
            message=_("A double opt-in needs the time it was confirmed (detail “confirmed_at”)."),
        )
    entry = SuppressedAddress.objects.filter(
        tenant_id=subscriber.tenant_id, address_hash=address_hash(subscriber.email)
    ).first()
    if current not in RESTRICTIVE and entry is None:
        return Decision(True, DecisionReason.OK, state)
    since = [
        t
        for t in (
            entry.suppressed_at if entry else None,
            subscriber.consent_changed_at if current in RESTRICTIVE else None,
        )
        if t
    ]
    if proves_opt_in(state, detail, after=max(since) if since else None):
        return Decision(True, DecisionReason.OK, state)
    if source in (ConsentSource.CRM, ConsentSource.CRM_CONSENT_TABLE):
        if allow_crm_resubscribe:
            return Decision(True, DecisionReason.OK, state)
        if current == ConsentState.AWAITING_CONFIRMATION:
            return Decision(True, DecisionReason.UNCHANGED, current)
        return Decision(True, DecisionReason.NEEDS_CONFIRMATION, ConsentState.AWAITING_CONFIRMATION)
    reason = SuppressionReason(entry.reason) if entry else None
    message = (
        suppressed_message(subscriber.email, reason)
        if reason
        else _(
            "%(email)s is “%(state)s”; it can only become a recipient again with a confirmed "
            "double opt-in."
        )
        % {"email": subscriber.email, "state": current.label}
    )
    return Decision(False, DecisionReason.NEEDS_OPT_IN, message=message, suppression=reason)


# --- recording ---------------------------------------------------------------------------------


def history_entry(
    subscriber: Subscriber,
    state: ConsentState,
    previous: str,
    source: ConsentSource,
    detail: Mapping[str, Any] | None,
    who: Who,
    at: dt.datetime,
) -> ConsentEvent:
    return ConsentEvent(
        tenant_id=subscriber.tenant_id,
        subscriber_id=subscriber.pk,
        state=state,
        previous_state=previous,
        occurred_at=at,
        source=source,
        detail={**who.extra, **dict(detail or {})},
        user=who.user,
        actor=who.name[:200],
    )


def record_change(
    subscriber: Subscriber,
    state: ConsentState,
    *,
    source: ConsentSource,
    detail: Mapping[str, Any] | None = None,
    who: Who = SYSTEM,
    at: dt.datetime | None = None,
    allow_crm_resubscribe: bool = False,
) -> ConsentEvent | None:
    """Change the permission as ``guard_change`` decides; None when nothing changes.

    ``ConsentRefused`` when the rules refuse. The returned entry's ``state`` is the state
    the subscriber really got (a CRM re-opt-in may become "awaiting confirmation").
    """
    decision = guard_change(
        subscriber, state, source=source, detail=detail, allow_crm_resubscribe=allow_crm_resubscribe
    )
    if not decision.allowed:
        raise ConsentRefused(decision)
    if decision.reason is DecisionReason.UNCHANGED or decision.state is None:
        return None
    at = at or timezone.now()
    new = decision.state
    with transaction.atomic():
        event = history_entry(subscriber, new, subscriber.consent, source, detail, who, at)
        event.save()
        subscriber.consent, subscriber.consent_changed_at = new, at
        subscriber.save(update_fields=["consent", "consent_changed_at", "updated_at"])
        if new in SUPPRESSES:
            suppress_id(subscriber.tenant_id, subscriber.email, SUPPRESSES[new], at)
        elif new.may_receive:
            lift(subscriber.tenant_id, subscriber.email)
    return event


def record_created(
    subscribers: Sequence[Subscriber],
    *,
    source: ConsentSource,
    detail: Mapping[str, Any] | None = None,
    who: Who = SYSTEM,
    at: dt.datetime | None = None,
    details: Sequence[Mapping[str, Any] | None] | None = None,
) -> list[ConsentEvent]:
    """The first history entry of subscribers just created, in their ``consent`` state (the
    caller asked ``guard_create`` first). ``at``: when the permission was given (default:
    each subscriber's ``consent_changed_at``, e.g. an import's original consent date);
    ``details``: one detail per subscriber, instead of ``detail`` for all."""
    now = timezone.now()
    per = list(details) if details is not None else [detail] * len(subscribers)
    events = [
        history_entry(s, ConsentState(s.consent), "", source, d, who,
                      at or s.consent_changed_at or now)
        for s, d in zip(subscribers, per, strict=True)
    ]
    ConsentEvent.objects.bulk_create(events, batch_size=500)
    for sub, d in zip(subscribers, per, strict=True):
        if ConsentState(sub.consent) in SUPPRESSES:
            suppress_id(sub.tenant_id, sub.email, SUPPRESSES[ConsentState(sub.consent)], at)
        elif proves_opt_in(sub.consent, d):
            lift(sub.tenant_id, sub.email)
    return events


def record_many(
    subscribers: Sequence[Subscriber],
    state: ConsentState,
    *,
    source: ConsentSource,
    detail: Mapping[str, Any] | None = None,
    who: Who = SYSTEM,
    at: dt.datetime | None = None,
) -> int:
    """Move many subscribers to a restrictive ``state`` (e.g. hard bounces); returns how
    many changed. Re-subscriptions go one by one through ``record_change``."""
    if state not in RESTRICTIVE:
        raise ValueError("record_many only restricts; re-subscriptions need record_change")
    at = at or timezone.now()
    moving = [s for s in subscribers if s.consent != state]
    if not moving:
        return 0
    with transaction.atomic():
        ConsentEvent.objects.bulk_create(
            [history_entry(s, state, s.consent, source, detail, who, at) for s in moving],
            batch_size=500,
        )
        Subscriber.objects.filter(pk__in=[s.pk for s in moving]).update(
            consent=state, consent_changed_at=at, updated_at=at
        )
        for sub in moving:
            sub.consent, sub.consent_changed_at = state, at
            if state in SUPPRESSES:
                suppress_id(sub.tenant_id, sub.email, SUPPRESSES[state], at)
    return len(moving)


def history(subscriber: Subscriber) -> QuerySet[ConsentEvent]:
    return ConsentEvent.objects.filter(subscriber=subscriber).select_related("user")


def purge_events(queryset: QuerySet[ConsentEvent]) -> int:
    """Delete history entries — for erasure and retention only (their callers document
    why). Bypasses the append-only guard on purpose; returns how many were deleted."""
    ids = list(queryset.values_list("pk", flat=True))
    if not ids:
        return 0
    return int(ConsentEvent.objects.filter(pk__in=ids)._raw_delete(ConsentEvent.objects.db))
