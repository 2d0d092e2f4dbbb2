"""`?fetchXml=` and `?sql=` over HTTP (docs/dataverse-webapi.md §FetchXML, §SQL)."""

from __future__ import annotations

from urllib.parse import quote, unquote
from xml.etree import ElementTree as ET

import pytest
import requests

from dynamics_emulator.seed_data import VIENNA_QUERY

ALL = 'odata.include-annotations="*"'
PAGING = ('odata.include-annotations="Microsoft.Dynamics.CRM.fetchxmlpagingcookie,'
          'Microsoft.Dynamics.CRM.morerecords"')


def cond(attribute: str, operator: str, value: str) -> str:
    return f"<condition attribute='{attribute}' operator='{operator}' value='{value}'/>"


def fetch(api: requests.Session, base: str, xml: str, entity_set: str = "contacts",
          prefer: str | None = None, extra: str = "") -> requests.Response:
    headers = {"Prefer": prefer} if prefer else {}
    return api.get(f"{base}{entity_set}?fetchXml={quote(xml)}{extra}", headers=headers,
                   timeout=10)


def rows(api: requests.Session, base: str, xml: str, entity_set: str = "contacts",
         prefer: str | None = None) -> list[dict]:
    resp = fetch(api, base, xml, entity_set, prefer)
    assert resp.status_code == 200, resp.text
    return resp.json()["value"]


