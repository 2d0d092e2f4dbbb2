"""journeys: consent ↔ Customer Insights – Journeys (docs/sync-engine.md §Contact point consent).

Only where the organisation has the contact point consent table; elsewhere "do not allow
bulk email" carries consent alone (S13, push and pull), as it also keeps doing here.

1. Which purpose (``journeys:table``): found once and checked again after a day, so an
   organisation that installs or removes Journeys is noticed without a request per run.
2. Addresses to look at: those of rows changed in the table since the ``journeys:read``
   watermark (the CRM's ``modifiedon``), and those of linked subscribers who opted in or
   out since the ``journeys:write`` watermark or were linked since its last link id —
   every linked subscriber on the first run.
3. Per address, the newer statement wins (``engine.journeys``): Journeys' goes to the
   subscribers through the consent service, mailworx's is written to the table in bulk.

A write that fails leaves the write watermark where it was, so the next run tries again;
the failure is a sync issue of the subscriber.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext_noop

from audience.consent import ConsentRefused, Who, record_change
from audience.models import ConsentEvent, ConsentSource, ConsentState, Subscriber
from dynamics.errors import BadRequest, NotFound, PrivilegeError
from dynamics.journeys import CONSENT_TABLE, ConsentRow, ConsentStatus, JourneysConsent
from mailworx_crm.crm_errors import describe
from mailworx_crm.email_address import normalise_email
from mailworx_crm.texts import deferred as _
from syncjobs.engine.context import Sync, parse_time
from syncjobs.engine.issues import OPEN_STATES, record_issue, resolve_issues
from syncjobs.engine.journeys import (
    OPTED_IN_STATES,
    Statement,
    Verdict,
    changed_at,
    consent_write,
    journeys_statement,
    mailworx_statement,
    reaches,
    saying,
    target_state,
    verdict,
)
from syncjobs.models import JobLogLine
from syncjobs.models.sync import IssueState, LinkState, RecordLink, SyncCursor, SyncIssue

STEP = "journeys"
TABLE, READ, WRITE = "journeys:table", "journeys:read", "journeys:write"
ABSENT = "-"  # the table cursor's signature when the organisation has no Journeys
RECHECK = dt.timedelta(days=1)
OVERLAP = dt.timedelta(minutes=5)  # late commits and clock skew between the two sides
CHUNK = 500  # addresses per look-up and bulk write
# The subscriber fields the consent statements read (engine.journeys) and writes name.
STATEMENT_FIELDS = ("id", "tenant_id", "email", "email_normalised", "consent",
                    "consent_changed_at", "created_at")


def run_journeys(sync: Sync) -> None:
    try:
        _run(sync)
    except (PrivilegeError, BadRequest) as exc:
        # The table refused the connector (rights, a purpose it cannot use): the rest of
        # the run goes on, and "do not allow bulk email" still carries consent (S13).
        record_issue(sync.tenant, step=STEP, run_id=sync.ctx.run_id, code=exc.code or "",
                     reason=describe(exc), hint=_(
                         "Give the connector's security role Create, Read, Write and Append "
                         "on the contact point consent table and Read and AppendTo on the "
                         "purpose table in the CRM; the next sync catches up."))
        sync.log(_("Consent could not be kept in Customer Insights – Journeys in this run: "
                   "%(reason)s") % {"reason": describe(exc)}, JobLogLine.Level.WARNING)
        sync.count(STEP, "failed")
        return
    # The step went through: a refusal of an earlier run is over.
    SyncIssue.objects.filter(tenant=sync.tenant, step=STEP, subscriber__isnull=True,
                             state__in=OPEN_STATES).update(state=IssueState.RESOLVED)


def _run(sync: Sync) -> None:
    journeys = _journeys(sync)
    if journeys is None:
        return
    read = _cursor(sync, READ)
    write = _cursor(sync, WRITE)
    try:
        rows = [] if read.watermark is None else list(sync.client.consent_changes(
            journeys.purpose_id, _iso(read.watermark - OVERLAP)))
    except NotFound:
        _forget(sync)  # the table or purpose went away: look again next run
        return
    sync.observe(STEP, "rows_read", len(rows))
    from_crm = sorted({normalise_email(r.address) for r in rows if r.address} - {""})
    last_link = RecordLink.objects.filter(tenant=sync.tenant).order_by("-pk").values_list(
        "pk", flat=True).first() or 0
    changed = _changed_addresses(sync, write)
    sync.add_work(len(from_crm) + changed.count())
    failed = False
    for chunk in _chunks(from_crm, changed):
        failed = _reconcile(sync, journeys, chunk) or failed
        sync.checkpoint(STEP, len(chunk))
    newest = max((t for r in rows if (t := parse_time(r.modified_on))), default=None)
    read.watermark = max(filter(None, (read.watermark, newest)), default=sync.started)
    read.save()
    if not failed:
        write.watermark, write.last_key = sync.started, str(last_link)
        write.save()


def _cursor(sync: Sync, name: str) -> SyncCursor:
    cursor, _new = SyncCursor.objects.get_or_create(tenant=sync.tenant, name=name)
    return cursor


def _journeys(sync: Sync) -> JourneysConsent | None:
    """The consent purpose, from the table cursor or asked afresh (see module doc, 1.)."""
    cursor = _cursor(sync, TABLE)
    fresh = cursor.watermark is not None and cursor.watermark > sync.started - RECHECK
    if fresh and cursor.signature:
        return None if cursor.signature == ABSENT else JourneysConsent(cursor.signature,
                                                                       cursor.last_key)
    found = sync.client.journeys_consent()
    if found is None and cursor.signature not in ("", ABSENT):
        sync.log(_("The CRM no longer has the consent table of Customer Insights – Journeys: "
                   "consent is carried by “do not allow bulk email” alone."))
    elif found is not None and cursor.signature != found.purpose_id:
        sync.log(_("The CRM keeps consent in Customer Insights – Journeys: opt-ins and "
                   "opt-outs are recorded there for the purpose “%(purpose)s” and read back.")
                 % {"purpose": found.purpose_name})
    cursor.signature = found.purpose_id if found else ABSENT
    cursor.last_key = found.purpose_name[:100] if found else ""
    cursor.watermark = sync.started
    cursor.save()
    return found


def _forget(sync: Sync) -> None:
    SyncCursor.objects.filter(tenant=sync.tenant, name=TABLE).update(signature="")


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _chunks(from_crm: list[str], changed: QuerySet[Subscriber, str]) -> Iterator[list[str]]:
    """The CRM's changed addresses, then mailworx's, CHUNK at a time. Mailworx's are read
    page by page (keyset on the address): on the first run they are every linked
    subscriber's, and a million of them held at once cost hundreds of megabytes."""
    for start in range(0, len(from_crm), CHUNK):
        yield from_crm[start:start + CHUNK]
    seen, last = set(from_crm), ""
    while page := list(changed.filter(email_normalised__gt=last)[:CHUNK]):
        last = page[-1]
        if chunk := [a for a in page if a not in seen]:
            yield chunk


