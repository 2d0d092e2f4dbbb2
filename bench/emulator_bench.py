"""Benchmark the Dataverse emulator over real HTTPS, with the server in another process.

Run: ``.venv/bin/python bench/emulator_bench.py [--contacts 100000] [--threads 4]
[--parallel 1,5,50] [--no-cost]``.
Starts ``python -m dynamics_emulator --seed bench:N`` (CLI defaults: server time
``default``, 4 web servers; throttling off) and prints the server-time profile. Then:

1. The emulator's own speed, server time switched ``off``: single-record GETs over
   keep-alive sessions, `In` look-ups of 100 addresses (client time and the server's own
   time from the emulator's ``Server-Timing`` header), one 1000-operation ``$batch`` and
   one 1000-record ``CreateMultiple``.
2. What a real organisation costs, server time ``default`` and limits on: one
   1000-record ``CreateMultiple`` compared with what the cited measurement implies
   (docs/dataverse-webapi.md §Server time: "ok" within 20 %, else "OFF BY x %"), and the
   throughput of 100-record ``CreateMultiple`` requests at several degrees of parallelism
   (without the affinity cookie, so they spread over the web servers).

Never part of pass/fail.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
CLIENT_ID = "6b1f3c5d-7e9a-4b2c-8d0e-1f3a5c7e9b20"  # the documented demo app (README)
CLIENT_SECRET = "mwx-demo-secret-1"
TENANT = "2f5c7a9e-1b3d-4e6f-8a0c-2e4f6a8b0c1d"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def session(ca: str, token: str | None = None) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.verify = ca
    if token:
        s.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json",
                          "OData-MaxVersion": "4.0", "OData-Version": "4.0"})
    return s


def server_ms(resp: requests.Response) -> float:
    m = re.search(r"dur=([0-9.]+)", resp.headers.get("Server-Timing", ""))
    return float(m.group(1)) if m else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--gets", type=int, default=3000)
    parser.add_argument("--parallel", default="1,5,50",
                        help="degrees of parallelism for the server-time throughput")
    parser.add_argument("--no-cost", action="store_true",
                        help="skip the server-time part (it takes about two minutes)")
    args = parser.parse_args()
    port = free_port()
    state = tempfile.mkdtemp(prefix="emulator-bench-")
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dynamics_emulator", "--port", str(port), "--seed",
         f"bench:{args.contacts}", "--no-throttling", "--state-dir", state],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        ca = proc.stdout.readline().split(": ", 1)[1].strip()  # "CA certificate: <path>"
        origin = f"https://127.0.0.1:{port}"
        for _ in range(600):
            try:
                session(ca).get(origin + "/_admin/orgs", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        print(f"emulator up with bench:{args.contacts} in {time.perf_counter() - started:.1f} s")
        admin = session(ca)
        state = admin.get(origin + "/_admin/server-time").json()
        print(f"server-time profile in use: {describe_profile(state)}")
        admin.post(origin + "/_admin/server-time", json={"profile": "off"})
        print("-- 1. the emulator's own speed (server time off) --")
        run(origin, ca, args)
        if not args.no_cost:
            admin.post(origin + "/_admin/server-time/reset")  # the CLI's profile again
            admin.post(origin + "/_admin/limits", json={"enabled": True})
            state = admin.get(origin + "/_admin/server-time").json()
            print(f"-- 2. what a real organisation costs: {describe_profile(state)}, "
                  "service protection on --")
            run_cost(origin, ca, args, state)
    finally:
        proc.terminate()
        proc.wait(10)


def run(origin: str, ca: str, args: argparse.Namespace) -> None:
    token = session(ca).post(f"{origin}/{TENANT}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET, "scope": f"{origin}/contoso/.default"}).json()
    api_token = token["access_token"]
    base = f"{origin}/contoso/api/data/v9.2/"
    api = session(ca, api_token)
    sample = api.get(base + "contacts?$select=contactid,emailaddress1",
                     headers={"Prefer": "odata.maxpagesize=1000"}).json()["value"]
    ids = [r["contactid"] for r in sample]

    # 1. single-record GETs, keep-alive, one session per thread
    per_thread = args.gets // args.threads
    tls = ssl.create_default_context(cafile=ca)
    port = int(origin.rsplit(":", 1)[1])
    path = "/contoso/api/data/v9.2/"

    def worker(n: int) -> int:
        # http.client keeps the client's own CPU cost low: client and server share this
        # machine, so a heavy client would cap the measured server rate.
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=tls)
        headers = {"Authorization": f"Bearer {api_token}", "Accept": "application/json"}
        for i in range(per_thread):
            conn.request("GET", f"{path}contacts({ids[(n * per_thread + i) % len(ids)]})"
                                "?$select=fullname,emailaddress1", headers=headers)
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200
        conn.close()
        return per_thread

    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.threads) as pool:
        done = sum(pool.map(worker, range(args.threads)))
    elapsed = time.perf_counter() - t0
    print(f"single-record GET: {done} requests, {args.threads} threads: "
          f"{done / elapsed:.0f} requests/s")

    # 2. In look-ups of 100 addresses over all contacts
    emails = [r["emailaddress1"] for r in sample if r["emailaddress1"]]
    client_ms, server = [], []
    for round_ in range(10):
        chunk = emails[round_ * 100:(round_ + 1) * 100]
        values = json.dumps(chunk)
        url = (base + "contacts?$select=contactid,emailaddress1&$filter=Microsoft.Dynamics.CRM.In"
               f"(PropertyName='emailaddress1',PropertyValues={values})")
        t0 = time.perf_counter()
        resp = api.get(url)
        client_ms.append((time.perf_counter() - t0) * 1000)
        assert resp.status_code == 200 and len(resp.json()["value"]) >= len(chunk), resp.text
        server.append(server_ms(resp))
    print(f"In look-up, 100 addresses over {args.contacts} contacts: median client "
          f"{statistics.median(client_ms):.1f} ms, median server {statistics.median(server):.1f} ms"
          f" (max server {max(server):.1f} ms)")

    # 3. one $batch of 1000 creates
    boundary = f"batch_{uuid.uuid4()}"
    parts = [f"--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: "
             f"binary\r\n\r\nPOST /api/data/v9.2/contacts HTTP/1.1\r\nContent-Type: "
             f"application/json\r\n\r\n{json.dumps({'lastname': f'Batch{i}'})}\r\n"
             for i in range(1000)]
    body = "".join(parts) + f"--{boundary}--\r\n"
    t0 = time.perf_counter()
    resp = api.post(base + "$batch", data=body.encode(),
                    headers={"Content-Type": f"multipart/mixed; boundary={boundary}"})
    elapsed = time.perf_counter() - t0
    assert resp.status_code == 200 and resp.text.count("HTTP/1.1 204") == 1000
    print(f"$batch of 1000 creates: {elapsed * 1000:.0f} ms client, {server_ms(resp):.0f} ms "
          f"server ({1000 / elapsed:.0f} operations/s)")

    # 4. one CreateMultiple of 1000 records
    targets = [{"@odata.type": "Microsoft.Dynamics.CRM.contact", "lastname": f"Bulk{i}",
                "emailaddress1": f"bulk{i}@bench.example"} for i in range(1000)]
    t0 = time.perf_counter()
    resp = api.post(base + "contacts/Microsoft.Dynamics.CRM.CreateMultiple",
                    json={"Targets": targets})
    elapsed = time.perf_counter() - t0
    assert resp.status_code == 200 and len(resp.json()["Ids"]) == 1000
    print(f"CreateMultiple of 1000 records: {elapsed * 1000:.0f} ms client, "
          f"{server_ms(resp):.0f} ms server ({1000 / elapsed:.0f} records/s)")


# The calibration measurement (docs/dataverse-webapi.md §Server time): ppds-sdk,
# its BULK_OPERATIONS_BENCHMARKS.md at commit 52d90401, UpsertMultiple of 42,366 records
# on a developer environment. (records per request, parallel requests) -> records/s.
MEASURED = {(1000, 4): 42_366 / 919, (100, 4): 42_366 / 888, (100, 5): 60.2,
            (100, 50): 508.6}


def describe_profile(state: dict[str, Any]) -> str:
    p = state["profile"]
    if not p["enabled"]:
        return f"{p['name']} (no modelled server time)"
    return (f"{p['name']} ({p['per_request_ms']:g} ms per request, {p['per_record_ms']:g} ms "
            f"per record operation, {p['per_row_ms']:g} ms per row read), "
            f"{state['web_servers']} web servers, x-ms-dop-hint {state['dop_hint']}")


def verdict(measured: float, expected: float) -> str:
    off = (measured - expected) / expected * 100
    return "ok" if abs(off) <= 20 else f"OFF BY {off:+.0f} %"


def run_cost(origin: str, ca: str, args: argparse.Namespace, state: dict[str, Any]) -> None:
    token = session(ca).post(f"{origin}/{TENANT}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET, "scope": f"{origin}/contoso/.default"}).json()
    tls = ssl.create_default_context(cafile=ca)
    port = int(origin.rsplit(":", 1)[1])
    path = "/contoso/api/data/v9.2/contacts/Microsoft.Dynamics.CRM.CreateMultiple"
    headers = {"Authorization": f"Bearer {token['access_token']}",
               "Content-Type": "application/json", "Accept": "application/json"}

    def create_multiple(n: int, tag: str) -> tuple[float, float, str]:
        # http.client keeps no cookies: like a client with the affinity cookie disabled.
        body = json.dumps({"Targets": [
            {"@odata.type": "Microsoft.Dynamics.CRM.contact", "lastname": f"Cost{tag}-{i}",
             "emailaddress1": f"cost{tag}-{i}@bench.example"} for i in range(n)]})
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=tls, timeout=600)
        t0 = time.perf_counter()
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        elapsed = time.perf_counter() - t0
        conn.close()
        assert resp.status == 200 and len(json.loads(data)["Ids"]) == n, data[:300]
        timing = resp.getheader("Server-Timing") or ""
        m = re.search(r"dur=([0-9.]+)", timing)
        return elapsed, float(m.group(1)) if m else float("nan"), resp.getheader(
            "x-ms-dop-hint") or "?"

    # One request of 1,000 records.
    elapsed, server, dop = create_multiple(1000, "single")
    expected = 1000 / MEASURED[(1000, 4)] * 4
    print(f"CreateMultiple of 1000 records: {elapsed:.1f} s wall, {server / 1000:.1f} s server "
          f"time (x-ms-dop-hint {dop}); the measurement implies {expected:.1f} s (1000-record "
          f"UpsertMultiple requests, 4 in parallel, {MEASURED[(1000, 4)]:.1f} records/s): "
          f"{verdict(elapsed, expected)}")

    # Throughput of 100-record requests at several degrees of parallelism.
    for parallel in (int(p) for p in args.parallel.split(",")):
        t0 = time.perf_counter()
        with ThreadPoolExecutor(parallel) as pool:
            list(pool.map(create_multiple, [100] * parallel,
                          [f"p{parallel}-{n}" for n in range(parallel)]))
        wall = time.perf_counter() - t0
        rate = parallel * 100 / wall
        reference = MEASURED.get((100, parallel))
        compare = (f"; measured on a developer environment: {reference:.1f} records/s: "
                   f"{verdict(rate, reference)}" if reference else "")
        print(f"CreateMultiple of 100 records, {parallel} in parallel: {wall:.1f} s wall, "
              f"{rate:.1f} records/s{compare}")


if __name__ == "__main__":
    main()
