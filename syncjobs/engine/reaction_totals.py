"""What one reaction activity holds: totals of a (campaign, subscriber) pair, as a payload.

Totals are always recomputed from every reaction of the pair in the database, never added
to what the CRM holds: writing the same activity twice (a retry, a resumed run, two runs)
then leaves the same numbers, so a reaction is counted exactly once (S4, N1).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from audience.models import BounceType, Campaign, Reaction, ReactionKind
from dynamics.odata import string_literal
from mailworx_crm.entity_types import entity_set
from mailworx_crm.texts import deferred as _
from tenants.models import Tenant

Pair = tuple[int, int]  # (campaign id, subscriber id)

ENTITY_SET = "mwx_emailreactions"
TABLE = "mwx_emailreaction"
BOUNCE_TYPES = {BounceType.SOFT: 100000000, BounceType.HARD: 100000001}
STATE_COMPLETED = (1, 2)  # statecode Completed, statuscode Completed
STATE_CANCELED = (2, 3)
SUBJECT_MAX = 200
URLS_MAX = 100_000
EMAIL_MAX = 100


@dataclass
class Totals:
    """The pair's reactions of the exported kinds (C4), summed up."""

    opens: int = 0
    clicks: int = 0
    bounces: int = 0
    bounce_type: str = ""  # of the latest bounce
    first: dt.datetime | None = None
    last: dt.datetime | None = None
    urls: list[str] = field(default_factory=list)  # distinct, in the order first clicked

    @property
    def empty(self) -> bool:
        return not (self.opens or self.clicks or self.bounces)

    def counts(self) -> dict[str, int]:
        return {"opens": self.opens, "clicks": self.clicks, "bounces": self.bounces}

    def add(self, kind: str, bounce_type: str, url: str, occurred: dt.datetime) -> None:
        if kind == ReactionKind.OPEN:
            self.opens += 1
        elif kind == ReactionKind.CLICK:
            self.clicks += 1
            if url not in self.urls:
                self.urls.append(url)
        else:
            self.bounces += 1
            self.bounce_type = bounce_type
        self.first = occurred if self.first is None else min(self.first, occurred)
        self.last = occurred if self.last is None else max(self.last, occurred)


def pair_totals(tenant: Tenant, pairs: Iterable[Pair], kinds: list[str]) -> dict[Pair, Totals]:
    """Totals of every given pair (pairs without reactions of ``kinds`` are left out)."""
    wanted = set(pairs)
    out: dict[Pair, Totals] = {}
    if not wanted or not kinds:
        return out
    rows = (Reaction.objects.filter(tenant=tenant, kind__in=kinds,
                                    campaign_id__in={c for c, _s in wanted},
                                    subscriber_id__in={s for _c, s in wanted})
            .order_by("occurred_at", "id")
            .values_list("campaign_id", "subscriber_id", "kind", "bounce_type", "url",
                         "occurred_at"))
    for campaign_id, subscriber_id, kind, bounce_type, url, occurred in rows.iterator(2000):
        pair = (campaign_id, subscriber_id)
        if pair in wanted:  # the IN filters also match other combinations of the two sets
            out.setdefault(pair, Totals()).add(kind, bounce_type, url, occurred)
    return out


def enabled_kinds(export_opens: bool, export_clicks: bool, export_bounces: bool) -> list[str]:
    flags = ((ReactionKind.OPEN, export_opens), (ReactionKind.CLICK, export_clicks),
             (ReactionKind.BOUNCE, export_bounces))
    return [str(kind) for kind, on in flags if on]


def reaction_key(pair: Pair) -> str:
    # A hyphen, not a slash: Dataverse refuses / < > * % & : \ ? + in key values in URLs.
    return f"{pair[0]}-{pair[1]}"


def target_ref(pair: Pair) -> str:
    """The activity named by its alternate key: an upsert target that can never duplicate."""
    return f"{ENTITY_SET}(mwx_reactionkey={string_literal(reaction_key(pair))})"


def _time(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def subject(campaign_name: str, totals: Totals) -> str:
    done = [word for word, n in ((_("opened"), totals.opens), (_("clicked"), totals.clicks),
                                 (_("bounced"), totals.bounces)) if n]
    tail = ", ".join(done) if done else _("no reactions (moved to another activity)")
    head = campaign_name[:SUBJECT_MAX - len(tail) - 2].rstrip()
    return f"{head}: {tail}"


def activity_payload(pair: Pair, campaign: Campaign, totals: Totals, kinds: list[str], *,
                     entity_type: str, crm_id: str, email: str) -> dict[str, Any]:
    """The whole activity: regarding the record, on the campaign, totals, Completed.

    Columns of kinds that are not exported (C4) are written empty, so the CRM never shows
    a stale figure for a kind the admin switched off.
    """
    urls = "\n".join(totals.urls)
    data: dict[str, Any] = {
        "@odata.id": target_ref(pair),
        "mwx_reactionkey": reaction_key(pair),
        "subject": subject(campaign.name, totals),
        f"regardingobjectid_{entity_type}_{TABLE}@odata.bind":
            f"/{entity_set(entity_type)}({crm_id})",
        "mwx_campaignid@odata.bind": f"/campaigns({campaign.crm_campaign_id})",
        "mwx_emailaddress": email[:EMAIL_MAX],
        "mwx_opens": totals.opens if ReactionKind.OPEN in kinds else None,
        "mwx_clicks": totals.clicks if ReactionKind.CLICK in kinds else None,
        "mwx_bounces": totals.bounces if ReactionKind.BOUNCE in kinds else None,
        "mwx_bouncetype": BOUNCE_TYPES.get(BounceType(totals.bounce_type))
        if totals.bounce_type else None,
        "mwx_clickedurls": urls[:URLS_MAX] if urls else None,
        "mwx_firstoccurredon": _time(totals.first),
        "mwx_lastoccurredon": _time(totals.last),
        "statecode": STATE_COMPLETED[0], "statuscode": STATE_COMPLETED[1],
    }
    if campaign.crm_campaign_activity_id:
        data["mwx_campaignactivityid@odata.bind"] = (
            f"/campaignactivities({campaign.crm_campaign_activity_id})")
    return data


def cleared_payload(pair: Pair, campaign: Campaign) -> dict[str, Any]:
    """An activity whose reactions moved elsewhere (merged subscriber): zero and Canceled.

    Emptied rather than deleted: the connector's CRM role has no delete privilege on the
    activity (docs/crm-solution.md §6), and the record's history keeps a trace.
    """
    return {
        "@odata.id": target_ref(pair),
        "mwx_reactionkey": reaction_key(pair),
        "subject": subject(campaign.name, Totals()),
        "mwx_opens": 0, "mwx_clicks": 0, "mwx_bounces": 0, "mwx_bouncetype": None,
        "mwx_clickedurls": None, "mwx_firstoccurredon": None, "mwx_lastoccurredon": None,
        "statecode": STATE_CANCELED[0], "statuscode": STATE_CANCELED[1],
    }


def digest(data: Any) -> str:
    """A stable hash of what was (or would be) written; equal digests mean no request."""
    text = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
