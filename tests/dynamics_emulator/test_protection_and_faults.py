"""Service protection (429 + Retry-After, documented codes) and fault injection."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.dynamics_emulator.batchutil import parse_response, post_batch, request_part


def _limits(plain, emulator, **values) -> dict:
    resp = plain.post(emulator.base_url + "/_admin/limits", json=values)
    assert resp.status_code == 200
    return resp.json()


def test_request_limit_and_retry_after(api, base, plain, emulator) -> None:
    _limits(plain, emulator, requests=3, window_seconds=300, retry_after=0)
    assert [api.get(base + "WhoAmI").status_code for _ in range(3)] == [200, 200, 200]
    resp = api.get(base + "WhoAmI")
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "0"
    assert resp.json()["error"] == {
        "code": "0x80072322",
        "message": "Number of requests exceeded the limit of 3 over time window of 300 seconds."}
    state = plain.get(emulator.base_url + "/_admin/limits").json()
    assert state["refused"] == {"requests": 1}
    # Without the test override Retry-After says when the window frees a slot.
    _limits(plain, emulator, retry_after=None)
    assert 290 <= int(api.get(base + "WhoAmI").headers["Retry-After"]) <= 300
    # The window runs on the emulator clock: moving it 5 minutes frees the user.
    plain.post(emulator.base_url + "/_admin/clock", json={"offset_seconds": 301})
    plain.post(emulator.base_url + "/_admin/limits", json={"requests": 3})
    from dynamics_emulator.testing import web_api_session
    assert web_api_session(emulator).get(base + "WhoAmI").status_code == 200


def test_batch_and_bulk_count_as_one_request(api, base, plain, emulator) -> None:
    _limits(plain, emulator, requests=2, retry_after=0)
    resp = post_batch(api, base, [request_part("GET", "/api/data/v9.2/WhoAmI")] * 20)
    assert resp.status_code == 200 and len(parse_response(resp)) == 20
    bulk = api.post(base + "contacts/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": [
        {"@odata.type": "Microsoft.Dynamics.CRM.contact", "lastname": f"T{i}"}
        for i in range(20)]})
    assert bulk.status_code == 200
    assert api.get(base + "WhoAmI").status_code == 429


def test_concurrency_limit(api, base, plain, emulator) -> None:
    _limits(plain, emulator, concurrent=1, retry_after=1)
    plain.post(emulator.base_url + "/_admin/faults", json={"rules": [
        {"method": "GET", "path": "WhoAmI", "pslow": 1.0, "slow_ms": 400}]})
    from dynamics_emulator.testing import web_api_session
    sessions = [api, web_api_session(emulator)]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda s: s.get(base + "WhoAmI"), sessions))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 429]
    refused = next(r for r in results if r.status_code == 429)
    assert refused.json()["error"] == {
        "code": "0x80072326", "message": "Number of concurrent requests exceeded the limit of 1."}
    assert refused.headers["Retry-After"] == "1"


def test_execution_time_limit(api, base, plain, emulator) -> None:
    _limits(plain, emulator, execution_ms=50, retry_after=0)
    plain.post(emulator.base_url + "/_admin/faults", json={"rules": [
        {"method": "GET", "path": "WhoAmI", "pslow": 1.0, "slow_ms": 60}]})
    assert api.get(base + "WhoAmI").status_code == 200
    resp = api.get(base + "contacts?$top=1")
    assert resp.status_code == 429 and resp.json()["error"]["code"] == "0x80072321"
    assert "exceeded limit of 50  milliseconds" in resp.json()["error"]["message"]


def test_fail_next_exact(api, base, plain, emulator) -> None:
    plain.post(emulator.base_url + "/_admin/faults", json={"fail_next": [
        {"method": "GET", "path": r"/contacts$", "count": 2, "status": 429, "retry_after": 0},
        {"method": "POST", "path": r"/accounts$", "count": 1, "status": 503}]})
    statuses = [api.get(base + "contacts?$top=1").status_code for _ in range(3)]
    assert statuses == [429, 429, 200]
    assert api.get(base + "WhoAmI").status_code == 200  # other routes untouched
    assert api.post(base + "accounts", json={"name": "x"}).status_code == 503
    assert api.post(base + "accounts", json={"name": "x"}).status_code == 204
    injected = plain.get(emulator.base_url + "/_admin/faults").json()["injected"]
    assert injected == {"fail_next 429": 2, "fail_next 503": 1}


@pytest.mark.parametrize(("kind", "ctype", "check"), [
    ("html", "text/html", lambda body: body.startswith(b"<html>")),
    ("not_json", "application/json", lambda body: body == b"this is not JSON"),
    ("truncated", "application/json", lambda body: body.endswith(b'"contactid":"')),
    ("no_value", "application/json", lambda body: b"value" not in body),
])
def test_fail_next_can_answer_a_broken_body(api, base, plain, emulator, kind, ctype,
                                            check) -> None:
    plain.post(emulator.base_url + "/_admin/faults", json={"fail_next": [
        {"method": "GET", "path": r"/contacts$", "count": 1, "status": 200, "body": kind}]})
    broken = api.get(base + "contacts?$top=1")
    assert broken.status_code == 200 and broken.headers["Content-Type"] == ctype
    assert check(broken.content)
    assert api.get(base + "contacts?$top=1").json()["value"]  # the next answer is whole
    injected = plain.get(emulator.base_url + "/_admin/faults").json()["injected"]
    assert injected == {f"fail_next {kind}": 1}


def test_dropped_connection(api, base, plain, emulator) -> None:
    plain.post(emulator.base_url + "/_admin/faults", json={"fail_next": [
        {"method": "*", "path": "WhoAmI", "count": 1, "status": 0}]})
    with pytest.raises(requests.ConnectionError):
        api.get(base + "WhoAmI")
    assert api.get(base + "WhoAmI").status_code == 200


def test_random_faults_are_deterministic_per_seed(api, base, plain, emulator) -> None:
    rules = {"seed": 42, "rules": [{"method": "GET", "path": "WhoAmI", "p429": 0.3,
                                    "p503": 0.2, "retry_after": 0}]}

    def run() -> list[int]:
        plain.post(emulator.base_url + "/_admin/faults/reset")
        plain.post(emulator.base_url + "/_admin/faults", json=rules)
        return [api.get(base + "WhoAmI").status_code for _ in range(25)]

    first = run()
    assert first == run()
    assert {200, 429, 503} <= set(first)
    plain.post(emulator.base_url + "/_admin/faults", json={"enabled": False})
    assert all(api.get(base + "WhoAmI").status_code == 200 for _ in range(5))


def test_slow_response(api, base, plain, emulator) -> None:
    plain.post(emulator.base_url + "/_admin/faults", json={"rules": [
        {"method": "GET", "path": "WhoAmI", "pslow": 1.0, "slow_ms": 300}]})
    start = time.perf_counter()
    assert api.get(base + "WhoAmI").status_code == 200
    assert time.perf_counter() - start >= 0.3


def test_limits_are_per_user(api, base, plain, emulator) -> None:
    from dynamics_emulator.seed import LIMITED_CLIENT_ID, LIMITED_CLIENT_SECRET
    from dynamics_emulator.testing import web_api_session
    other = web_api_session(emulator, client_id=LIMITED_CLIENT_ID, secret=LIMITED_CLIENT_SECRET)
    _limits(plain, emulator, requests=1, retry_after=0)
    assert api.get(base + "WhoAmI").status_code == 200
    assert api.get(base + "WhoAmI").status_code == 429
    assert other.get(base + "WhoAmI").status_code == 200  # another application user


def test_two_application_users_have_two_execution_budgets(api, base, plain, emulator) -> None:
    from dynamics_emulator.credentials import SECOND_CLIENT_ID, SECOND_CLIENT_SECRET
    from dynamics_emulator.testing import web_api_session
    second = web_api_session(emulator, client_id=SECOND_CLIENT_ID, secret=SECOND_CLIENT_SECRET)
    assert second.get(base + "WhoAmI").json()["UserId"] != api.get(base + "WhoAmI").json()[
        "UserId"]
    _limits(plain, emulator, execution_ms=100, retry_after=0)
    plain.post(emulator.base_url + "/_admin/server-time", json={"per_record_ms": 30,
                                                               "sleep": False})

    def create(session, n: int) -> requests.Response:
        return session.post(base + "contacts/Microsoft.Dynamics.CRM.CreateMultiple", json={
            "Targets": [{"@odata.type": "Microsoft.Dynamics.CRM.contact", "lastname": f"U{i}"}
                        for i in range(n)]})

    assert create(api, 4).status_code == 200  # 120 ms: this user's budget is spent
    refused = api.get(base + "WhoAmI")
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "0x80072321"
    assert create(second, 2).status_code == 200  # the second application user has its own
    assert second.get(base + "WhoAmI").status_code == 200
    charged = plain.get(emulator.base_url + "/_admin/server-time").json()["charged"]
    assert sorted(row["records"] for row in charged.values()) == [2, 4]


def test_three_full_application_users_are_three_callers(api, base, emulator) -> None:
    from dynamics_emulator import credentials
    from dynamics_emulator.testing import web_api_session
    users = {api.get(base + "WhoAmI").json()["UserId"]}
    for client_id, secret in ((credentials.SECOND_CLIENT_ID, credentials.SECOND_CLIENT_SECRET),
                              (credentials.THIRD_CLIENT_ID, credentials.THIRD_CLIENT_SECRET)):
        session = web_api_session(emulator, client_id=client_id, secret=secret)
        me = session.get(base + "WhoAmI").json()["UserId"]
        privileges = session.get(
            f"{base}systemusers({me})/Microsoft.Dynamics.CRM.RetrieveUserPrivileges()").json()
        assert any(p["PrivilegeName"] == "prvDeleteContact"
                   for p in privileges["RolePrivileges"])  # the full role, like the first
        users.add(me)
    assert len(users) == 3


def test_limits_are_per_web_server(api, base, plain, emulator) -> None:
    _limits(plain, emulator, requests=3, retry_after=0)
    plain.post(emulator.base_url + "/_admin/server-time", json={"web_servers": 2})
    # With the affinity cookie every request goes to one server: its limit applies.
    assert [api.get(base + "WhoAmI").status_code for _ in range(4)] == [200, 200, 200, 429]
    # Without it the balancer spreads them: each of the two servers counts its own.
    plain.post(emulator.base_url + "/_admin/limits/reset")
    _limits(plain, emulator, requests=3, retry_after=0)
    statuses = []
    for _ in range(7):
        api.cookies.clear()
        statuses.append(api.get(base + "WhoAmI").status_code)
    assert statuses == [200] * 6 + [429]
