"""Server-time model, web servers with the affinity cookie, x-ms-dop-hint (over HTTPS).

Timing is asserted only as lower bounds of a sleep, or through the emulator's own ledger
(`GET /_admin/server-time`); most tests switch `sleep` off so the modelled time is charged
without waiting.
"""

from __future__ import annotations

import time

import pytest

from dynamics_emulator.app import Emulator
from dynamics_emulator.server_time import PROFILES, profile
from tests.dynamics_emulator.batchutil import post_batch, request_part


def _capacity(plain, emulator, **values) -> dict:
    resp = plain.post(emulator.base_url + "/_admin/server-time", json=values)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _charged(plain, emulator) -> dict:
    return plain.get(emulator.base_url + "/_admin/server-time").json()["charged"]


def _create_multiple(api, base, n: int, prefix: str = "T"):
    return api.post(base + "contacts/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": [
        {"@odata.type": "Microsoft.Dynamics.CRM.contact", "lastname": f"{prefix}{i}"}
        for i in range(n)]})


def test_profiles_and_library_default() -> None:
    assert Emulator(seed="empty").server_time == PROFILES["off"]  # unit tests stay fast
    assert not PROFILES["off"].enabled
    assert Emulator(seed="empty", server_time="default").server_time.per_record_ms == 90
    tuned = profile("default", per_record_ms=40, per_row_ms=None)
    assert (tuned.name, tuned.per_record_ms, tuned.per_row_ms) == ("default", 40, 0.5)
    with pytest.raises(ValueError, match="unknown server-time profile"):
        profile("slow")


def test_cost_per_request_record_and_row(api, base, plain, emulator) -> None:
    state = _capacity(plain, emulator, per_request_ms=5, per_record_ms=2, per_row_ms=0.5,
                      sleep=False)
    assert state["profile"]["enabled"] and state["web_servers"] == 1
    assert _create_multiple(api, base, 10).status_code == 200
    assert len(api.get(base + "contacts?$select=lastname&$top=7").json()["value"]) == 7
    (key, row), = _charged(plain, emulator).items()
    assert key.startswith("contoso/ws0/")
    assert (row["requests"], row["records"], row["rows_read"]) == (2, 10, 7)
    assert row["modelled_ms"] == pytest.approx(5 + 10 * 2 + 5 + 7 * 0.5)
    assert row["charged_ms"] >= row["modelled_ms"]


def test_batch_parts_and_list_members_are_record_operations(api, base, plain,
                                                            emulator) -> None:
    _capacity(plain, emulator, per_request_ms=1, per_record_ms=1, sleep=False)
    parts = [request_part("POST", "/api/data/v9.2/accounts", {"name": f"B{i}"})
             for i in range(3)]
    assert post_batch(api, base, parts).status_code == 200
    lst = api.post(base + "lists", json={"listname": "Cost", "createdfromcode": 2},
                   headers={"Prefer": "return=representation"}).json()
    contacts = api.get(base + "contacts?$select=contactid&$top=2").json()["value"]
    resp = api.post(base + "AddListMembersList", json={
        "List": {"listid": lst["listid"]},
        "Members": [{"@odata.type": "Microsoft.Dynamics.CRM.contact",
                     "contactid": c["contactid"]} for c in contacts]})
    assert resp.status_code == 204, resp.text
    (row,) = _charged(plain, emulator).values()
    # 3 creates in the batch, the list (created and read back), 2 list members.
    assert (row["requests"], row["records"]) == (4, 3 + 1 + 2)


def test_latency_is_applied(api, base, plain, emulator) -> None:
    _capacity(plain, emulator, per_request_ms=150)
    start = time.perf_counter()
    resp = api.get(base + "WhoAmI")
    assert resp.status_code == 200
    assert time.perf_counter() - start >= 0.15  # a lower bound only: the handler slept
    assert float(resp.headers["Server-Timing"].split("dur=")[1]) >= 150


