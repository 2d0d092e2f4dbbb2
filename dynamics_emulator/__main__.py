"""`python -m dynamics_emulator --host 127.0.0.1 --port 8765 --seed demo`"""

from __future__ import annotations

import argparse

from dynamics_emulator.admin import describe, dumps
from dynamics_emulator.server import EmulatorServer


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m dynamics_emulator",
                                     description="Local Dataverse Web API emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seed", default="demo", help="demo | empty | bench:N")
    parser.add_argument("--http", action="store_true", help="plain HTTP instead of HTTPS")
    parser.add_argument("--token-lifetime", type=int, default=3600, metavar="SECONDS")
    parser.add_argument("--state-dir", default=None, help="where the CA and NTLM files go")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args()
    server = EmulatorServer(args.host, args.port, args.seed, not args.http, args.token_lifetime,
                            args.state_dir, args.verbose)
    server.start()
    if server.ca_file:
        print(f"CA certificate: {server.ca_file}")
        print("  clients: verify=<CA file> and trust_env=False (REQUESTS_CA_BUNDLE overrides)")
    print(dumps(describe(server.emulator, server.base_url)), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
