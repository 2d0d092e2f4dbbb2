"""Admin endpoint, seeds, concurrency, plain-HTTP mode and the CLI entry point."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from dynamics_emulator import EmulatorServer
from dynamics_emulator.testing import trusted_session, web_api_session


def test_admin_patch_is_a_foreign_change_with_later_modifiedon(
        emulator: EmulatorServer, api: requests.Session, base: str) -> None:
    cid = api.get(base + "contacts?$select=contactid&$top=1", timeout=10).json()["value"][0][
        "contactid"]
    before = api.get(f"{base}contacts({cid})?$select=modifiedon,versionnumber", timeout=10).json()
    admin = trusted_session(emulator)
    resp = admin.patch(f"{emulator.base_url}/_admin/contoso/contacts/{cid}",
                       json={"jobtitle": "Changed in CRM"}, timeout=10)
    assert resp.status_code == 200
    after = api.get(f"{base}contacts({cid})?$select=modifiedon,versionnumber,jobtitle,"
                    "_modifiedby_value", timeout=10).json()
    assert after["jobtitle"] == "Changed in CRM"
    assert after["modifiedon"] > before["modifiedon"]
    assert after["versionnumber"] > before["versionnumber"]
    me = api.get(base + "WhoAmI", timeout=10).json()["UserId"]
    assert after["_modifiedby_value"] != me


def test_admin_reset_counters_dump_and_clock(emulator: EmulatorServer, api: requests.Session,
                                             base: str) -> None:
    admin = trusted_session(emulator)
    root = f"{emulator.base_url}/_admin"
    admin.post(root + "/counters/reset", timeout=10)
    api.post(base + "contacts", json={"lastname": "Temp"}, timeout=10)
    api.get(base + "contacts?$select=fullname&$top=1", timeout=10)
    counters = admin.get(root + "/counters", timeout=10).json()
    assert counters["contoso POST contacts"] == 1 and counters["contoso GET contacts"] == 1
    dump = admin.get(root + "/contoso/contacts?$filter=lastname eq 'Temp'", timeout=10).json()
    assert len(dump["value"]) == 1
    assert admin.post(root + "/reset", timeout=10).status_code == 200
    assert admin.get(root + "/contoso/contacts?$filter=lastname eq 'Temp'",
                     timeout=10).json()["value"] == []
    clock = admin.post(root + "/clock", json={"offset_seconds": 86400}, timeout=10).json()
    assert clock["offset_seconds"] == 86400
    # The old token expired on the emulator clock (a day later); a new one works.
    assert api.get(base + "WhoAmI", timeout=10).status_code == 401
    api = web_api_session(emulator)
    created = api.post(base + "contacts?$select=createdon", json={"lastname": "Future"},
                       headers={"Prefer": "return=representation"}, timeout=10).json()
    assert created["createdon"] > time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    orgs = admin.get(root + "/orgs", timeout=10).json()["orgs"]
    assert [o["name"] for o in orgs] == ["contoso", "fabrikam", "crm80", "legacy2015",
                                            "legacy2013", "legacyifd"]


def test_concurrent_requests_are_served(emulator: EmulatorServer, base: str) -> None:
    sessions = [web_api_session(emulator) for _ in range(8)]

    def work(i: int) -> int:
        s = sessions[i % 8]
        s.post(base + "contacts", json={"lastname": f"Parallel{i}"}, timeout=20)
        return s.get(base + "contacts?$select=fullname&$top=5", timeout=20).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(work, range(40))) == {200}
    count = sessions[0].get(base + "contacts?$select=contactid&$count=true&$filter="
                            "startswith(lastname,'Parallel')", timeout=10).json()["@odata.count"]
    assert count == 40


def test_empty_and_bench_seeds_and_plain_http() -> None:
    with EmulatorServer(seed="empty", https=False) as empty:
        assert empty.base_url.startswith("http://")
        s = web_api_session(empty)
        assert s.get(empty.web_api_url() + "contacts?$select=fullname",
                     timeout=10).json()["value"] == []
        assert len(s.get(empty.web_api_url() + "systemusers?$select=fullname",
                         timeout=10).json()["value"]) >= 3
    started = time.monotonic()
    with EmulatorServer(seed="bench:20000") as bench:
        elapsed = time.monotonic() - started
        s = web_api_session(bench)
        assert s.get(bench.web_api_url() + "contacts/$count", timeout=10).text == "5000"
        body = s.get(bench.web_api_url() + "accounts?$select=name&$count=true",
                     timeout=10).json()
        assert body["@odata.count"] == 4000
        hit = s.get(bench.web_api_url() + "contacts?$select=contactid&$filter=emailaddress1 eq "
                    "'contact19999@bench.example.co.uk'", timeout=10).json()["value"]
        assert len(hit) == 1
    assert elapsed < 10


def test_demo_seed_is_deterministic(emulator: EmulatorServer, api: requests.Session,
                                    base: str) -> None:
    with EmulatorServer(seed="demo") as other:
        s2 = web_api_session(other)
        url = "contacts?$select=fullname,emailaddress1&$orderby=emailaddress1&$top=20"
        assert api.get(base + url, timeout=10).json()["value"] == \
            s2.get(other.web_api_url() + url, timeout=10).json()["value"]


def test_cli_prints_ca_and_org_urls(tmp_path: object) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "dynamics_emulator", "--port", "0",
                             "--seed", "empty", "--state-dir", str(tmp_path)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("CA certificate: ") and str(tmp_path) in first
        rest = "".join(proc.stdout.readline() for _ in range(12))
        assert "/contoso" in rest
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_token_expiry_follows_the_emulator_clock(emulator: EmulatorServer, api: requests.Session,
                                                 base: str) -> None:
    admin = trusted_session(emulator)
    assert api.get(base + "WhoAmI", timeout=10).status_code == 200
    admin.post(emulator.base_url + "/_admin/clock", json={"offset_seconds": 3500}, timeout=10)
    assert api.get(base + "WhoAmI", timeout=10).status_code == 200
    admin.post(emulator.base_url + "/_admin/clock", json={"offset_seconds": 3601}, timeout=10)
    resp = api.get(base + "WhoAmI", timeout=10)
    assert resp.status_code == 401 and "Bearer" in resp.headers["WWW-Authenticate"]
