"""A dynamic list's FetchXML rewritten for a member read, and its paging cookie."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import quote

import pytest

from dynamics.fetchxml import InvalidFetch, _next, fetch_pages, member_fetch

SAVED = ('<fetch version="1.0" count="50" page="3" returntotalrecordcount="true">'
         '<entity name="contact"><attribute name="fullname"/><all-attributes/>'
         '<order attribute="fullname"/>'
         '<filter><condition attribute="address1_city" operator="eq" value="Graz"/></filter>'
         '<link-entity name="account" from="accountid" to="parentcustomerid" alias="a">'
         '<attribute name="name"/><order attribute="name"/>'
         '<filter><condition attribute="name" operator="like" value="A%"/></filter>'
         '</link-entity></entity></fetch>')


def test_the_rewrite_keeps_filters_and_joins_and_reads_only_the_wanted_columns() -> None:
    fetch = member_fetch(SAVED, "contact", ["contactid", "emailaddress1", "_masterid_value"],
                         page_size=100)
    entity = fetch.find("entity")
    assert entity is not None
    assert [a.get("name") for a in entity.findall("attribute")] == [
        "contactid", "emailaddress1", "masterid"]
    assert entity.find("all-attributes") is None
    assert [o.get("attribute") for o in entity.findall("order")] == ["contactid"]
    link = entity.find("link-entity")
    assert link is not None and link.get("alias") == "a"
    assert link.find("attribute") is None and link.find("order") is None
    assert link.find("filter/condition") is not None
    assert entity.find("filter/condition").get("value") == "Graz"  # type: ignore[union-attr]
    assert (fetch.get("count"), fetch.get("page"), fetch.get("returntotalrecordcount")) == (
        "100", None, None)


@pytest.mark.parametrize("text, kind", [
    ("<fetch><entity name='lead'/></fetch>", "wrong_entity"),
    ("<fetch/>", "no_entity"),
    ("<fetch aggregate='true'><entity name='contact'/></fetch>", "aggregate"),
    ("<list/>", "not_xml"),
    ("", "not_xml"),
    ('<!DOCTYPE x [<!ENTITY a "b">]><fetch><entity name="contact"/></fetch>', "not_xml"),
])
def test_a_query_that_is_not_a_member_query_is_refused_by_kind(text: str, kind: str) -> None:
    with pytest.raises(InvalidFetch) as caught:
        member_fetch(text, "contact", ["contactid"])
    assert caught.value.kind == kind


def test_the_next_page_comes_from_the_cookie_or_else_the_page_number() -> None:
    inner = '<cookie page="1"><contactid last="{B}" first="{A}" /></cookie>'
    outer = (f'<cookie pagenumber="2" pagingcookie="{quote(quote(inner, safe=""), safe="")}" '
             'istracking="False" />')
    assert _next(outer, 1) == (2, inner)
    assert _next(None, 4) == (5, None)
    assert _next('<cookie pagenumber="1" pagingcookie="x" />', 3) == (4, None)


class Pages:
    """A transport answering three pages; it records the fetch it was sent each time."""

    def __init__(self) -> None:
        self.sent: list[ET.Element] = []

    def get_json(self, path: str, params: dict[str, str], headers: dict[str, str]) -> Any:
        assert "fetchxmlpagingcookie" in headers["Prefer"]
        fetch = ET.fromstring(params["fetchXml"])
        self.sent.append(fetch)
        page = int(fetch.get("page") or 0)
        body: dict[str, Any] = {"value": [{"contactid": str(page)}],
                                "@Microsoft.Dynamics.CRM.morerecords": page < 3}
        if page == 1:
            body["@Microsoft.Dynamics.CRM.fetchxmlpagingcookie"] = (
                '<cookie pagenumber="2" pagingcookie="%253Ccookie%2520page%253D%25221%2522'
                '%253E%253C%252Fcookie%253E" />')
        return body


def test_fetch_pages_follows_the_cookie_and_stops_when_no_more_records() -> None:
    transport = Pages()
    fetch = member_fetch("<fetch><entity name='contact'/></fetch>", "contact", [])
    rows = list(fetch_pages(transport, "contacts", fetch))  # type: ignore[arg-type]
    assert rows == [[{"contactid": "1"}], [{"contactid": "2"}], [{"contactid": "3"}]]
    assert [f.get("paging-cookie") for f in transport.sent] == [
        None, '<cookie page="1"></cookie>', None]
