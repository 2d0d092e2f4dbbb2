"""`python -m dynamics_emulator --host 127.0.0.1 --port 8765 --seed demo`"""

from __future__ import annotations

import argparse

from dynamics_emulator import extra_orgs
from dynamics_emulator.admin import describe, dumps
from dynamics_emulator.app import DOP_HINT
from dynamics_emulator.protection import Limits
from dynamics_emulator.server import EmulatorServer
from dynamics_emulator.server_time import PROFILES, profile


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m dynamics_emulator",
                                     description="Local Dataverse Web API emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seed", default="demo", help="demo | empty | bench:N")
    parser.add_argument("--http", action="store_true", help="plain HTTP instead of HTTPS")
    parser.add_argument("--token-lifetime", type=int, default=3600, metavar="SECONDS")
    parser.add_argument("--state-dir", default=None,
                        help="where the CA and NTLM files go (default: a new temporary "
                             "dir; with --data-dir: DATA_DIR/state, and the CA is kept)")
    parser.add_argument("--data-dir", default=None, metavar="DIR",
                        help="keep each organisation's data in SQLite files under DIR, so it "
                             "survives a restart; an existing DIR is reopened and --seed is "
                             "then ignored (default: in memory)")
    parser.add_argument("--orgs", type=int, default=0, metavar="N",
                        help="N more online organisations t00, t01, … like contoso, each "
                             "with its own data, seeded empty (also POST /_admin/orgs)")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    limits = parser.add_argument_group("service protection (per user, sliding window)")
    limits.add_argument("--max-requests", type=int, default=6000)
    limits.add_argument("--window-seconds", type=float, default=300.0)
    limits.add_argument("--max-concurrent", type=int, default=52)
    limits.add_argument("--max-execution-ms", type=int, default=1_200_000)
    limits.add_argument("--retry-after", type=float, default=None, metavar="SECONDS",
                        help="test mode: fixed Retry-After (e.g. 0 or 1) on every 429")
    limits.add_argument("--no-throttling", action="store_true", help="disable the limits")
    cost = parser.add_argument_group(
        "server time and capacity (docs/dataverse-webapi.md §Server time, §Web servers)")
    cost.add_argument("--server-time", default="default", choices=sorted(PROFILES),
                      help="cost model applied as latency and execution time (default: "
                           "default, calibrated on a developer environment; off: instant)")
    cost.add_argument("--server-time-per-request-ms", type=float, default=None, metavar="MS")
    cost.add_argument("--server-time-per-record-ms", type=float, default=None, metavar="MS",
                      help="per create/update/upsert/delete/list member/activity write")
    cost.add_argument("--server-time-per-row-ms", type=float, default=None, metavar="MS",
                      help="per row read")
    cost.add_argument("--web-servers", type=int, default=4,
                      help="web servers behind the load balancer, each with its own limits")
    cost.add_argument("--dop-hint", type=int, default=DOP_HINT,
                      help="the x-ms-dop-hint response header")
    parser.add_argument("--fault-seed", type=int, default=0, help="seed for injected faults")
    parser.add_argument("--change-retention-days", type=float, default=7.0,
                        help="delta tokens older than this (emulator clock) expire")
    args = parser.parse_args()
    protection = Limits(enabled=not args.no_throttling, requests=args.max_requests,
                        window_seconds=args.window_seconds, concurrent=args.max_concurrent,
                        execution_ms=args.max_execution_ms, retry_after=args.retry_after)
    cost_model = profile(args.server_time, per_request_ms=args.server_time_per_request_ms,
                         per_record_ms=args.server_time_per_record_ms,
                         per_row_ms=args.server_time_per_row_ms)
    server = EmulatorServer(args.host, args.port, args.seed, not args.http, args.token_lifetime,
                            args.state_dir, args.verbose, protection, args.fault_seed,
                            args.data_dir, server_time=cost_model,
                            web_servers=args.web_servers, dop_hint=args.dop_hint)
    server.emulator.change_retention_days = args.change_retention_days
    server.emulator.reset_settings()
    extra_orgs.add_numbered(server.emulator, args.orgs)
    server.emulator.load_settings()  # --data-dir: clock and tracking switches set before win
    server.start()
    if server.ca_file:
        print(f"CA certificate: {server.ca_file}")
        print("  clients: verify=<CA file> and trust_env=False (REQUESTS_CA_BUNDLE overrides)")
    data = server.emulator.data
    if data is not None:
        if data.reopened:
            ignored = f" (--seed {data.requested_seed} ignored)" \
                if data.requested_seed != data.seed else ""
            print(f"Data dir: {data.path} reopened, seeded with {data.seed}{ignored}")
        else:
            print(f"Data dir: {data.path} new, seeded with {data.seed}")
    print(dumps(describe(server.emulator, server.base_url)), flush=True)
    print(f"server time: {dumps(cost_model.describe())}; web servers: {args.web_servers}; "
          f"x-ms-dop-hint: {args.dop_hint}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
