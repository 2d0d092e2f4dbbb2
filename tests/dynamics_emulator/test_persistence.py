"""`--data-dir`: the emulator as a real process, killed with SIGKILL and started again.

What a client saw before the kill must still be there afterwards: records and their row
versions, list members, `$batch` changesets (whole or not at all), the change log behind
delta tokens, the bearer token, the CA file. Without `--data-dir` a restart starts clean.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from dynamics_emulator import EmulatorServer, collation
from dynamics_emulator.seed import CLIENT_ID, CLIENT_SECRET, TENANT_ID
from dynamics_emulator.testing import trusted_session, web_api_session
from tests.dynamics_emulator.batchutil import parse_response, post_batch, request_part

ROOT = Path(__file__).resolve().parents[2]
NS = "Microsoft.Dynamics.CRM."
TRACK = {"Prefer": "odata.track-changes"}
PAIR = 60  # requests per changeset in the kill test


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    """`python -m dynamics_emulator` in its own process; output goes to a file."""

    def __init__(self, tmp: Path, port: int, *args: str) -> None:
        self.port = port
        self.base = f"https://127.0.0.1:{port}"
        self.log = tmp / f"emulator-{time.monotonic_ns()}.log"
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "dynamics_emulator", "--port", str(port), *args],
                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            lines = self.log.read_text().splitlines()
            if lines and lines[0].startswith("CA certificate: ") and self._up():
                self.ca = lines[0].split(": ", 1)[1].strip()
                return
            assert self.proc.poll() is None, self.log.read_text()
            time.sleep(0.05)
        self.kill()
        raise AssertionError(f"the emulator did not start:\n{self.log.read_text()}")

    def _up(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    @property
    def output(self) -> str:
        return self.log.read_text()

    def session(self) -> requests.Session:
        s = requests.Session()
        s.trust_env = False  # REQUESTS_CA_BUNDLE would override verify=
        s.verify = self.ca
        return s

    def api(self) -> requests.Session:
        s = self.session()
        resp = s.post(f"{self.base}/{TENANT_ID}/oauth2/v2.0/token", timeout=10, data={
            "grant_type": "client_credentials", "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET, "scope": f"{self.base}/contoso/.default"})
        resp.raise_for_status()
        s.headers.update({"Authorization": f"Bearer {resp.json()['access_token']}",
                          "Accept": "application/json", "OData-MaxVersion": "4.0",
                          "OData-Version": "4.0"})
        return s

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(20)


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for proc in started:
        proc.kill()


def _id(resp: requests.Response) -> str:
    assert resp.status_code in (201, 204), resp.text
    return resp.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")


def _get(api: requests.Session, url: str) -> dict[str, Any]:
    resp = api.get(url, timeout=30)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def _members(api: requests.Session, web: str, list_id: str) -> set[str]:
    rows = _get(api, f"{web}listmembers?$select=_entityid_value"
                     f"&$filter=_listid_value eq {list_id}")["value"]
    return {r["_entityid_value"] for r in rows}


def test_sigkill_and_restart_keeps_everything(tmp_path: Path, procs: list[Proc]) -> None:
    data, state, port = tmp_path / "data", tmp_path / "state", _free_port()
    args = ("--data-dir", str(data), "--state-dir", str(state), "--seed", "demo")
    first = Proc(tmp_path, port, *args)
    procs.append(first)
    assert "Data dir: " in first.output and "new, seeded with demo" in first.output
    ca_before = Path(first.ca).read_bytes()
    api = first.api()
    web = f"{first.base}/contoso/api/data/v9.2/"

    # A delta token from before any change, and the writes a sync would make.
    start_link = api.get(web + "contacts?$select=lastname,jobtitle", headers=TRACK,
                         timeout=30).json()["@odata.deltaLink"]
    created = _id(api.post(web + "contacts", json={"firstname": "Kill", "lastname": "Before"},
                           timeout=10))
    assert api.patch(web + f"contacts({created})", json={"jobtitle": "survivor"},
                     timeout=10).status_code == 204
    newsletter = _get(api, web + "lists?$select=listid,membercount"
                                 "&$filter=listname eq 'Newsletter DE'")["value"][0]
    added = api.post(web + f"lists({newsletter['listid']})/{NS}AddMemberList",
                     json={"EntityId": created}, timeout=10)
    assert added.status_code == 200, added.text
    existing = _get(api, web + "contacts?$select=contactid&$top=1&$orderby=lastname")
    existing_id = existing["value"][0]["contactid"]
    batch = post_batch(api, web, [[
        request_part("POST", "/api/data/v9.2/contacts", {"lastname": "Batch Neu"}, "1"),
        request_part("PATCH", f"/api/data/v9.2/contacts({existing_id})",
                     {"jobtitle": "changed in a changeset"}, "2"),
    ]])
    assert batch.status_code == 200, batch.text
    parts = parse_response(batch)
    assert [p["status"] for p in parts] == [204, 204]
    batch_id = parts[0]["headers"]["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    before = _get(api, web + f"contacts({created})?$select=jobtitle,versionnumber,modifiedon")
    delta = _get(api, start_link)
    assert {r.get("contactid") for r in delta["value"]} == {created, batch_id, existing_id}
    later_link = delta["@odata.deltaLink"]
    members = _members(api, web, newsletter["listid"])
    # The emulator clock, shifted through /_admin, is kept too (by less than the token's
    # lifetime, which runs on that clock).
    admin = first.session()
    assert admin.post(first.base + "/_admin/clock", json={"offset_seconds": 1800},
                      timeout=10).status_code == 200

    first.kill()
    second = Proc(tmp_path, port, *args)
    procs.append(second)
    assert "reopened, seeded with demo" in second.output

    # Same CA file content: the client's copy (and its loaded trust) stays valid.
    assert Path(second.ca).read_bytes() == ca_before
    # The bearer token issued before the kill still works: same session, no new token.
    after = _get(api, web + f"contacts({created})?$select=jobtitle,versionnumber,modifiedon")
    assert after == before
    assert _get(api, web + f"contacts({existing_id})?$select=jobtitle")["jobtitle"] == \
        "changed in a changeset"
    assert _get(api, web + f"contacts({batch_id})?$select=lastname")["lastname"] == "Batch Neu"
    assert _members(api, web, newsletter["listid"]) == members and created in members
    assert _get(api, web + f"lists({newsletter['listid']})?$select=membercount")[
        "membercount"] == newsletter["membercount"] + 1

    # Delta tokens: the one from after the writes sees nothing, the early one sees them all.
    assert _get(api, later_link)["value"] == []
    again = _get(api, start_link)["value"]
    assert {r.get("contactid") for r in again} == {created, batch_id, existing_id}
    # A write after the restart continues the organisation's row versions and clock.
    assert api.patch(web + f"contacts({created})", json={"jobtitle": "after restart"},
                     timeout=10).status_code == 204
    fresh = _get(api, web + f"contacts({created})?$select=jobtitle,versionnumber,modifiedon")
    assert int(fresh["versionnumber"]) > int(before["versionnumber"])
    assert fresh["modifiedon"] > before["modifiedon"]
    assert fresh["modifiedon"] >= time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                time.gmtime(time.time() + 1700))
    only_later = _get(api, later_link)["value"]
    assert [(r["contactid"], r["jobtitle"]) for r in only_later] == [(created, "after restart")]

    # reset() (the admin endpoint) goes back to the seed and that, too, is kept.
    assert admin.post(second.base + "/_admin/reset", timeout=60).status_code == 200
    assert api.get(web + f"contacts({created})", timeout=10).status_code == 404
    second.kill()
    third = Proc(tmp_path, port, *args)
    procs.append(third)
    assert api.get(web + f"contacts({created})", timeout=10).status_code == 404
    assert _get(api, web + f"contacts({existing_id})?$select=jobtitle")["jobtitle"] != \
        "changed in a changeset"


def test_changesets_cut_by_sigkill_are_whole_or_absent(tmp_path: Path,
                                                       procs: list[Proc]) -> None:
    data, port = tmp_path / "data", _free_port()
    args = ("--data-dir", str(data), "--state-dir", str(tmp_path / "state"), "--seed", "empty")
    first = Proc(tmp_path, port, *args)
    procs.append(first)
    api, web = first.api(), f"{first.base}/contoso/api/data/v9.2/"
    sent = Counter[str]()
    stop = threading.Event()

    def writer() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            tag = f"pair-{n}"
            # Large changesets, so the kill most likely lands inside one.
            parts = [request_part("POST", "/api/data/v9.2/contacts",
                                  {"firstname": f"part {i}", "lastname": tag}, str(i))
                     for i in range(1, PAIR + 1)]
            try:
                resp = post_batch(api, web, [parts])
            except requests.RequestException:
                return
            if resp.status_code == 200:
                sent["acknowledged"] += 1

    thread = threading.Thread(target=writer)
    thread.start()
    time.sleep(1.0)
    while sent["acknowledged"] < 5 and thread.is_alive():
        time.sleep(0.05)
    time.sleep(0.137)  # not on a changeset boundary
    first.kill()
    stop.set()
    thread.join(30)
    assert sent["acknowledged"] >= 5

    second = Proc(tmp_path, port, *args)
    procs.append(second)
    rows: list[dict[str, Any]] = []
    url: str | None = web + "contacts?$select=lastname&$filter=startswith(lastname,'pair-')"
    while url:  # pages of 5000
        page = _get(api, url)
        rows += page["value"]
        url = page.get("@odata.nextLink")
    per_tag = Counter(r["lastname"] for r in rows)
    assert set(per_tag.values()) == {PAIR}, per_tag  # never a part of a changeset
    # Every acknowledged changeset is there (at most one more was in flight at the kill).
    assert sent["acknowledged"] <= len(per_tag) <= sent["acknowledged"] + 1


def test_without_data_dir_a_restart_starts_clean(tmp_path: Path, procs: list[Proc]) -> None:
    port = _free_port()
    args = ("--state-dir", str(tmp_path / "state"), "--seed", "empty")
    first = Proc(tmp_path, port, *args)
    procs.append(first)
    assert "Data dir" not in first.output
    api, web = first.api(), f"{first.base}/contoso/api/data/v9.2/"
    created = _id(api.post(web + "contacts", json={"lastname": "Gone"}, timeout=10))
    first.kill()
    second = Proc(tmp_path, port, *args)
    procs.append(second)
    api.verify = second.ca  # a new CA in the same file
    assert api.get(web + f"contacts({created})", timeout=10).status_code == 401  # new key
    fresh = second.api()
    assert fresh.get(web + f"contacts({created})", timeout=10).status_code == 404


def test_library_reset_persists_and_reopen_ignores_the_seed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with EmulatorServer(seed="empty", data_dir=data) as server:
        assert server.state_dir == data / "state"
        with pytest.raises(RuntimeError, match="in use by another emulator"):
            EmulatorServer(seed="empty", data_dir=data)
        api, web = web_api_session(server), server.web_api_url("contoso")
        gone = _id(api.post(web + "contacts", json={"lastname": "Before reset"}, timeout=10))
        server.reset()
        assert api.get(web + f"contacts({gone})", timeout=10).status_code == 404
        kept = _id(api.post(web + "contacts", json={"lastname": "After reset"}, timeout=10))
        switched = trusted_session(server).post(
            server.base_url + "/_admin/tracking", json={"org": "contoso", "entity": "lead",
                                                        "enabled": False}, timeout=10)
        assert switched.json()["contoso"]["entities"]["lead"] is False
    # A file from a build whose schema had a column less is upgraded on open.
    with sqlite3.connect(data / "contoso.sqlite") as conn:
        collation.install(conn)  # the text columns' collation (the emulator's own)
        conn.execute("ALTER TABLE contact DROP COLUMN jobtitle")
    # Reopened: the contact written after the reset is there; --seed demo is not applied.
    with EmulatorServer(seed="demo", data_dir=data) as server:
        assert server.emulator.data is not None and server.emulator.data.reopened
        assert server.emulator.seed == "empty"
        api, web = web_api_session(server), server.web_api_url("contoso")
        assert api.get(web + f"contacts({gone})", timeout=10).status_code == 404
        names = [r["lastname"] for r in _get(api, web + "contacts?$select=lastname")["value"]]
        assert names == ["After reset"]
        assert _get(api, web + f"contacts({kept})?$select=lastname")["lastname"] == "After reset"
        assert api.patch(web + f"contacts({kept})", json={"jobtitle": "new column"},
                         timeout=10).status_code == 204
        assert _get(api, web + f"contacts({kept})?$select=jobtitle")["jobtitle"] == "new column"
        # The tracking switch set through /_admin is kept; reset() goes back to the defaults.
        tracking = trusted_session(server).get(server.base_url + "/_admin/tracking", timeout=10)
        assert tracking.json()["contoso"]["entities"]["lead"] is False
        server.reset()
    with EmulatorServer(seed="demo", data_dir=data) as server:
        tracking = trusted_session(server).get(server.base_url + "/_admin/tracking", timeout=10)
        assert tracking.json()["contoso"]["entities"]["lead"] is True