def _changed_addresses(sync: Sync, cursor: SyncCursor) -> QuerySet[Subscriber, str]:
    """Addresses (in order, each once) of linked subscribers that made a consent statement
    since the cursor, or that were linked since (every linked one the first time). Links
    come only from sync runs, one at a time per tenant, so their ids need no overlap;
    consent changes come from anywhere (forms, imports, the API), so they get one."""
    # A correlated EXISTS (per subscriber, by the link's subscriber index) rather than
    # "pk IN (every linked id)": the addresses are read page by page, and the IN list
    # would be built again for every page — quadratic in the tenant's size.
    linked = RecordLink.objects.filter(subscriber_id=OuterRef("pk"), state=LinkState.ACTIVE)
    subs = Subscriber.objects.live().filter(Exists(linked), tenant=sync.tenant)
    if cursor.watermark is not None:
        stated = ConsentEvent.objects.filter(
            tenant=sync.tenant, recorded_at__gte=cursor.watermark - OVERLAP,
            state__in=[ConsentState.OPTED_OUT, *OPTED_IN_STATES])
        since_link = int(cursor.last_key) if cursor.last_key.isdigit() else 0
        subs = subs.filter(Q(pk__in=stated.values("subscriber_id"))
                           | Q(Exists(linked.filter(pk__gt=since_link))))
    return (subs.exclude(email_normalised="").order_by("email_normalised")
            .values_list("email_normalised", flat=True).distinct())


