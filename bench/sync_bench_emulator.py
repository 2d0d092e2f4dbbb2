"""The Dataverse emulator in its own process, for ``sync_bench.py``."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the emulator ----------------------------------------------------------------------------


class Emulator:
    def __init__(self, state: Path, contacts: int) -> None:
        import requests

        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dynamics_emulator", "--port", str(self.port), "--seed",
             f"bench:{contacts}", "--state-dir", str(state),
             # The engine's own speed (issue #9 targets): no modelled server time.
             "--server-time", "off"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.proc.stdout is not None
        self.ca = self.proc.stdout.readline().split(": ", 1)[1].strip()  # "CA certificate: …"
        self.base = f"https://127.0.0.1:{self.port}"
        self.session = requests.Session()
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify=
        self.session.verify = self.ca
        for _ in range(1200):
            try:
                self.session.get(self.base + "/_admin/orgs", timeout=2)
                return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("the emulator did not start")

    def requests(self) -> int:
        counters = self.session.get(self.base + "/_admin/counters", timeout=30).json()
        return sum(n for key, n in counters.items() if key.startswith("contoso "))

    def dump(self, entity_set: str, flt: str = "") -> list[dict[str, Any]]:
        params = {"$filter": flt} if flt else {}
        resp = self.session.get(f"{self.base}/_admin/contoso/{entity_set}", params=params,
                                timeout=600)
        resp.raise_for_status()
        return list(resp.json()["value"])

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)


