"""RetrieveMultiple over real HTTPS: QueryExpression paging with the paging cookie and
MoreRecords, conditions, link-entities as aliased values, FetchExpression."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

import pytest
import requests

from dynamics_emulator import EmulatorServer
from dynamics_emulator.testing import trusted_session
from tests.dynamics_emulator.soaputil import (
    ARR,
    SVC,
    XS,
    A,
    I,
    attributes,
    create_body,
    fault,
    find,
    ntlm_session,
    pair,
    parse,
    post,
    service_url,
    text,
    typed,
    value,
)


@pytest.fixture
def http(emulator: EmulatorServer) -> requests.Session:
    return ntlm_session(emulator)


def _query(
    entity: str,
    columns: list[str],
    page: int,
    count: int,
    cookie: str | None = None,
    conditions: str = "",
    links: str = "",
    total: bool = False,
) -> str:
    cols = "".join(f"<b:string>{c}</b:string>" for c in columns)
    paging = (
        f"<a:PagingCookie>{escape(cookie)}</a:PagingCookie>"
        if cookie
        else '<a:PagingCookie i:nil="true"/>'
    )
    return (
        f'<RetrieveMultiple xmlns="{SVC}"><query i:type="a:QueryExpression" xmlns:a="{A}" '
        f'xmlns:i="{I}"><a:ColumnSet><a:AllColumns>false</a:AllColumns>'
        f'<a:Columns xmlns:b="{ARR}">{cols}</a:Columns></a:ColumnSet><a:Criteria>'
        f"<a:Conditions>{conditions}</a:Conditions><a:FilterOperator>And</a:FilterOperator>"
        f"<a:Filters/></a:Criteria><a:Distinct>false</a:Distinct>"
        f"<a:EntityName>{entity}</a:EntityName><a:LinkEntities>{links}</a:LinkEntities>"
        f"<a:Orders><a:OrderExpression><a:AttributeName>createdon</a:AttributeName>"
        f"<a:OrderType>Ascending</a:OrderType></a:OrderExpression></a:Orders>"
        f"<a:PageInfo><a:Count>{count}</a:Count><a:PageNumber>{page}</a:PageNumber>{paging}"
        f"<a:ReturnTotalRecordCount>{'true' if total else 'false'}"
        f"</a:ReturnTotalRecordCount></a:PageInfo><a:NoLock>false</a:NoLock>"
        f"</query></RetrieveMultiple>"
    )


def _condition(attribute: str, operator: str, *values: tuple[str, str]) -> str:
    vals = "".join(
        f'<b:anyType i:type="c:{kind}" xmlns:c="{XS}">{v}</b:anyType>' for kind, v in values
    )
    return (
        f"<a:ConditionExpression><a:AttributeName>{attribute}</a:AttributeName>"
        f'<a:Operator>{operator}</a:Operator><a:Values xmlns:b="{ARR}">{vals}</a:Values>'
        f"</a:ConditionExpression>"
    )


def _collection(resp: requests.Response) -> ET.Element:
    assert resp.status_code == 200, resp.text
    return find(parse(resp), f".//{{{SVC}}}RetrieveMultipleResult")


def test_query_expression_pages_with_cookie_and_more_records(
    emulator: EmulatorServer, http: requests.Session
) -> None:
    url = service_url(emulator, "legacy2015")
    cond = _condition("statecode", "Equal", ("int", "0"))
    total = _collection(
        post(
            http,
            url,
            "RetrieveMultiple",
            _query("contact", ["fullname"], 1, 5000, conditions=cond, total=True),
        )
    )
    expected = int(text(total, "a:TotalRecordCount"))
    assert expected == len(find(total, "a:Entities")) > 10
    seen: list[str] = []
    page, cookie, more = 1, None, True
    while more:
        col = _collection(
            post(
                http,
                url,
                "RetrieveMultiple",
                _query("contact", ["fullname"], page, 10, cookie, cond),
            )
        )
        entities = list(find(col, "a:Entities"))
        assert len(entities) <= 10
        seen += [text(e, "a:Id") for e in entities]
        more = text(col, "a:MoreRecords") == "true"
        cookie_el = find(col, "a:PagingCookie")
        if more:
            cookie = cookie_el.text or ""
            assert cookie.startswith(f'<cookie page="{page}"><contactid last="{{')
        page += 1
    assert len(seen) == len(set(seen)) == expected
    assert text(col, "a:EntityName") == "contact"


def test_conditions_and_link_entities_as_aliased_values(
    emulator: EmulatorServer, http: requests.Session
) -> None:
    url = service_url(emulator, "fabrikam")
    link = (
        "<a:LinkEntity><a:Columns><a:AllColumns>false</a:AllColumns>"
        f'<a:Columns xmlns:b="{ARR}"><b:string>name</b:string></a:Columns></a:Columns>'
        "<a:EntityAlias>company</a:EntityAlias><a:JoinOperator>Inner</a:JoinOperator>"
        "<a:LinkCriteria><a:Conditions/><a:FilterOperator>And</a:FilterOperator>"
        "<a:Filters/></a:LinkCriteria><a:LinkEntities/>"
        "<a:LinkFromAttributeName>parentcustomerid</a:LinkFromAttributeName>"
        "<a:LinkFromEntityName>contact</a:LinkFromEntityName>"
        "<a:LinkToAttributeName>accountid</a:LinkToAttributeName>"
        "<a:LinkToEntityName>account</a:LinkToEntityName></a:LinkEntity>"
    )
    col = _collection(
        post(
            http,
            url,
            "RetrieveMultiple",
            _query(
                "contact",
                ["fullname", "parentcustomerid"],
                1,
                50,
                conditions=_condition("parentcustomerid", "NotNull"),
                links=link,
            ),
        )
    )
    entities = list(find(col, "a:Entities"))
    assert entities
    for ent in entities:
        values = attributes(ent)
        kind, logical, _account = typed(values["parentcustomerid"])
        assert (kind, logical) == ("EntityReference", "account")
        aliased = values["company.name"]
        assert typed(aliased)[0] == "AliasedValue"
        assert text(aliased, "a:AttributeLogicalName") == "name"
        assert text(aliased, "a:EntityLogicalName") == "account"
        assert typed(find(aliased, "a:Value"))[0] == "string"


def test_fetch_expression_with_paging_cookie(
    emulator: EmulatorServer, http: requests.Session
) -> None:
    url = service_url(emulator, "legacy2013")

    def fetch(page: int, cookie: str | None) -> ET.Element:
        cookie_attr = f' paging-cookie="{escape(cookie, {chr(34): "&quot;"})}"' if cookie else ""
        xml = (
            f'<fetch count="7" page="{page}"{cookie_attr}><entity name="account">'
            f'<attribute name="name"/><attribute name="revenue"/>'
            f'<filter><condition attribute="statecode" operator="eq" value="0"/></filter>'
            f'<order attribute="name"/></entity></fetch>'
        )
        body = (
            f'<RetrieveMultiple xmlns="{SVC}"><query i:type="a:FetchExpression" '
            f'xmlns:a="{A}" xmlns:i="{I}"><a:Query>{escape(xml)}</a:Query>'
            f"</query></RetrieveMultiple>"
        )
        return _collection(post(http, url, "RetrieveMultiple", body))

    first = fetch(1, None)
    assert text(first, "a:MoreRecords") == "true"
    names = [text(attributes(e)["name"]) for e in find(first, "a:Entities")]
    assert names == sorted(names, key=str.casefold) and len(names) == 7
    second = fetch(2, find(first, "a:PagingCookie").text)
    first_ids = {text(e, "a:Id") for e in find(first, "a:Entities")}
    second_ids = {text(e, "a:Id") for e in find(second, "a:Entities")}
    assert second_ids and not second_ids & first_ids
    revenue = [attributes(e).get("revenue") for e in find(first, "a:Entities")]
    assert any(r is not None and typed(r)[0] == "Money" for r in revenue)


def test_fetch_aggregate_answers_aliased_values(
    emulator: EmulatorServer, http: requests.Session
) -> None:
    url = service_url(emulator, "legacy2015")
    xml = (
        '<fetch aggregate="true"><entity name="contact"><attribute name="contactid" '
        'alias="n" aggregate="count"/></entity></fetch>'
    )
    col = _collection(
        post(
            http,
            url,
            "RetrieveMultiple",
            f'<RetrieveMultiple xmlns="{SVC}"><query i:type="a:FetchExpression" '
            f'xmlns:a="{A}" xmlns:i="{I}"><a:Query>{escape(xml)}</a:Query>'
            f"</query></RetrieveMultiple>",
        )
    )
    aliased = attributes(next(iter(find(col, "a:Entities"))))["n"]
    assert typed(find(aliased, "a:Value"))[0] == "int"
    assert int(text(aliased, "a:Value")) > 10


def test_unknown_attribute_in_a_query_is_a_fault(
    emulator: EmulatorServer, http: requests.Session
) -> None:
    code, message = fault(
        post(
            http,
            service_url(emulator, "legacy2015"),
            "RetrieveMultiple",
            _query("contact", ["nosuchcolumn"], 1, 10),
        )
    )
    assert code < 0 and "nosuchcolumn" in message


def test_modifiedon_watermark_reads_the_changes(
    emulator: EmulatorServer, http: requests.Session
) -> None:
    """CRM 2013/2015 have no RetrieveEntityChanges: changes are read with a modifiedon
    watermark (docs/organization-service.md §Queries)."""
    url = service_url(emulator, "legacy2015")
    everything = _collection(
        post(http, url, "RetrieveMultiple", _query("contact", ["modifiedon"], 1, 5000))
    )
    watermark = max(text(attributes(e)["modifiedon"]) for e in find(everything, "a:Entities"))
    # A minute later (the emulator clock) one contact is created and one changed.
    trusted_session(emulator).post(
        emulator.base_url + "/_admin/clock", json={"offset_seconds": 60}, timeout=10
    ).raise_for_status()
    created = post(
        http,
        url,
        "Create",
        create_body("contact", pair("lastname", value("string", "Watermark"))),
    )
    new_id = text(parse(created), f".//{{{SVC}}}CreateResult")
    changed = _collection(
        post(
            http,
            url,
            "RetrieveMultiple",
            _query(
                "contact",
                ["lastname", "modifiedon"],
                1,
                50,
                conditions=_condition("modifiedon", "GreaterThan", ("dateTime", watermark)),
            ),
        )
    )
    assert [text(e, "a:Id") for e in find(changed, "a:Entities")] == [new_id]
