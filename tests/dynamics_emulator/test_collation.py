"""Text comparisons follow the organisation's collation (docs/dataverse-webapi.md §Collation)."""

from __future__ import annotations

from urllib.parse import quote

import pytest
import requests

from dynamics_emulator import EmulatorServer
from dynamics_emulator.orgs import Org


def _make(api: requests.Session, base: str, **values: str) -> None:
    assert api.post(base + "contacts", json=values, timeout=10).status_code == 204


def _names(api: requests.Session, base: str, flt: str, order: str = "") -> list[str]:
    url = f"{base}contacts?$select=lastname&$filter={quote(flt)}"
    if order:
        url += f"&$orderby={quote(order)}"
    resp = api.get(url, timeout=10)
    assert resp.status_code == 200, resp.text
    return [v["lastname"] for v in resp.json()["value"]]


@pytest.fixture
def muellers(api: requests.Session, base: str) -> None:
    for last in ("Müller", "Muller", "MUELLER", "Zyx-Müllerova"):
        _make(api, base, lastname=last, firstname="Kollation")


def test_default_collation_is_case_and_accent_insensitive(api: requests.Session, base: str,
                                                          muellers: None) -> None:
    mine = "firstname eq 'Kollation' and "
    assert sorted(_names(api, base, mine + "lastname eq 'MÜLLER'")) == ["Muller", "Müller"]
    assert sorted(_names(api, base, mine + "lastname eq 'muller'")) == ["Muller", "Müller"]
    assert _names(api, base, mine + "lastname ne 'müller'", "lastname") == \
        ["MUELLER", "Zyx-Müllerova"]
    assert sorted(_names(api, base, mine + "startswith(lastname,'MÜL')")) == ["Muller", "Müller"]
    assert sorted(_names(api, base, mine + "contains(lastname,'MULLER')")) == \
        ["Muller", "Müller", "Zyx-Müllerova"]
    assert _names(api, base, mine + "endswith(lastname,'LLEROVÁ')") == ["Zyx-Müllerova"]
    in_fn = ('Microsoft.Dynamics.CRM.In(PropertyName=\'lastname\','
             'PropertyValues=["MÜLLER","mueller"])')
    assert sorted(_names(api, base, mine + in_fn)) == ["MUELLER", "Muller", "Müller"]


def test_like_wildcards_follow_t_sql(api: requests.Session, base: str, muellers: None) -> None:
    mine = "firstname eq 'Kollation' and "
    assert sorted(_names(api, base, mine + "startswith(lastname,'M[uü]l')")) == \
        ["Muller", "Müller"]
    assert _names(api, base, mine + "startswith(lastname,'M[^u]')") == []  # ü folds to u
    assert _names(api, base, mine + "startswith(lastname,'MU_LL')") == ["MUELLER"]


def test_orderby_on_text_ignores_case_and_accents(api: requests.Session, base: str) -> None:
    for last in ("zeta", "Älpler", "alpha", "Beta"):
        _make(api, base, lastname=last, firstname="Sortierung")
    assert _names(api, base, "firstname eq 'Sortierung'", "lastname asc") == \
        ["alpha", "Älpler", "Beta", "zeta"]


def test_unique_alternate_key_respects_the_collation(api: requests.Session, base: str) -> None:
    first = api.post(base + "mwx_emailreactions",
                     json={"subject": "x", "mwx_reactionkey": "Welle-Ä/1"}, timeout=10)
    assert first.status_code == 204
    dup = api.post(base + "mwx_emailreactions",
                   json={"subject": "y", "mwx_reactionkey": "welle-a/1"}, timeout=10)
    assert dup.status_code == 412 and dup.json()["error"]["code"] == "0x80060892"
    by_key = api.get(f"{base}mwx_emailreactions(mwx_reactionkey='WELLE-A/1')", timeout=10)
    assert by_key.status_code == 200 and by_key.json()["mwx_reactionkey"] == "Welle-Ä/1"


def test_email_equality_still_uses_the_index(emulator: EmulatorServer) -> None:
    store = emulator.emulator.orgs["contoso"].store
    plan = store.fetch("EXPLAIN QUERY PLAN SELECT contactid FROM contact "
                       "WHERE emailaddress1 = ?", ("X@Y.Z",))
    assert any("ix_contact_emailaddress1" in str(r["detail"]) for r in plan), plan
    plan = store.fetch("EXPLAIN QUERY PLAN SELECT contactid FROM contact "
                       "WHERE emailaddress1 IN (?, ?)", ("a", "b"))
    assert any("ix_contact_emailaddress1" in str(r["detail"]) for r in plan), plan


@pytest.mark.parametrize(("setting", "expected"), [
    ("Latin1_General_CI_AI", ["MÜLLER", "Muller", "Müller"]),
    ("Finnish_Swedish_CI_AS", ["MÜLLER", "Müller"]),
    ("Latin1_General_CS_AS", ["Müller"]),
])
def test_collation_is_an_organisation_setting(setting: str, expected: list[str]) -> None:
    org = Org("collated", "online", "9.2.0.0", ("v9.2",), "org-id", collation=setting)
    ent = org.schema.entity("contact")
    for i, last in enumerate(("Müller", "MÜLLER", "Muller", "Mahler")):
        org.store.insert(ent, {"contactid": f"00000000-0000-0000-0000-00000000000{i}",
                               "lastname": last})
    rows = org.store.fetch("SELECT lastname FROM contact WHERE lastname = ? ORDER BY lastname",
                           ("Müller",))
    assert sorted(r["lastname"] for r in rows) == sorted(expected)
    like = org.store.fetch("SELECT lastname FROM contact WHERE lastname LIKE ?", ("mü%",))
    assert len(like) == {"CI_AI": 3, "CI_AS": 2, "CS_AS": 0}[setting[-5:]]
