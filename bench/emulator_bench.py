"""Benchmark the Dataverse emulator over real HTTPS, with the server in another process.

Run: ``.venv/bin/python bench/emulator_bench.py [--contacts 100000] [--threads 4]``.
Starts ``python -m dynamics_emulator --seed bench:N`` (throttling off), then measures:
single-record GETs over keep-alive sessions, `In` look-ups of 100 addresses (client time
and the server's own time from the emulator's ``Server-Timing`` header), one
1000-operation ``$batch`` and one 1000-record ``CreateMultiple``. Never part of pass/fail.
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
        run(origin, ca, args)
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


if __name__ == "__main__":
    main()
