"""Business records for the demo and bench seeds: people, companies, lists, a campaign."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from dynamics_emulator import seed_names as names
from dynamics_emulator.schema.marketing import MAILWORX_CHANNEL
from dynamics_emulator.seed import EPOCH, Builder, fast_uuid, org_user


def _email(first: str, last: str, domain: str, n: int) -> str:
    clean = (f"{first}.{last}".lower().replace("ü", "ue").replace("ö", "oe")
             .replace("ä", "ae").replace("'", ""))
    return f"{clean}{n}@{domain}"


def _person(b: Builder, i: int) -> dict[str, Any]:
    german = i % 2 == 0
    first = b.rng.choice(names.FIRST_DE if german else names.FIRST_EN)
    last = b.rng.choice(names.LAST_DE if german else names.LAST_EN)
    city, zipcode, country = b.rng.choice(names.CITIES_DE if german else names.CITIES_EN)
    return {"firstname": first, "lastname": last,
            "emailaddress1": _email(first, last, "example.at" if german else "example.co.uk", i),
            "address1_city": city, "address1_postalcode": zipcode, "address1_country": country,
            "jobtitle": b.rng.choice(names.JOBS_DE if german else names.JOBS_EN),
            "telephone1": f"+43 1 {b.rng.randint(1000000, 9999999)}" if german else
            f"+44 20 {b.rng.randint(10000000, 99999999)}"}


def people(b: Builder, contacts: int, accounts: int, leads: int,
           rich: bool) -> dict[str, list[str]]:
    ids: dict[str, list[str]] = {"contact": [], "account": [], "lead": []}
    owners = [b.admin_id, org_user(b.org, "anna"), org_user(b.org, "john")]
    for i in range(accounts):
        german = i % 2 == 0
        base = b.rng.choice(names.COMPANY_DE if german else names.COMPANY_EN)
        name = f"{base} {b.rng.choice(names.SUFFIX_DE if german else names.SUFFIX_EN)}"
        ident = fast_uuid(b.rng)
        ids["account"].append(ident)
        b.row("account", ident, {
            "name": name, "accountnumber": f"A-{10000 + i}",
            "emailaddress1": f"office{i}@{base.lower().replace(' ', '')}.example",
            "numberofemployees": b.rng.randint(3, 5000), "revenue": float(b.rng.randint(1, 900))
            * 10000, "industrycode": b.rng.choice([1, 7, 12, 33, 19]),
            "address1_city": b.rng.choice(names.CITIES_DE if german else names.CITIES_EN)[0]},
            when=EPOCH + timedelta(minutes=i), owner=b.rng.choice(owners) if rich else None)
    for i in range(contacts):
        ident = fast_uuid(b.rng)
        ids["contact"].append(ident)
        values = _person(b, i)
        if rich:
            values.update(
                mwx_salutation=b.rng.choice([100000000, 100000001, 100000002, None]),
                mwx_topics=",".join(str(v) for v in sorted(b.rng.sample(
                    [100000000, 100000001, 100000002, 100000003], b.rng.randint(0, 3)))) or None,
                birthdate=f"{b.rng.randint(1950, 2002)}-{b.rng.randint(1, 12):02d}-"
                          f"{b.rng.randint(1, 28):02d}",
                gendercode=b.rng.choice([1, 2, None]), mwx_score=round(b.rng.random() * 100, 2))
            if ids["account"] and i % 3 == 0:
                values.update(parentcustomerid=b.rng.choice(ids["account"]),
                              parentcustomerid_t="account")
        b.row("contact", ident, values, when=EPOCH + timedelta(minutes=i),
              owner=b.rng.choice(owners) if rich else None)
    for i in range(leads):
        ident = fast_uuid(b.rng)
        ids["lead"].append(ident)
        values = _person(b, contacts + i)
        values["subject"] = "Interesse an Newsletter" if i % 2 == 0 else "Trade fair enquiry"
        values["companyname"] = b.rng.choice(names.COMPANY_DE + names.COMPANY_EN)
        b.row("lead", ident, values, when=EPOCH + timedelta(minutes=i))
    return ids


def _set(b: Builder, ent: str, ident: str, **values: Any) -> None:
    row = next(r for r in b.rows[ent] if r[b.org.schema.entity(ent).primary_id] == ident)
    row.update(values)


def special_cases(b: Builder, ids: dict[str, list[str]]) -> None:
    """Shared addresses across types, inactive/qualified records, opt-outs (see README)."""
    c, a, ld = ids["contact"], ids["account"], ids["lead"]
    shared = "office@shared-everywhere.example"
    _set(b, "contact", c[0], emailaddress1=shared)
    _set(b, "account", a[0], emailaddress1=shared)
    _set(b, "lead", ld[0], emailaddress1=shared)
    _set(b, "account", a[1], emailaddress1="info@account-and-lead.example")
    _set(b, "lead", ld[1], emailaddress2="INFO@Account-And-Lead.example")
    _set(b, "contact", c[1], statecode=1, statuscode=2)
    _set(b, "account", a[2], statecode=1, statuscode=2)
    _set(b, "contact", c[2], donotbulkemail=1)
    _set(b, "lead", ld[2], statecode=1, statuscode=3, parentaccountid=a[3],
         parentaccountid_t="account")
    _set(b, "lead", ld[3], statecode=2, statuscode=6)
    _set(b, "contact", c[3], emailaddress1=None, emailaddress2="second.only@example.at")


# A dynamic list keeps its members as a FetchXML query (list.query), evaluated when read.
VIENNA_QUERY = ('<fetch><entity name="contact"><attribute name="fullname"/>'
                '<attribute name="emailaddress1"/><attribute name="contactid"/>'
                '<filter type="and"><condition attribute="address1_city" operator="eq" '
                'value="Wien"/><condition attribute="statecode" operator="eq" value="0"/>'
                '</filter></entity></fetch>')


def marketing(b: Builder, ids: dict[str, list[str]]) -> None:
    org = b.org.name
    lists = [("Newsletter DE", 2, True, False, ids["contact"][0:120:2]),
             ("Newsletter EN", 2, True, False, ids["contact"][1:120:2]),
             ("Key Accounts", 1, True, False, ids["account"][:25]),
             ("Trade Fair Leads 2024", 4, True, False, ids["lead"][:30]),
             ("Internal distribution (not synced)", 2, False, False, ids["contact"][200:210]),
             ("Locked export 2023", 2, False, True, ids["contact"][210:215])]
    for name, member_type, sync, locked, members in lists:
        lid = b.org_id("list", name)
        b.row("list", lid, {"listname": name, "createdfromcode": member_type, "type": 0,
                            "mwx_syncwithmailworx": int(sync), "lockstatus": int(locked),
                            "purpose": "Newsletter" if sync else None})
        entity = {1: "account", 2: "contact", 4: "lead"}[member_type]
        for member in members:
            b.row("listmember", b.org_id("listmember", name, member),
                  {"listid": lid, "listid_t": "list", "entityid": member, "entityid_t": entity,
                   "entitytype": entity})
    b.row("list", b.org_id("list", "dynamic"), {"listname": "Vienna contacts (dynamic)",
                                                 "createdfromcode": 2, "type": 1,
                                                 "query": VIENNA_QUERY})
    camp = b.org_id("campaign", "spring")
    b.row("campaign", camp, {"name": "Frühjahrskampagne 2025", "codename": "CMP-2025-01",
                             "statuscode": 2, "mwx_figuresmode": 100000000})
    for key, subject, channel, requested in (
            ("mwx", "Newsletter März", MAILWORX_CHANNEL, True),
            ("mail", "Einladung per E-Mail", 7, False),
            ("phone", "Nachfassen telefonisch", 1, False)):
        act = b.org_id("campaignactivity", key)
        b.row("campaignactivity", act, {
            "subject": subject, "channeltypecode": channel, "regardingobjectid": camp,
            "regardingobjectid_t": "campaign", "mwx_distributionrequested": int(requested),
            "scheduledstart": "2025-03-10T08:00:00Z"})
        b.links.append(("campaignactivityitem", act, b.org_id("list", "Newsletter DE")))
    b.links.append(("campaignitem", camp, b.org_id("list", "Newsletter DE")))
    del org


def demo(b: Builder, scale: int) -> None:
    ids = people(b, 3 * scale, 80 * scale // 100, 120 * scale // 100, rich=True)
    special_cases(b, ids)
    marketing(b, ids)


def bench(b: Builder, n: int) -> None:
    """Lean generator (no rng per field) so 100,000+ rows take seconds."""
    fd, ld, fe, le = names.FIRST_DE, names.LAST_DE, names.FIRST_EN, names.LAST_EN
    for kind, count in (("contact", n), ("account", n // 5), ("lead", n // 5)):
        for i in range(count):
            german = i % 2 == 0
            first = (fd if german else fe)[i % 24]
            last = (ld if german else le)[(i // 24) % 24]
            email = f"{kind}{i}@{'bench.example.at' if german else 'bench.example.co.uk'}"
            if kind == "account":
                values: dict[str, Any] = {"name": f"{last} {i}", "emailaddress1": email}
            else:
                values = {"firstname": first, "lastname": last, "emailaddress1": email,
                          "fullname": f"{first} {last}"}
                if kind == "lead":
                    values["subject"] = "Bench lead"
            b.row(kind, fast_uuid(b.rng), values)
