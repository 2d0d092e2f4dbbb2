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
    """``data_dir``: the organisations' data on disk, so :meth:`restart` keeps it (as a
    real organisation's web server restart would); ``extra``: more command-line options."""

    def __init__(self, state: Path, contacts: int, *, data_dir: Path | None = None,
                 extra: list[str] | None = None) -> None:
        self.port = free_port()
        self.state, self.contacts, self.data_dir = state, contacts, data_dir
        self.extra = list(extra or [])
        self.restarts = 0
        self.org = "contoso"  # the organisation counted and dumped (--org in sync_bench.py)
        self._start()

    def _start(self) -> None:
        import requests

        # The engine's own speed (its targets): no modelled server time unless ``extra``
        # asks for it (the last --server-time wins).
        cmd = [sys.executable, "-m", "dynamics_emulator", "--port", str(self.port), "--seed",
               f"bench:{self.contacts}", "--state-dir", str(self.state), "--server-time", "off",
               *self.extra]
        if self.data_dir is not None:
            cmd += ["--data-dir", str(self.data_dir)]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
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

    def restart(self, down_seconds: float = 1.0) -> None:
        """SIGKILL (no chance to flush anything) and start again on the same port and data."""
        self.proc.kill()
        self.proc.wait(20)
        time.sleep(down_seconds)
        self._start()
        self.restarts += 1

    def faults(self, config: dict[str, Any]) -> None:
        self.session.post(self.base + "/_admin/faults", json=config,
                          timeout=30).raise_for_status()

    def injected(self) -> dict[str, int]:
        return dict(self.session.get(self.base + "/_admin/faults", timeout=30).json()
                    .get("injected", {}))

    def requests(self) -> int:
        return sum(self.requests_by_org().values())

    def requests_by_org(self) -> dict[str, int]:
        """Web API requests per organisation (the counters are "org METHOD route")."""
        counters = self.session.get(self.base + "/_admin/counters", timeout=30).json()
        out: dict[str, int] = {}
        for key, n in counters.items():
            org = key.split(" ", 1)[0]
            out[org] = out.get(org, 0) + n
        return out

    def create_org(self, name: str, seed: str = "empty") -> None:
        """An online organisation of its own, like contoso (``POST /_admin/orgs``)."""
        resp = self.session.post(self.base + "/_admin/orgs", timeout=120,
                                 json={"name": name, "like": "contoso", "seed": seed})
        resp.raise_for_status()

    def dump(self, entity_set: str, flt: str = "") -> list[dict[str, Any]]:
        params = {"$filter": flt} if flt else {}
        resp = self.session.get(f"{self.base}/_admin/{self.org}/{entity_set}", params=params,
                                timeout=600)
        resp.raise_for_status()
        return list(resp.json()["value"])

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)


