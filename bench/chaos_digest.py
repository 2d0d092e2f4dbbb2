"""The end state of a chaos scenario, in terms that do not depend on generated ids (CRM
records by table and address, subscribers by address, activities by campaign and
subscriber address), and the comparison of two such states.

Counted differences (each must be 0):
  lost             in the reference, missing after chaos (CRM records, subscribers, links,
                   memberships, list members, activities)
  duplicated       more of a thing than the reference has (a second CRM record with one
                   address in a table, a second subscriber, a second activity …)
  doubled          reactions counted more than once in a CRM activity (its totals above the
                   reactions mailworx holds for the pair)
  differing        values that differ on both sides of a thing present in both runs
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from sync_bench_emulator import Emulator

CRM_FIELDS = {
    "contacts": ("firstname", "lastname", "mwx_salutation", "gendercode",
                 "_parentcustomerid_value", "statecode", "donotbulkemail"),
    "accounts": ("name", "statecode", "donotbulkemail"),
    "leads": ("firstname", "lastname", "statecode", "donotbulkemail"),
}
REACTION_FIELDS = ("mwx_opens", "mwx_clicks", "mwx_bounces", "mwx_bouncetype", "statecode")


def _email(row: dict[str, Any]) -> str:
    return str(row.get("emailaddress1") or "").lower()


def digest(emu: Emulator, tenant: Any) -> dict[str, Any]:
    """Everything the comparison looks at, as plain JSON."""
    from audience.models import Campaign, GroupMembership, Reaction, Subscriber
    from audience.subscribers import current_values
    from syncjobs.models.sync import RecordLink

    crm: dict[str, dict[str, list[dict[str, Any]]]] = {}
    who: dict[str, str] = {}  # CRM id → "table:address"
    for entity_set, columns in CRM_FIELDS.items():
        by_email: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in emu.dump(entity_set):
            key = entity_set[:-1] + "id"
            who[str(row[key])] = f"{entity_set}:{_email(row)}"
            by_email[_email(row)].append({c: row.get(c) for c in columns})
        crm[entity_set] = dict(by_email)
    for rows in (r for table in crm.values() for r in table.values()):
        for row in rows:  # a lookup is compared by whom it points at, not by its id
            if row.get("_parentcustomerid_value"):
                row["_parentcustomerid_value"] = who.get(str(row["_parentcustomerid_value"]), "?")
    lists = {str(r["listid"]): r["listname"] for r in emu.dump("lists")}
    list_members: dict[str, list[str]] = defaultdict(list)
    for m in emu.dump("listmembers"):
        list_members[lists.get(str(m["_listid_value"]), "?")].append(
            who.get(str(m["_entityid_value"]), "?"))

    subs = Subscriber.objects.filter(tenant=tenant)
    address = dict(subs.values_list("pk", "email_normalised"))
    campaign = dict(Campaign.objects.filter(tenant=tenant).values_list("pk", "name"))
    values = current_values(list(address))
    subscribers: dict[str, list[dict[str, Any]]] = defaultdict(list)
    links: dict[int, list[str]] = defaultdict(list)
    for link in RecordLink.objects.filter(tenant=tenant):
        links[link.subscriber_id].append(
            f"{link.state}:{who.get(str(link.crm_id), link.entity_type + ':gone')}")
    for sub in subs.order_by("email_normalised", "created_at", "pk"):
        subscribers[sub.email_normalised].append({
            "status": sub.status,
            "merged_into": address.get(sub.merged_into_id) if sub.merged_into_id else None,
            "links": sorted(links.get(sub.pk, [])),
            "values": {k: v for k, v in sorted(values.get(sub.pk, {}).items())
                       if k != "email"}})
    groups: dict[str, list[str]] = defaultdict(list)
    for name, email in GroupMembership.objects.filter(group__tenant=tenant).values_list(
            "group__name", "subscriber__email_normalised"):
        groups[name].append(email)

    expected: Counter[str] = Counter()
    for campaign_id, sub_id, kind in Reaction.objects.filter(tenant=tenant).values_list(
            "campaign_id", "subscriber_id", "kind"):
        expected[f"{campaign.get(campaign_id)}|{address.get(sub_id)}|{kind}"] += 1
    activities: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in emu.dump("mwx_emailreactions"):
        campaign_id, _dash, sub_id = str(row["mwx_reactionkey"]).partition("-")
        key = f"{campaign.get(int(campaign_id))}|{address.get(int(sub_id))}"
        activities[key].append({c: row.get(c) for c in REACTION_FIELDS})
    return {"crm": crm, "list_members": {k: sorted(v) for k, v in list_members.items()},
            "subscribers": dict(subscribers), "groups": {k: sorted(v) for k, v in groups.items()},
            "activities": dict(activities), "expected_reactions": dict(expected)}


@dataclass
class Differences:
    lost: int = 0
    duplicated: int = 0
    doubled: int = 0
    differing: int = 0
    examples: list[str] = field(default_factory=list)

    def note(self, kind: str, n: int, example: str) -> None:
        setattr(self, kind, getattr(self, kind) + n)
        if n and len(self.examples) < 25:
            self.examples.append(f"{kind} {n}: {example}")

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated or self.doubled or self.differing)


def _compare_keyed(diff: Differences, what: str, ref: dict[str, list[Any]],
                   got: dict[str, list[Any]]) -> None:
    for key in ref.keys() | got.keys():
        a, b = ref.get(key, []), got.get(key, [])
        if len(b) < len(a):
            diff.note("lost", len(a) - len(b), f"{what} {key}")
        if len(b) > len(a):
            diff.note("duplicated", len(b) - len(a), f"{what} {key}")
        for x, y in zip(a, b, strict=False):
            if x != y:
                fields = x.keys() if isinstance(x, dict) else [""]
                bad = [f for f in fields if (x.get(f) if f else x) != (y.get(f) if f else y)]
                diff.note("differing", max(1, len(bad)),
                          f"{what} {key}: " + "; ".join(
                              f"{f}={x.get(f)!r}→{y.get(f)!r}" for f in bad[:4]))


def _compare_members(diff: Differences, what: str, ref: dict[str, list[str]],
                     got: dict[str, list[str]]) -> None:
    for name in ref.keys() | got.keys():
        a, b = Counter(ref.get(name, [])), Counter(got.get(name, []))
        missing, extra = a - b, b - a
        if missing:
            diff.note("lost", sum(missing.values()), f"{what} {name}: {list(missing)[:3]}")
        if extra:
            diff.note("duplicated", sum(extra.values()), f"{what} {name}: {list(extra)[:3]}")


def doubled_reactions(state: dict[str, Any]) -> tuple[int, int]:
    """(Reactions counted more than once, reactions missing) in one run's activities
    against the reactions mailworx holds for each pair."""
    expected = state["expected_reactions"]
    doubled = missing = 0
    for key, rows in state["activities"].items():
        for kind, column in (("open", "mwx_opens"), ("click", "mwx_clicks"),
                             ("bounce", "mwx_bounces")):
            want = expected.get(f"{key}|{kind}", 0)
            have = sum(int(r.get(column) or 0) for r in rows)
            doubled += max(0, have - want)
            missing += max(0, want - have)
    return doubled, missing


def compare(ref: dict[str, Any], got: dict[str, Any]) -> Differences:
    diff = Differences()
    for entity_set in CRM_FIELDS:
        _compare_keyed(diff, entity_set, ref["crm"][entity_set], got["crm"][entity_set])
        dupes = sum(len(v) - 1 for v in got["crm"][entity_set].values() if len(v) > 1) - sum(
            len(v) - 1 for v in ref["crm"][entity_set].values() if len(v) > 1)
        if dupes > 0:  # already counted above; named here for the reader
            diff.examples.append(f"{entity_set}: {dupes} addresses on more than one record")
    _compare_keyed(diff, "subscriber", ref["subscribers"], got["subscribers"])
    _compare_keyed(diff, "activity", ref["activities"], got["activities"])
    _compare_members(diff, "group", ref["groups"], got["groups"])
    _compare_members(diff, "CRM list", ref["list_members"], got["list_members"])
    doubled, _missing = doubled_reactions(got)
    diff.note("doubled", doubled, "activity totals above the reactions mailworx holds")
    return diff
