"""The emulator in memory against the emulator on a data dir (``--data-dir``).

Run: ``.venv/bin/python bench/emulator_data_dir_bench.py [--contacts 20000]``.
For each mode it starts ``python -m dynamics_emulator --seed bench:N`` (throttling off) in
another process and measures: start-up until the port answers (for the data dir also a
second start that reopens the files after a SIGKILL), 1000 single PATCHes (one transaction,
so one commit, each), a ``$batch`` of 10 changesets of 100 creates, one ``CreateMultiple``
and one ``UpdateMultiple`` of 1000 records, a full read of the contacts (pages of 5000)
and ``POST /_admin/reset``. Never part of pass/fail.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from emulator_bench import CLIENT_ID, CLIENT_SECRET, TENANT, free_port, session

ROOT = Path(__file__).resolve().parent.parent
NS = "Microsoft.Dynamics.CRM."


def start(port: int, seed: str, extra: list[str]) -> tuple[subprocess.Popen[str], str, float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dynamics_emulator", "--port", str(port), "--seed", seed,
         "--no-throttling", *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    ca = proc.stdout.readline().split(": ", 1)[1].strip()  # "CA certificate: <path>"
    for _ in range(1200):
        try:
            session(ca).get(f"https://127.0.0.1:{port}/_admin/orgs", timeout=2)
            break
        except requests.ConnectionError:
            time.sleep(0.05)
    return proc, ca, time.perf_counter() - t0


def timed(label: str, fn, results: dict[str, float]) -> None:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    fn()
    results[label] = time.perf_counter() - t0


def workload(origin: str, ca: str, results: dict[str, float]) -> None:
    token = session(ca).post(f"{origin}/{TENANT}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET, "scope": f"{origin}/contoso/.default"}).json()
    api = session(ca, token["access_token"])
    base = f"{origin}/contoso/api/data/v9.2/"
    ids = [r["contactid"] for r in api.get(base + "contacts?$select=contactid",
                                           headers={"Prefer": "odata.maxpagesize=1000"}
                                           ).json()["value"]]

    def patches() -> None:
        for n, ident in enumerate(ids):
            resp = api.patch(base + f"contacts({ident})", json={"jobtitle": f"p{n}"})
            assert resp.status_code == 204, resp.text

    def changesets() -> None:
        boundary = f"batch_{uuid.uuid4()}"
        out = []
        for c in range(10):
            cs = f"changeset_{c}"
            out.append(f"--{boundary}\r\nContent-Type: multipart/mixed; boundary={cs}\r\n\r\n")
            for i in range(100):
                out.append(f"--{cs}\r\nContent-Type: application/http\r\nContent-Transfer-"
                           f"Encoding: binary\r\nContent-ID: {i + 1}\r\n\r\nPOST /api/data/v9.2/"
                           f"contacts HTTP/1.1\r\nContent-Type: application/json\r\n\r\n"
                           f"{json.dumps({'lastname': f'Cs{c}-{i}'})}\r\n")
            out.append(f"--{cs}--\r\n")
        out.append(f"--{boundary}--\r\n")
        resp = api.post(base + "$batch", data="".join(out).encode(),
                        headers={"Content-Type": f"multipart/mixed; boundary={boundary}"})
        assert resp.status_code == 200 and resp.text.count("HTTP/1.1 204") == 1000

    created: list[str] = []

    def create_multiple() -> None:
        targets = [{"@odata.type": f"{NS}contact", "lastname": f"Bulk{i}",
                    "emailaddress1": f"bulk{i}@bench.example"} for i in range(1000)]
        resp = api.post(base + f"contacts/{NS}CreateMultiple", json={"Targets": targets})
        assert resp.status_code == 200, resp.text
        created.extend(resp.json()["Ids"])

    def update_multiple() -> None:
        targets = [{"@odata.type": f"{NS}contact", "contactid": i, "jobtitle": "bulk"}
                   for i in created]
        resp = api.post(base + f"contacts/{NS}UpdateMultiple", json={"Targets": targets})
        assert resp.status_code == 204, resp.text

    def read_all() -> None:
        url: str | None = base + "contacts?$select=fullname,emailaddress1"
        while url:
            body = api.get(url, headers={"Prefer": "odata.maxpagesize=5000"}).json()
            url = body.get("@odata.nextLink")

    timed("1000 single PATCHes", patches, results)
    timed("$batch, 10 changesets x 100 creates", changesets, results)
    timed("CreateMultiple 1000", create_multiple, results)
    timed("UpdateMultiple 1000", update_multiple, results)
    timed("read all contacts (pages of 5000)", read_all, results)
    timed("POST /_admin/reset", lambda: session(ca).post(origin + "/_admin/reset", timeout=600)
          .raise_for_status(), results)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=20_000)
    args = parser.parse_args()
    seed = f"bench:{args.contacts}"
    table: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="emulator-data-bench-") as tmp:
        for mode in ("in memory", "--data-dir"):
            results: dict[str, float] = {}
            port = free_port()
            extra = ["--state-dir", f"{tmp}/state-{mode[2:4]}"]
            if mode == "--data-dir":
                extra += ["--data-dir", f"{tmp}/data"]
            proc, ca, up = start(port, seed, extra)
            results[f"start-up with {seed}"] = up
            try:
                workload(f"https://127.0.0.1:{port}", ca, results)
            finally:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)
            if mode == "--data-dir":
                proc, ca, up = start(port, seed, extra)
                results["start-up reopening the data dir (after SIGKILL)"] = up
                proc.terminate()
                proc.wait(10)
                size = sum(f.stat().st_size for f in Path(f"{tmp}/data").iterdir()
                           if f.is_file())
                print(f"data dir: {size / 1e6:.1f} MB")
            table[mode] = results
    labels = list(dict.fromkeys(k for r in table.values() for k in r))
    print(f"{'':55} {'in memory':>10} {'--data-dir':>11}")
    for label in labels:
        cells = [f"{table[m][label]:.2f} s" if label in table[m] else "—" for m in table]
        print(f"{label:55} {cells[0]:>10} {cells[1]:>11}")


if __name__ == "__main__":
    main()