def test_server_time_counts_against_the_execution_limit(api, base, plain, emulator) -> None:
    plain.post(emulator.base_url + "/_admin/limits", json={"execution_ms": 100,
                                                          "retry_after": 0})
    _capacity(plain, emulator, per_record_ms=30, sleep=False)
    first = _create_multiple(api, base, 5)  # 150 ms of modelled server time
    assert first.status_code == 200
    assert first.headers["x-ms-ratelimit-time-remaining-xrm-requests"] == "0.00"
    resp = api.get(base + "WhoAmI")
    assert resp.status_code == 429
    assert resp.json()["error"]["code"] == "0x80072321"
    assert "exceeded limit of 100  milliseconds" in resp.json()["error"]["message"]


def test_rate_limit_headers(api, base, plain, emulator) -> None:
    _capacity(plain, emulator, per_record_ms=250, sleep=False)
    first = api.get(base + "WhoAmI")
    assert first.headers["x-ms-ratelimit-burst-remaining-xrm-requests"] == "5999"
    assert first.headers["x-ms-ratelimit-time-remaining-xrm-requests"] == "1,200.00"
    resp = _create_multiple(api, base, 4)  # 1 s
    assert resp.headers["x-ms-ratelimit-burst-remaining-xrm-requests"] == "5998"
    assert float(resp.headers["x-ms-ratelimit-time-remaining-xrm-requests"]
                 .replace(",", "")) <= 1199.0


def test_dop_hint_header(api, base, plain, emulator) -> None:
    assert api.get(base + "WhoAmI").headers["x-ms-dop-hint"] == "5"
    _capacity(plain, emulator, dop_hint=12)
    assert api.get(base + "contacts?$top=1").headers["x-ms-dop-hint"] == "12"
    plain.post(emulator.base_url + "/_admin/limits", json={"requests": 2, "retry_after": 0})
    throttled = api.get(base + "WhoAmI")
    assert throttled.status_code == 429 and throttled.headers["x-ms-dop-hint"] == "12"


def _windows(plain, emulator) -> dict[str, int]:
    counts = plain.get(emulator.base_url + "/_admin/limits").json()["window_counts"]
    return {key.split("/")[1]: n for key, n in counts.items() if key.startswith("contoso/")}


def test_affinity_cookie_pins_a_client_to_one_server(api, base, plain, emulator) -> None:
    _capacity(plain, emulator, web_servers=2)
    first = api.get(base + "WhoAmI")
    cookie = first.cookies.get("ARRAffinity")
    assert cookie and len(cookie) == 64
    assert "HttpOnly" in first.headers["Set-Cookie"] and "secure" in first.headers["Set-Cookie"]
    for _ in range(5):
        resp = api.get(base + "WhoAmI")
        assert "Set-Cookie" not in resp.headers  # the cookie came back: no new one
    assert _windows(plain, emulator) == {"ws0": 6}


def test_without_the_cookie_requests_spread(api, base, plain, emulator) -> None:
    _capacity(plain, emulator, web_servers=2)
    seen = set()
    for _ in range(6):
        api.cookies.clear()  # as a client that disabled the affinity cookie
        seen.add(api.get(base + "WhoAmI").cookies["ARRAffinity"])
    assert len(seen) == 2
    assert _windows(plain, emulator) == {"ws0": 3, "ws1": 3}


def test_cookie_of_a_missing_server_is_routed_again(api, base, plain, emulator) -> None:
    _capacity(plain, emulator, web_servers=3)
    api.get(base + "WhoAmI")
    api.get(base + "WhoAmI")
    api.cookies.clear()
    api.get(base + "WhoAmI")  # round robin: the second server
    _capacity(plain, emulator, web_servers=1)
    resp = api.get(base + "WhoAmI")
    assert resp.status_code == 200 and "ARRAffinity=" in resp.headers["Set-Cookie"]
