"""Organization Service records over real HTTPS: typed attributes, create with the client's
id, duplicates, update, delete, SetState, and storage shared with the Web API."""

from __future__ import annotations

import uuid

import pytest
import requests

from dynamics_emulator import EmulatorServer
from tests.dynamics_emulator.soaputil import (
    ARR,
    SER,
    SVC,
    A,
    I,
    create_body,
    entity,
    entity_ref,
    execute_body,
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
from tests.dynamics_emulator.soaputil import attributes as attrs_of

ORGS = ["legacy2013", "legacy2015", "fabrikam"]


@pytest.fixture
def http(emulator: EmulatorServer) -> requests.Session:
    return ntlm_session(emulator)


def _retrieve(
    http: requests.Session, url: str, name: str, ident: str, columns: list[str] | None = None
) -> requests.Response:
    cols = "".join(f"<b:string>{c}</b:string>" for c in columns or [])
    column_set = (
        f"<a:AllColumns>{'false' if columns else 'true'}</a:AllColumns>"
        f'<a:Columns xmlns:b="{ARR}">{cols}</a:Columns>'
    )
    return post(
        http,
        url,
        "Retrieve",
        f'<Retrieve xmlns="{SVC}"><entityName>{name}</entityName>'
        f'<id>{ident}</id><columnSet xmlns:a="{A}" xmlns:i="{I}">{column_set}'
        f"</columnSet></Retrieve>",
    )


def _account(http: requests.Session, url: str, name: str) -> str:
    resp = post(http, url, "Create", create_body("account", pair("name", value("string", name))))
    assert resp.status_code == 200, resp.text
    return text(parse(resp), f".//{{{SVC}}}CreateResult")


@pytest.mark.parametrize("org", ORGS)
def test_typed_attributes_round_trip(
    emulator: EmulatorServer, http: requests.Session, org: str
) -> None:
    url = service_url(emulator, org)
    account = _account(http, url, "Typed GmbH")
    attrs = (
        pair("firstname", value("string", "Ada"))
        + pair("lastname", value("string", "Lovelace"))
        + pair("numberofchildren", value("int", "2"))
        + pair("mwx_score", value("decimal", "12.75"))
        + pair("donotbulkemail", value("boolean", "true"))
        + pair("mwx_consenton", value("dateTime", "2024-03-01T10:30:00Z"))
        + pair("creditlimit", '<c:value i:type="a:Money"><a:Value>1500.5</a:Value></c:value>')
        + pair("gendercode", '<c:value i:type="a:OptionSetValue"><a:Value>2</a:Value></c:value>')
        + pair("parentcustomerid", entity_ref("account", account))
    )
    resp = post(http, url, "Create", create_body("contact", attrs))
    assert resp.status_code == 200, resp.text
    contact = text(parse(resp), f".//{{{SVC}}}CreateResult")
    got = _retrieve(http, url, "contact", contact)
    assert got.status_code == 200, got.text
    entity_el = find(parse(got), f".//{{{SVC}}}RetrieveResult")
    assert text(entity_el, "a:Id") == contact
    assert text(entity_el, "a:LogicalName") == "contact"
    values = {k: typed(v) for k, v in attrs_of(entity_el).items()}
    assert values["firstname"] == ("string", "Ada")
    assert values["fullname"] == ("string", "Ada Lovelace")
    assert values["numberofchildren"] == ("int", "2")
    assert values["mwx_score"] == ("decimal", "12.75")
    assert values["donotbulkemail"] == ("boolean", "true")
    assert values["mwx_consenton"] == ("dateTime", "2024-03-01T10:30:00Z")
    assert values["creditlimit"] == ("Money", "1500.5")
    assert values["gendercode"] == ("OptionSetValue", "2")
    assert values["parentcustomerid"] == ("EntityReference", "account", account)
    assert values["contactid"] == ("guid", contact)
    assert "jobtitle" not in values  # null columns are left out
    formatted = {
        text(p, "{http://schemas.datacontract.org/2004/07/System.Collections.Generic}key"): p
        for p in find(entity_el, "a:FormattedValues")
    }
    assert "gendercode" in formatted


def test_column_set_limits_the_attributes(emulator: EmulatorServer, http: requests.Session) -> None:
    url = service_url(emulator, "legacy2015")
    account = _account(http, url, "Columns AG")
    entity_el = find(
        parse(_retrieve(http, url, "account", account, ["name"])), f".//{{{SVC}}}RetrieveResult"
    )
    assert set(attrs_of(entity_el)) == {"name", "accountid"}


def test_create_with_client_id_twice_is_a_duplicate_fault(
    emulator: EmulatorServer, http: requests.Session
) -> None:
    url = service_url(emulator, "legacy2013")
    ident = str(uuid.uuid4())
    body = create_body("account", pair("name", value("string", "Once Ltd")), ident)
    first = post(http, url, "Create", body)
    assert text(parse(first), f".//{{{SVC}}}CreateResult") == ident
    code, message = fault(post(http, url, "Create", body))
    assert code == -2147220937  # 0x80040237 DuplicateRecord
    assert "already exists" in message


def test_wrong_value_type_and_unknown_record_are_faults(
    emulator: EmulatorServer, http: requests.Session
) -> None:
    url = service_url(emulator, "legacy2015")
    code, message = fault(
        post(
            http,
            url,
            "Create",
            create_body(
                "contact",
                pair("lastname", value("string", "X"))
                + pair("numberofchildren", value("string", "two")),
            ),
        )
    )
    assert (code, message) == (-2147220989, "Incorrect attribute value type System.String")
    missing = str(uuid.uuid4())
    code, message = fault(_retrieve(http, url, "contact", missing))
    assert code == -2147220969  # 0x80040217 ObjectDoesNotExist
    assert missing in message


def test_update_and_delete(emulator: EmulatorServer, http: requests.Session) -> None:
    url = service_url(emulator, "legacy2015")
    account = _account(http, url, "Before")
    body = (
        f'<Update xmlns="{SVC}"><entity xmlns:a="{A}" xmlns:i="{I}">'
        f"{entity('account', pair('name', value('string', 'After')), account)}"
        f"</entity></Update>"
    )
    resp = post(http, url, "Update", body)
    assert resp.status_code == 200, resp.text
    got = attrs_of(
        find(
            parse(_retrieve(http, url, "account", account, ["name"])), f".//{{{SVC}}}RetrieveResult"
        )
    )
    assert got["name"].text == "After"
    resp = post(
        http,
        url,
        "Delete",
        f'<Delete xmlns="{SVC}"><entityName>account</entityName><id>{account}</id></Delete>',
    )
    assert resp.status_code == 200, resp.text
    assert fault(_retrieve(http, url, "account", account))[0] == -2147220969


def test_set_state_deactivates_with_the_default_status(
    emulator: EmulatorServer, http: requests.Session
) -> None:
    url = service_url(emulator, "legacy2013")
    account = _account(http, url, "Stateful")
    params = (
        f"<a:KeyValuePairOfstringanyType><c:key>EntityMoniker</c:key>"
        f"{entity_ref('account', account)}</a:KeyValuePairOfstringanyType>"
        + pair("State", '<c:value i:type="a:OptionSetValue"><a:Value>1</a:Value></c:value>')
        + pair("Status", '<c:value i:type="a:OptionSetValue"><a:Value>-1</a:Value></c:value>')
    )
    resp = post(http, url, "Execute", execute_body("SetStateRequest", "SetState", params))
    assert resp.status_code == 200, resp.text
    got = {
        k: typed(v)
        for k, v in attrs_of(
            find(
                parse(_retrieve(http, url, "account", account, ["statecode", "statuscode"])),
                f".//{{{SVC}}}RetrieveResult",
            )
        ).items()
    }
    assert got["statecode"] == ("OptionSetValue", "1")
    assert got["statuscode"] == ("OptionSetValue", "2")
    bad = (
        pair("EntityMoniker", entity_ref("account", account))
        + pair("State", '<c:value i:type="a:OptionSetValue"><a:Value>0</a:Value></c:value>')
        + pair("Status", '<c:value i:type="a:OptionSetValue"><a:Value>2</a:Value></c:value>')
    )
    code, _ = fault(post(http, url, "Execute", execute_body("SetStateRequest", "SetState", bad)))
    assert code == -2147220872  # 0x80040278 invalid status for the state


def test_soap_writes_are_visible_through_the_web_api(
    emulator: EmulatorServer, http: requests.Session
) -> None:
    url = service_url(emulator, "fabrikam")
    account = _account(http, url, "Shared Storage KG")
    web = http.get(
        f"{emulator.web_api_url('fabrikam', 'v8.2')}accounts({account})?$select=name", timeout=10
    )
    assert web.status_code == 200, web.text
    assert web.json()["name"] == "Shared Storage KG"
    # And the other way: a Web API change is what SOAP reads.
    http.patch(
        f"{emulator.web_api_url('fabrikam', 'v8.2')}accounts({account})",
        json={"name": "Changed via Web API"},
        timeout=10,
    ).raise_for_status()
    got = attrs_of(
        find(
            parse(_retrieve(http, url, "account", account, ["name"])), f".//{{{SVC}}}RetrieveResult"
        )
    )
    assert got["name"].text == "Changed via Web API"


def test_guid_values_use_the_serialization_namespace(
    emulator: EmulatorServer, http: requests.Session
) -> None:
    resp = post(
        http,
        service_url(emulator, "legacy2015"),
        "Execute",
        execute_body("WhoAmIRequest", "WhoAmI", ""),
    )
    assert f'xmlns:e="{SER}"' in resp.text
    assert 'i:type="e:guid"' in resp.text
