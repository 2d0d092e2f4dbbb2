"""`$batch` over real HTTPS: framing, changesets, Content-ID, errors, continue-on-error."""

from __future__ import annotations

import re

from tests.dynamics_emulator.batchutil import parse_response, post_batch, request_part


def _count(api, base: str, lastname: str) -> int:
    resp = api.get(base + f"contacts?$filter=lastname eq '{lastname}'&$select=contactid")
    return len(resp.json()["value"])


def test_doc_example_continue_on_error(api, base) -> None:
    # Microsoft's example: three creates, the second invalid; continue-on-error → 200 and
    # every request's own status, in order.
    items = [
        request_part("POST", "/api/data/v9.2/contacts", {"lastname": "BatchOne"}),
        request_part("POST", "/api/data/v9.2/contacts", {"lastname": "BatchTwo", "nope": 1}),
        request_part("POST", "/api/data/v9.2/contacts", {"lastname": "BatchThree"}),
    ]
    resp = post_batch(api, base, items, prefer="odata.continue-on-error")
    assert resp.status_code == 200
    assert re.match(r"multipart/mixed; boundary=batchresponse_[0-9a-f-]{36}$",
                    resp.headers["Content-Type"])
    assert resp.headers["Preference-Applied"] == "odata.continue-on-error"
    parts = parse_response(resp)
    assert [p["status"] for p in parts] == [204, 400, 204]
    assert parts[0]["status_line"] == "HTTP/1.1 204 No Content"
    assert parts[0]["headers"]["OData-EntityId"].startswith(base + "contacts(")
    assert parts[0]["headers"]["Location"] == parts[0]["headers"]["OData-EntityId"]
    assert parts[1]["json"]["error"]["code"] == "0x80048d19"
    assert "REQ_ID" in parts[1]["headers"]
    assert _count(api, base, "BatchThree") == 1


def test_first_failure_stops_without_continue_on_error(api, base) -> None:
    items = [
        request_part("POST", "/api/data/v9.2/contacts", {"lastname": "StopOne"}),
        request_part("POST", "/api/data/v9.2/contacts", {"lastname": "StopTwo", "nope": 1}),
        request_part("POST", "/api/data/v9.2/contacts", {"lastname": "StopThree"}),
    ]
    resp = post_batch(api, base, items)
    assert resp.status_code == 400
    parts = parse_response(resp)
    assert len(parts) == 1 and parts[0]["status"] == 400
    assert _count(api, base, "StopOne") == 1  # outside a changeset: not rolled back
    assert _count(api, base, "StopThree") == 0


def test_changeset_content_id_and_absolute_urls(api, base, emulator) -> None:
    absolute = emulator.org_url() + "/api/data/v9.2/accounts"
    changeset = [
        request_part("POST", absolute, {"name": "Batch Co"}, content_id="1"),
        request_part("POST", "/api/data/v9.2/contacts",
                     {"lastname": "Linked", "parentcustomerid_account@odata.bind": "$1"},
                     content_id="2"),
        request_part("PATCH", "$1", {"telephone1": "+43 1 234"}, content_id="3"),
        request_part("PUT", "$1/primarycontactid/$ref", {"@odata.id": "$2"}, content_id="4"),
    ]
    get = request_part("GET", "/api/data/v9.2/accounts?$select=name&$filter=name eq 'Batch Co'")
    resp = post_batch(api, base, [changeset, get])
    assert resp.status_code == 200, resp.text
    parts = parse_response(resp)
    assert [(p["status"], p["content_id"], p["in_changeset"]) for p in parts] == [
        (204, "1", True), (204, "2", True), (204, "3", True), (204, "4", True),
        (200, None, False)]
    assert parts[4]["json"]["value"][0]["name"] == "Batch Co"
    acc = api.get(parts[0]["headers"]["OData-EntityId"] +
                  "?$select=telephone1,_primarycontactid_value").json()
    contact_id = parts[1]["headers"]["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    assert acc["telephone1"] == "+43 1 234" and acc["_primarycontactid_value"] == contact_id


def test_changeset_rolls_back_as_a_unit(api, base) -> None:
    changeset = [
        request_part("POST", "/api/data/v9.2/contacts", {"lastname": "Atomic"}, content_id="1"),
        request_part("POST", "/api/data/v9.2/contacts", {"lastname": "x" * 51}, content_id="2"),
    ]
    after = request_part("POST", "/api/data/v9.2/contacts", {"lastname": "AfterFail"})
    resp = post_batch(api, base, [changeset, after], prefer="odata.continue-on-error")
    assert resp.status_code == 200
    parts = parse_response(resp)
    # The failed changeset is reported as its failing response only.
    assert [(p["status"], p["content_id"]) for p in parts] == [(400, "2"), (204, None)]
    assert parts[0]["json"]["error"]["code"] == "0x80044331"
    assert _count(api, base, "Atomic") == 0
    assert _count(api, base, "AfterFail") == 1


def test_forward_reference_is_refused(api, base) -> None:
    changeset = [
        request_part("POST", "/api/data/v9.2/contacts",
                     {"lastname": "Fwd", "parentcustomerid_account@odata.bind": "$2"},
                     content_id="1"),
        request_part("POST", "/api/data/v9.2/accounts", {"name": "Later"}, content_id="2"),
    ]
    resp = post_batch(api, base, [changeset])
    assert resp.status_code == 400
    (part,) = parse_response(resp)
    assert part["json"]["error"]["message"] == \
        "Content-ID Reference: '$2' does not exist in the batch context."
    assert _count(api, base, "Fwd") == 0


def test_get_inside_changeset_and_too_many_requests(api, base) -> None:
    resp = post_batch(api, base, [[request_part("GET", "/api/data/v9.2/contacts")]])
    assert resp.status_code == 400
    assert "change set" in resp.json()["error"]["message"]
    many = [request_part("GET", "/api/data/v9.2/WhoAmI")] * 1001
    resp = post_batch(api, base, many)
    assert resp.status_code == 400
    assert "'1000'" in resp.json()["error"]["message"]
    resp = post_batch(api, base, [request_part("GET", "/api/data/v9.2/WhoAmI")] * 1000)
    assert resp.status_code == 200 and len(parse_response(resp)) == 1000


def test_inner_requests_use_the_callers_privileges(emulator, base) -> None:
    from dynamics_emulator.seed import LIMITED_CLIENT_ID, LIMITED_CLIENT_SECRET
    from dynamics_emulator.testing import trusted_session, web_api_session
    limited = web_api_session(emulator, client_id=LIMITED_CLIENT_ID, secret=LIMITED_CLIENT_SECRET)
    cid = limited.get(base + "contacts?$top=1&$select=contactid").json()["value"][0]["contactid"]
    resp = post_batch(limited, base, [request_part("DELETE", f"/api/data/v9.2/contacts({cid})")])
    assert resp.status_code == 403
    assert parse_response(resp)[0]["json"]["error"]["code"] == "0x80042f09"
    # Without a token the batch itself is refused.
    resp = post_batch(trusted_session(emulator), base, [])
    assert resp.status_code == 401
