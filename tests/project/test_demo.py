"""`make demo` (scripts/demo.py) as a person runs it: it prints the URL and the login, runs
the scheduler as its own process, and a killed worker takes everything down with it — no
orphaned scheduler that a restart would double."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(pid: int) -> dict[int, str]:
    """Direct child processes and their command lines (Linux /proc)."""
    out: dict[int, str] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
            out[int(child)] = cmdline.decode(errors="replace")
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_the_demo_runs_beat_apart_and_stops_whole_when_the_worker_dies(tmp_path: Path) -> None:
    port, emulator_port = free_port(), free_port()
    env = {**os.environ, "MWX_VAR_DIR": str(tmp_path), "MWX_DEMO_PORT": str(port),
           "MWX_EMULATOR_PORT": str(emulator_port), "PYTHONUNBUFFERED": "1"}
    env.pop("DATABASE_URL", None)
    demo = subprocess.Popen([sys.executable, "scripts/demo.py"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        printed = []
        deadline = time.monotonic() + 180
        assert demo.stdout is not None
        while not any("or on-premise (NTLM)" in line for line in printed):
            assert time.monotonic() < deadline, "".join(printed)
            line = demo.stdout.readline()
            assert line or demo.poll() is None, "".join(printed)
            printed.append(line)
        assert any(f"http://127.0.0.1:{port}/" in line for line in printed)
        assert any("log in as" in line for line in printed)
        # The first tenant really is set up (the check passed) and syncing started; the
        # second one is the admin's to set up, with the emulator's sign-in values printed.
        assert any("demo tenant demo set up and syncing" in line for line in printed), printed
        from dynamics_emulator import credentials
        text = "".join(printed)
        for value in (credentials.TENANT_ID, credentials.CLIENT_ID, credentials.CLIENT_SECRET,
                      f"https://127.0.0.1:{emulator_port}/contoso", "ca.pem"):
            assert value in text, value
        # It answers the host it printed, and no other (a forged Host header).
        import http.client
        for host, expected in ((f"127.0.0.1:{port}", 302), ("evil.example", 400)):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/accounts/password_reset/" if expected == 400 else "/",
                         headers={"Host": host})
            assert conn.getresponse().status == expected, host
            conn.close()
        procs = children(demo.pid)
        workers = [pid for pid, cmd in procs.items() if " worker " in cmd]
        beats = [pid for pid, cmd in procs.items() if " beat " in cmd]
        assert len(workers) == 1 and len(beats) == 1, procs
        assert " -B " not in procs[workers[0]] + " "
        deadline = time.monotonic() + 60
        while not (tmp_path / "celerybeat.pid").exists():
            assert time.monotonic() < deadline, "beat never wrote its pidfile"
            time.sleep(0.2)
        os.kill(workers[0], signal.SIGKILL)
        assert demo.wait(timeout=60) == 0
        deadline = time.monotonic() + 20
        while any(alive(pid) for pid in procs):
            assert time.monotonic() < deadline, "a demo process outlived the demo"
            time.sleep(0.2)
    finally:
        if demo.poll() is None:
            demo.send_signal(signal.SIGINT)
            demo.wait(timeout=30)