def odata(api: requests.Session, base: str, query: str) -> list[dict]:
    resp = api.get(base + query, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()["value"]


def ids(items: list[dict], key: str = "contactid") -> set[str]:
    return {i[key] for i in items}


def test_attributes_and_shape(api, base) -> None:
    resp = fetch(api, base, "<fetch top='3'><entity name='contact'><attribute name='fullname'/>"
                            "<attribute name='parentcustomerid'/><attribute name='mwx_salutation'/>"
                            "<order attribute='fullname'/></entity></fetch>", prefer=ALL)
    body = resp.json()
    assert body["@odata.context"].endswith(
        "$metadata#contacts(fullname,_parentcustomerid_value,mwx_salutation,contactid)")
    first = body["value"][0]
    assert set(k for k in first if "@" not in k) <= {"fullname", "_parentcustomerid_value",
                                                   "mwx_salutation", "contactid"}
    assert "@odata.etag" in first and "contactid" in first
    # FetchXML leaves null properties out (unlike OData reads).
    assert all(v is not None for v in first.values())
    assert resp.headers["Preference-Applied"] == ALL
    names = [r["fullname"] for r in body["value"]]
    assert names == sorted(names, key=str.lower)


def test_all_attributes_and_formatted_values(api, base) -> None:
    items = rows(api, base, "<fetch top='1'><entity name='contact'><all-attributes/>"
                            "<filter><condition attribute='parentcustomerid' operator='not-null'/>"
                            "</filter></entity></fetch>", prefer=ALL)
    row = items[0]
    assert row["_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "account"
    assert "_parentcustomerid_value@OData.Community.Display.V1.FormattedValue" in row
    assert row["statecode@OData.Community.Display.V1.FormattedValue"] == "Active"


@pytest.mark.parametrize(("condition", "odata_filter"), [
    (cond("address1_city", "eq", "wien"), "address1_city eq 'Wien'"),
    (cond("address1_city", "ne", "Wien"), "address1_city ne 'Wien'"),
    (cond("address1_city", "neq", "Wien"), "address1_city ne 'Wien'"),
    (cond("mwx_score", "gt", "50"), "mwx_score gt 50"),
    (cond("mwx_score", "ge", "50"), "mwx_score ge 50"),
    (cond("mwx_score", "lt", "20"), "mwx_score lt 20"),
    (cond("mwx_score", "le", "20"), "mwx_score le 20"),
    (cond("lastname", "like", "%er%"), "contains(lastname,'er')"),
    ("<condition attribute='lastname' operator='not-like' value='%er%'/>",
     "not contains(lastname,'er')"),
    ("<condition attribute='lastname' operator='begins-with' value='M'/>",
     "startswith(lastname,'M')"),
    (cond("lastname", "ends-with", "n"), "endswith(lastname,'n')"),
    ("<condition attribute='emailaddress1' operator='null'/>", "emailaddress1 eq null"),
    ("<condition attribute='emailaddress1' operator='not-null'/>", "emailaddress1 ne null"),
    ("<condition attribute='address1_city' operator='in'><value>Wien</value><value>Graz</value>"
     "</condition>", "Microsoft.Dynamics.CRM.In(PropertyName='address1_city',"
                     "PropertyValues=[\"Wien\",\"Graz\"])"),
    ("<condition attribute='address1_city' operator='not-in'><value>Wien</value>"
     "<value>Graz</value></condition>", "address1_city ne 'Wien' and address1_city ne 'Graz'"),
    ("<condition attribute='mwx_score' operator='between'><value>10</value><value>30</value>"
     "</condition>", "mwx_score ge 10 and mwx_score le 30"),
    ("<condition attribute='mwx_score' operator='not-between'><value>10</value>"
     "<value>30</value></condition>", "mwx_score lt 10 or mwx_score gt 30"),
    ("<condition attribute='createdon' operator='on' value='2024-01-01'/>",
     "Microsoft.Dynamics.CRM.On(PropertyName='createdon',PropertyValue='2024-01-01')"),
    ("<condition attribute='createdon' operator='on-or-after' value='2024-01-01'/>",
     "Microsoft.Dynamics.CRM.OnOrAfter(PropertyName='createdon',PropertyValue='2024-01-01')"),
    ("<condition attribute='createdon' operator='on-or-before' value='2024-01-01'/>",
     "Microsoft.Dynamics.CRM.OnOrBefore(PropertyName='createdon',PropertyValue='2024-01-01')"),
    ("<condition attribute='ownerid' operator='eq-userid'/>",
     "Microsoft.Dynamics.CRM.EqualUserId(PropertyName='_ownerid_value')"),
    ("<condition attribute='owningbusinessunit' operator='eq-businessid'/>",
     "Microsoft.Dynamics.CRM.EqualBusinessId(PropertyName='_owningbusinessunit_value')"),
    ("<condition attribute='modifiedon' operator='last-x-days' value='3'/>",
     "Microsoft.Dynamics.CRM.LastXDays(PropertyName='modifiedon',PropertyValue=3)"),
    ("<condition attribute='modifiedon' operator='next-x-days' value='3'/>",
     "Microsoft.Dynamics.CRM.NextXDays(PropertyName='modifiedon',PropertyValue=3)"),
])
def test_operators_match_odata(api, base, condition, odata_filter) -> None:
    got = rows(api, base, f"<fetch><entity name='contact'><attribute name='contactid'/>"
                          f"<filter>{condition}</filter></entity></fetch>")
    want = odata(api, base, f"contacts?$select=contactid&$filter={quote(odata_filter)}")
    assert ids(got) == ids(want)


def test_nested_and_or_filters(api, base) -> None:
    xml = ("<fetch><entity name='contact'><attribute name='address1_city'/>"
           "<filter type='and'><condition attribute='statecode' operator='eq' value='0'/>"
           "<filter type='or'><condition attribute='address1_city' operator='eq' value='Wien'/>"
           "<condition attribute='address1_city' operator='eq' value='Graz'/></filter>"
           "</filter></entity></fetch>")
    got = rows(api, base, xml)
    want = odata(api, base, "contacts?$select=contactid&$filter=" + quote(
        "statecode eq 0 and (address1_city eq 'Wien' or address1_city eq 'Graz')"))
    assert got and ids(got) == ids(want)
    assert {r["address1_city"] for r in got} == {"Wien", "Graz"}


def test_order_descending_and_top(api, base) -> None:
    got = rows(api, base, "<fetch top='5'><entity name='contact'><attribute name='mwx_score'/>"
                          "<filter><condition attribute='mwx_score' operator='not-null'/></filter>"
                          "<order attribute='mwx_score' descending='true'/></entity></fetch>")
    want = odata(api, base, "contacts?$select=mwx_score&$filter=mwx_score ne null"
                            "&$orderby=mwx_score desc&$top=5")
    assert [r["mwx_score"] for r in got] == [r["mwx_score"] for r in want]
    assert len(got) == 5


def _next_fetch(xml: str, cookie: str) -> str:
    outer = ET.fromstring(cookie)
    el = ET.fromstring(xml)
    el.set("page", outer.get("pagenumber"))
    el.set("paging-cookie", unquote(unquote(outer.get("pagingcookie"))))
    return ET.tostring(el, encoding="unicode")


def test_paging_with_cookie_visits_every_row_once(api, base) -> None:
    xml = ("<fetch count='70' page='1'><entity name='contact'><attribute name='fullname'/>"
           "<order attribute='fullname'/></entity></fetch>")
    seen: list[str] = []
    pages = 0
    while True:
        resp = fetch(api, base, xml, prefer=PAGING)
        body = resp.json()
        pages += 1
        seen.extend(r["contactid"] for r in body["value"])
        if not body["@Microsoft.Dynamics.CRM.morerecords"]:
            assert "@Microsoft.Dynamics.CRM.fetchxmlpagingcookie" not in body
            break
        cookie = body["@Microsoft.Dynamics.CRM.fetchxmlpagingcookie"]
        outer = ET.fromstring(cookie)
        assert outer.get("pagenumber") == str(pages + 1)
        inner = ET.fromstring(unquote(unquote(outer.get("pagingcookie"))))
        assert inner.get("page") == str(pages)
        last = body["value"][-1]["contactid"].upper()
        assert inner.find("contactid").get("last") == "{" + last + "}"
        xml = _next_fetch(xml, cookie)
    total = len(odata(api, base, "contacts?$select=contactid"))
    assert pages == -(-total // 70)
    assert len(seen) == len(set(seen)) == total


def test_simple_paging_without_cookie(api, base) -> None:
    first = rows(api, base, "<fetch count='10' page='1'><entity name='contact'>"
                            "<attribute name='contactid'/></entity></fetch>")
    second = rows(api, base, "<fetch count='10' page='2'><entity name='contact'>"
                             "<attribute name='contactid'/></entity></fetch>")
    assert len(first) == len(second) == 10 and not ids(first) & ids(second)


def test_morerecords_only_when_asked(api, base) -> None:
    body = fetch(api, base, "<fetch count='5'><entity name='contact'/></fetch>").json()
    assert "@Microsoft.Dynamics.CRM.morerecords" not in body
    assert "@Microsoft.Dynamics.CRM.fetchxmlpagingcookie" not in body
    assert len(body["value"]) == 5


def test_returntotalrecordcount(api, base) -> None:
    xml = ("<fetch count='5' returntotalrecordcount='true'><entity name='contact'>"
           "<filter><condition attribute='address1_city' operator='eq' value='Wien'/></filter>"
           "</entity></fetch>")
    body = fetch(api, base, xml, prefer=ALL).json()
    want = len(odata(api, base, "contacts?$select=contactid&$filter=address1_city eq 'Wien'"))
    assert body["@odata.count"] == want
    assert body["@Microsoft.Dynamics.CRM.totalrecordcount"] == want
    assert body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] is False
    assert len(body["value"]) == 5
    # $count=true on the URL does the same.
    again = fetch(api, base, xml.replace(" returntotalrecordcount='true'", ""),
                  extra="&$count=true").json()
    assert again["@odata.count"] == want


def test_distinct(api, base) -> None:
    got = rows(api, base, "<fetch distinct='true'><entity name='contact'>"
                          "<attribute name='address1_city'/><order attribute='address1_city'/>"
                          "</entity></fetch>")
    cities = [r.get("address1_city") for r in got]
    assert len(cities) == len(set(cities)) > 3
    assert all("contactid" not in r for r in got)


def test_link_entity_inner_and_outer(api, base) -> None:
    link = ("<link-entity name='account' from='accountid' to='parentcustomerid' alias='acc' "
            "link-type='{}'><attribute name='name'/><attribute name='accountnumber'/>"
            "</link-entity>")
    head = "<fetch><entity name='contact'><attribute name='fullname'/>"
    inner = rows(api, base, head + link.format("inner") + "</entity></fetch>", prefer=ALL)
    outer = rows(api, base, head + link.format("outer") + "</entity></fetch>")
    with_parent = odata(api, base, "contacts?$select=contactid&$filter="
                                   "_parentcustomerid_value ne null")
    assert ids(inner) == ids(with_parent)
    assert len(outer) == len(odata(api, base, "contacts?$select=contactid"))
    sample = inner[0]
    assert sample["acc.name"] and sample["acc.accountnumber"].startswith("A-")
    assert sample["acc.name@OData.Community.Display.V1.AttributeName"] == "name"
    assert all("acc.name" not in r for r in outer if r["contactid"] not in ids(inner))


def test_link_entity_filter_and_entityname_condition(api, base) -> None:
    account = odata(api, base, "accounts?$select=name,accountid")
    parents = {r["_parentcustomerid_value"] for r in odata(
        api, base, "contacts?$select=_parentcustomerid_value"
                   "&$filter=_parentcustomerid_value ne null")}
    target = next(a for a in account if a["accountid"] in parents)
    xml = ("<fetch><entity name='contact'><attribute name='fullname'/>"
           "<link-entity name='account' from='accountid' to='parentcustomerid' alias='a'>"
           f"<filter><condition attribute='name' operator='eq' value=\"{target['name']}\"/>"
           "</filter></link-entity></entity></fetch>")
    got = rows(api, base, xml)
    want = odata(api, base, "contacts?$select=contactid&$filter=" + quote(
        f"parentcustomerid_account/name eq '{target['name'].replace(chr(39), chr(39) * 2)}'"))
    assert got and ids(got) == ids(want)
    # The same condition written on the root filter with entityname.
    xml2 = ("<fetch><entity name='contact'><attribute name='fullname'/>"
            "<link-entity name='account' from='accountid' to='parentcustomerid' alias='a'/>"
            f"<filter><condition entityname='a' attribute='name' operator='eq' "
            f"value=\"{target['name']}\"/></filter></entity></fetch>")
    assert ids(rows(api, base, xml2)) == ids(want)


def test_listmember_join_of_a_static_list(api, base) -> None:
    lst = odata(api, base, "lists?$select=listid&$filter=listname eq 'Newsletter DE'")[0]
    xml = ("<fetch><entity name='contact'><attribute name='fullname'/>"
           "<link-entity name='listmember' from='entityid' to='contactid' intersect='true'>"
           f"<filter><condition attribute='listid' operator='eq' value='{lst['listid']}'/>"
           "</filter></link-entity></entity></fetch>")
    members = odata(api, base, f"lists({lst['listid']})/listcontact_association?$select=contactid")
    assert ids(rows(api, base, xml)) == ids(members) and members
    # From the list side: list → listmember → contact, returning the contact columns.
    xml2 = ("<fetch><entity name='list'><attribute name='listname'/>"
            f"<filter>{cond('listid', 'eq', lst['listid'])}</filter>"
            "<link-entity name='listmember' from='listid' to='listid' alias='m'>"
            "<link-entity name='contact' from='contactid' to='entityid' alias='c'>"
            "<attribute name='emailaddress1'/><attribute name='contactid'/></link-entity>"
            "</link-entity></entity></fetch>")
    got = rows(api, base, xml2, entity_set="lists")
    assert {r["c.contactid"] for r in got} == ids(members)


def test_dynamic_list_query_from_the_seed(api, base) -> None:
    lst = odata(api, base, "lists?$select=type,query,createdfromcode&$filter=type eq true")[0]
    assert lst["type"] is True and lst["createdfromcode"] == 2
    assert lst["query"] == VIENNA_QUERY
    got = rows(api, base, lst["query"])
    want = odata(api, base, "contacts?$select=contactid&$filter="
                            "address1_city eq 'Wien' and statecode eq 0")
    assert got and ids(got) == ids(want)


def test_exists_link_type(api, base) -> None:
    xml = ("<fetch><entity name='account'><attribute name='name'/>"
           "<link-entity name='contact' from='parentcustomerid' to='accountid' "
           "link-type='exists'/></entity></fetch>")
    got = rows(api, base, xml, entity_set="accounts")
    parents = {r["_parentcustomerid_value"] for r in odata(
        api, base, "contacts?$select=_parentcustomerid_value"
                   "&$filter=_parentcustomerid_value ne null")}
    assert ids(got, "accountid") == parents


def test_aggregate_count_and_groupby(api, base) -> None:
    xml = ("<fetch aggregate='true'><entity name='contact'>"
           "<attribute name='contactid' alias='n' aggregate='count'/>"
           "<attribute name='address1_city' alias='city' groupby='true'/>"
           "<attribute name='mwx_score' alias='best' aggregate='max'/>"
           "<order alias='n' descending='true'/></entity></fetch>")
    got = rows(api, base, xml)
    total = len(odata(api, base, "contacts?$select=contactid"))
    assert sum(r["n"] for r in got) == total
    counts = [r["n"] for r in got]
    assert counts == sorted(counts, reverse=True)
    wien = next(r for r in got if r.get("city") == "Wien")
    assert wien["n"] == len(odata(api, base, "contacts?$select=contactid&$filter="
                                             "address1_city eq 'Wien'"))


@pytest.mark.parametrize(("xml", "code"), [
    ("<fetch><entity name='contact'", "0x80040203"),
    ("<?xml version='1.0'?><!DOCTYPE fetch [<!ENTITY x 'y'>]><fetch><entity name='contact'>"
     "<attribute name='&x;'/></entity></fetch>", "0x80040203"),
    ("<fetch><entity name='nosuchtable'/></fetch>", "0x80041102"),
    ("<fetch><entity name='contact'><attribute name='nosuchcolumn'/></entity></fetch>",
     "0x80041103"),
    ("<fetch><entity name='contact'><filter><condition attribute='nosuchcolumn' operator='eq' "
     "value='1'/></filter></entity></fetch>", "0x80041103"),
    ("<fetch><entity name='contact'><filter><condition attribute='lastname' operator='frobs' "
     "value='1'/></filter></entity></fetch>", "0x80040203"),
    ("<fetch top='5' count='5'><entity name='contact'/></fetch>", "0x80040203"),
    ("<fetch><entity name='account'/></fetch>", "0x80040203"),
    ("<fetch aggregate='true'><entity name='contact'><attribute name='contactid' "
     "alias='n\" FROM contact; --' aggregate='count'/></entity></fetch>", "0x80040203"),
])
def test_errors(api, base, xml, code) -> None:
    resp = fetch(api, base, xml)
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["code"] == code and error["message"]


def test_unknown_attribute_message(api, base) -> None:
    resp = fetch(api, base, "<fetch><entity name='contact'><attribute name='bogus'/></entity>"
                            "</fetch>")
    assert resp.json()["error"]["message"] == (
        "'Contact' entity doesn't contain attribute with Name = 'bogus' and NameMapping = "
        "'Logical'.")


def test_fetchxml_counts_like_an_odata_read(api, base, emulator) -> None:
    before = emulator.emulator.counters["contoso GET contacts"]
    fetch(api, base, "<fetch top='1'><entity name='contact'/></fetch>")
    assert emulator.emulator.counters["contoso GET contacts"] == before + 1


# --- sql -----------------------------------------------------------------------------------

def sql(api: requests.Session, base: str, text: str, entity_set: str = "contacts",
        prefer: str | None = None) -> requests.Response:
    headers = {"Prefer": prefer} if prefer else {}
    return api.get(f"{base}{entity_set}?sql={quote(text, safe='')}", headers=headers, timeout=10)


def test_sql_select_where_order(api, base) -> None:
    resp = sql(api, base, "SELECT c.fullname AS name, c.address1_city FROM contact AS c "
                          "WHERE c.address1_city IN ('Wien', 'Graz') AND c.statecode = 0 "
                          "ORDER BY c.fullname DESC", prefer=ALL)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["@Microsoft.Dynamics.CRM.totalrecordcount"] == -1
    assert body["@odata.context"].endswith("$metadata#contacts(fullname,address1_city,contactid)")
    got = body["value"]
    want = odata(api, base, "contacts?$select=contactid&$filter=" + quote(
        "(address1_city eq 'Wien' or address1_city eq 'Graz') and statecode eq 0"))
    assert ids(got) == ids(want)
    assert got[0]["name@OData.Community.Display.V1.AttributeName"] == "fullname"
    names = [r["name"] for r in got]
    assert names == sorted(names, key=str.lower, reverse=True)


def test_sql_join_like_and_paging(api, base) -> None:
    text = ("SELECT c.fullname, a.name FROM contact c INNER JOIN account a "
            "ON a.accountid = c.parentcustomerid WHERE c.lastname LIKE '%e%' ORDER BY c.fullname")
    first = sql(api, base, text, prefer="odata.maxpagesize=10")
    assert first.status_code == 200, first.text
    body = first.json()
    seen = [r["contactid"] for r in body["value"]]
    assert all("a.name" in r for r in body["value"])
    while "@odata.nextLink" in body:
        body = api.get(body["@odata.nextLink"], headers={"Prefer": "odata.maxpagesize=10"},
                       timeout=10).json()
        seen.extend(r["contactid"] for r in body["value"])
    want = odata(api, base, "contacts?$select=contactid&$filter=" + quote(
        "_parentcustomerid_value ne null and contains(lastname,'e')"))
    assert len(seen) == len(set(seen)) == len(want) > 10


def test_sql_aggregate(api, base) -> None:
    resp = sql(api, base, "SELECT address1_city, COUNT(*) AS cnt FROM contact "
                          "GROUP BY address1_city ORDER BY cnt DESC")
    assert resp.status_code == 200, resp.text
    got = resp.json()["value"]
    assert sum(r["cnt"] for r in got) == len(odata(api, base, "contacts?$select=contactid"))


@pytest.mark.parametrize("text", [
    "SELECT * FROM contact",
    "DELETE FROM contact",
    "SELECT fullname FROM contact; SELECT name FROM account",
    "SELECT fullname FROM contact WHERE contactid IN (SELECT contactid FROM contact)",
    "SELECT c.fullname FROM contact c RIGHT JOIN account a ON a.accountid = c.parentcustomerid",
    "SELECT address1_city, COUNT(*) FROM contact GROUP BY address1_city HAVING COUNT(*) > 1",
    "SELECT fullname FROM contact WHERE 1 = 1",
    "SELECT name FROM account",
])
def test_sql_refused(api, base, text) -> None:
    resp = sql(api, base, text)
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "0x80040203"


def test_sql_unknown_column(api, base) -> None:
    resp = sql(api, base, "SELECT nosuchcolumn FROM contact")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "0x80041103"