def _reconcile(sync: Sync, journeys: JourneysConsent, addresses: list[str]) -> bool:
    """Settle one chunk of addresses; True when a write failed."""
    subscribers: dict[str, list[Subscriber]] = {}
    # Only what the statements read: a whole subscriber row per address cost a third of
    # the step (the rare subscriber that changes loads the rest when it is saved).
    for sub in (Subscriber.objects.live()
                .filter(tenant=sync.tenant, email_normalised__in=addresses)
                .only(*STATEMENT_FIELDS)):
        subscribers.setdefault(sub.email_normalised, []).append(sub)
    # Rows of addresses no subscriber has (Journeys' own forms, other systems) need nothing.
    addresses = [a for a in addresses if a in subscribers]
    if not addresses:
        return False
    sources = _latest_sources([s.pk for group in subscribers.values() for s in group])
    found = sync.client.consent_rows(journeys.purpose_id, addresses)
    rows: dict[str, list[ConsentRow]] = {}
    for found_rows in found.values():
        for row in found_rows:
            rows.setdefault(normalise_email(row.address), []).append(row)
    writes: list[tuple[str, list[Subscriber], Statement]] = []
    for address in addresses:
        group = subscribers.get(address, [])
        ours = mailworx_statement(group, sources)
        theirs = journeys_statement(rows.get(address, []))
        outcome = verdict(ours, theirs)
        if outcome is Verdict.APPLY and theirs is not None:
            _apply(sync, journeys, [s for s in group if reaches(s, theirs, sources)], theirs)
        elif outcome is Verdict.WRITE and ours is not None:
            writes.append((address, group, ours))
    return _write(sync, journeys, writes, rows, sources)


def _apply(sync: Sync, journeys: JourneysConsent, group: Sequence[Subscriber],
           statement: Statement) -> None:
    row = statement.row
    assert row is not None
    state = target_state(statement)
    detail = {"table": CONSENT_TABLE, "record_id": row.id, "purpose": journeys.purpose_name,
              "crm_user": row.modified_by, "modifiedon": row.modified_on,
              "source": row.source, "reason": row.reason, "run_id": sync.ctx.run_id}
    who = Who(actor=f"sync run {sync.ctx.run_id}")
    for sub in group:
        try:
            event = record_change(sub, state, source=ConsentSource.CRM_CONSENT_TABLE,
                                  detail=detail, who=who, at=statement.at,
                                  allow_crm_resubscribe=sync.org.crm_resubscribe)
        except ConsentRefused:
            sync.skip(STEP, gettext_noop("consent rules refused the CRM's change"))
            continue
        if event is not None:
            sync.count(STEP, {ConsentState.OPTED_OUT: "unsubscribed",
                              ConsentState.AWAITING_CONFIRMATION: "awaiting_confirmation"
                              }.get(ConsentState(event.state), "opted_in"))


def _write(sync: Sync, journeys: JourneysConsent,
           writes: list[tuple[str, list[Subscriber], Statement]],
           rows: dict[str, list[ConsentRow]], sources: dict[int, str]) -> bool:
    if not writes:
        return False
    items, existing = [], {}
    for address, group, statement in writes:
        said = saying(group, statement.status, sources)
        newest = max(said, key=lambda s: (changed_at(s), s.pk))
        item = consent_write(newest.email, statement, sources.get(newest.pk, ""))
        existing[item.address.strip().lower()] = rows.get(address, [])
        items.append((item, group))
    results = sync.client.write_consent(journeys.purpose_id, [i for i, _g in items], existing)
    failed = False
    written: list[int] = []
    for (item, group), result in zip(items, results, strict=True):
        if result.ok:
            sync.count(STEP, "opt_outs_written" if item.status == ConsentStatus.OPTED_OUT
                       else "opt_ins_written")
            written += [s.pk for s in group]
            continue
        failed = True
        sync.count(STEP, "failed")
        reason = describe(result.error) if result.error is not None else _(
            "The CRM refused the change (HTTP %(status)s).") % {"status": result.status}
        for sub in group:
            record_issue(sync.tenant, step=STEP, run_id=sync.ctx.run_id,
                         subscriber_id=sub.pk, code=(result.error.code or "")
                         if result.error else "", reason=reason,
                         hint=_("The consent is recorded in Customer Insights – Journeys "
                                "with the next sync; check the connector's rights on the "
                                "contact point consent table."))
    resolve_issues(sync.tenant, STEP, written, run_id=sync.ctx.run_id)
    return failed


def _latest_sources(subscriber_ids: list[int]) -> dict[int, str]:
    """Where the change behind each subscriber's current permission came from (the last
    one recorded: an import may date a change back)."""
    out: dict[int, str] = {}
    events = (ConsentEvent.objects.filter(subscriber_id__in=subscriber_ids)
              .order_by("subscriber_id", "-recorded_at", "-id")
              .values_list("subscriber_id", "source"))
    for subscriber_id, source in events:
        out.setdefault(subscriber_id, source)
    return out
