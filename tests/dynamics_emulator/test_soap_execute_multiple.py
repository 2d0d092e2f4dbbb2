"""ExecuteMultiple over real HTTPS: ContinueOnError, ReturnResponses, per-item faults, the
batch-size limit and its own concurrency throttle ("Server Busy")."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET

import pytest
import requests

from dynamics_emulator import EmulatorServer
from tests.dynamics_emulator.soaputil import (
    A,
    B,
    C,
    entity,
    execute_body,
    fault,
    find,
    ntlm_session,
    pair,
    post,
    request_item,
    results,
    service_url,
    text,
    type_of,
    value,
)


@pytest.fixture
def http(emulator: EmulatorServer) -> requests.Session:
    return ntlm_session(emulator)


def _create(name: str, ident: str | None = None) -> str:
    record = entity("account", pair("name", value("string", name)), ident or str(uuid.uuid4()))
    target = (
        f'<a:KeyValuePairOfstringanyType><c:key>Target</c:key><c:value i:type="a:Entity">'
        f"{record}"
        f"</c:value></a:KeyValuePairOfstringanyType>"
    )
    return request_item("CreateRequest", "Create", target)


def _execute_multiple(items: list[str], continue_on_error: bool, return_responses: bool) -> str:
    settings = (
        f'<c:value i:type="a:ExecuteMultipleSettings"><a:ContinueOnError>'
        f"{str(continue_on_error).lower()}</a:ContinueOnError><a:ReturnResponses>"
        f"{str(return_responses).lower()}</a:ReturnResponses></c:value>"
    )
    requests_xml = f'<c:value i:type="a:OrganizationRequestCollection">{"".join(items)}</c:value>'
    return execute_body(
        "ExecuteMultipleRequest",
        "ExecuteMultiple",
        pair("Requests", requests_xml) + pair("Settings", settings),
        A,
    )


def _items(resp: requests.Response) -> tuple[bool, list[ET.Element]]:
    got = results(resp)
    assert type_of(got["Responses"]) == "ExecuteMultipleResponseItemCollection"
    return got["IsFaulted"].text == "true", list(got["Responses"])


def test_return_responses_and_continue_on_error(
    emulator: EmulatorServer, http: requests.Session
) -> None:
    url = service_url(emulator, "legacy2015")
    dup = str(uuid.uuid4())
    items = [_create("One", dup), _create("Duplicate", dup), _create("Three")]
    faulted, responses = _items(post(http, url, "Execute", _execute_multiple(items, True, True)))
    assert faulted
    assert [text(r, "a:RequestIndex") for r in responses] == ["0", "1", "2"]
    first, second, third = responses
    assert find(first, "a:Fault").get("{http://www.w3.org/2001/XMLSchema-instance}nil") == "true"
    assert type_of(find(first, "a:Response")) == "CreateResponse"
    created = {
        find(p, f"{{{C}}}key").text: find(p, f"{{{C}}}value")
        for p in find(find(first, "a:Response"), "a:Results")
    }
    assert created["id"].text == dup
    assert text(find(second, "a:Fault"), "a:ErrorCode") == "-2147220937"  # duplicate
    assert type_of(find(third, "a:Response")) == "CreateResponse"


def test_stop_at_the_first_fault_without_continue_on_error(
    emulator: EmulatorServer, http: requests.Session
) -> None:
    url = service_url(emulator, "legacy2013")
    dup = str(uuid.uuid4())
    last = str(uuid.uuid4())
    items = [_create("One", dup), _create("Again", dup), _create("Never", last)]
    faulted, responses = _items(post(http, url, "Execute", _execute_multiple(items, False, False)))
    # Without ReturnResponses only the fault comes back; the third request never ran.
    assert faulted and [text(r, "a:RequestIndex") for r in responses] == ["1"]
    assert text(find(responses[0], "a:Fault"), "a:ErrorCode") == "-2147220937"
    retrieve = post(
        http,
        url,
        "Execute",
        execute_body(
            "RetrieveRequest",
            "Retrieve",
            (
                "<a:KeyValuePairOfstringanyType><c:key>Target</c:key>"
                '<c:value i:type="a:EntityReference">'
                f"<a:Id>{last}</a:Id><a:LogicalName>account</a:LogicalName></c:value>"
                f"</a:KeyValuePairOfstringanyType>"
            ),
            A,
        ),
    )
    assert fault(retrieve)[0] == -2147220969  # each request its own transaction: 3rd not run


def test_messages_inside_execute_multiple(emulator: EmulatorServer, http: requests.Session) -> None:
    url = service_url(emulator, "fabrikam")
    items = [
        request_item("WhoAmIRequest", "WhoAmI", "", B),
        request_item("RetrieveVersionRequest", "RetrieveVersion", "", B),
    ]
    faulted, responses = _items(post(http, url, "Execute", _execute_multiple(items, True, True)))
    assert not faulted
    assert [type_of(find(r, "a:Response")) for r in responses] == [
        "WhoAmIResponse",
        "RetrieveVersionResponse",
    ]


def test_more_than_1000_requests_is_refused(
    emulator: EmulatorServer, http: requests.Session
) -> None:
    url = service_url(emulator, "legacy2015")
    items = [request_item("WhoAmIRequest", "WhoAmI", "", B)] * 1001
    resp = post(http, url, "Execute", _execute_multiple(items, True, False))
    code, _ = fault(resp)
    assert code == -2147220989
    assert "<c:key>MaxBatchSize</c:key>" in resp.text and ">1000</c:value>" in resp.text


def test_concurrency_throttle_answers_server_busy(
    emulator: EmulatorServer, http: requests.Session
) -> None:
    url = service_url(emulator, "legacy2015")
    gate = emulator.emulator.execute_multiple_gate
    body = _execute_multiple([_create("Busy")], True, True)
    # Two ExecuteMultiple requests in flight for the organisation (the documented limit).
    assert gate.try_enter("legacy2015") and gate.try_enter("legacy2015")
    try:
        code, message = fault(post(http, url, "Execute", body))
        assert (code, message) == (-2147015898, "Server Busy")
        # Other organisations and other messages are not affected.
        assert post(http, service_url(emulator, "legacy2013"), "Execute", body).status_code == 200
        assert (
            post(http, url, "Execute", execute_body("WhoAmIRequest", "WhoAmI", "")).status_code
            == 200
        )
    finally:
        gate.leave("legacy2015")
        gate.leave("legacy2015")
    faulted, responses = _items(post(http, url, "Execute", body))
    assert not faulted and len(responses) == 1
