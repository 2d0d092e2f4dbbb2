"""`make demo`: migrate SQLite, seed the demo data, start the local Dynamics emulator, the web
server, a Celery worker (filesystem broker) and Celery beat (the scheduler) as separate
processes, then print the URL and login. Ctrl-C stops everything; so does any of them
exiting (a killed worker never leaves a scheduler behind)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
HOST = os.environ.get("MWX_DEMO_HOST", "127.0.0.1")
PORT = int(os.environ.get("MWX_DEMO_PORT", "8000"))
EMULATOR_PORT = int(os.environ.get("MWX_EMULATOR_PORT", "8765"))


def port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((HOST, port)) != 0


def wait_for_port(port: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not port_free(port):
            return True
        time.sleep(0.2)
    return False


def second_tenant_settings(crm_base: str, ca_file: Path) -> list[str]:
    """What an admin types into the organisation settings of "Demo Shop Mailings" to
    connect it to the emulator (the sign-in values it seeds)."""
    from dynamics_emulator import credentials

    domain, user, password = credentials.NTLM_USERS[0]
    return [
        "  Set up “Demo Shop Mailings” yourself; its organisation settings for the emulator:",
        f"    CRM URL:                  {crm_base}/contoso",
        "    deployment:               Online (Dynamics 365 / CRM Online)",
        f"    sign-in authority:        {crm_base}",
        f"    directory (tenant) id:    {credentials.TENANT_ID}",
        f"    application (client) id:  {credentials.CLIENT_ID}",
        f"    client secret:            {credentials.CLIENT_SECRET}",
        f"    CA certificates (PEM):    the content of {ca_file}",
        f"    or on-premise (NTLM):     {crm_base}/fabrikam, domain user {domain}\\{user}, "
        f"password {password}",
    ]


def main() -> int:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "mailworx_crm.settings",
           "PUBLIC_BASE_URL": f"http://{HOST}:{PORT}",
           # Only the address printed below: a forged Host header must not turn
           # password-reset links into links to another site.
           "ALLOWED_HOSTS": HOST, "CSRF_TRUSTED_ORIGINS": f"http://{HOST}:{PORT}"}
    # The demo's CRM is the emulator on HOST (loopback by default), which mailworx only
    # connects to when the operator allows it (SPEC N8, docs/security.md).
    allowed = [e for e in os.environ.get("CRM_ALLOWED_NETWORKS", "").split(",") if e.strip()]
    env["CRM_ALLOWED_NETWORKS"] = ",".join([*allowed, HOST])
    var = Path(os.environ.get("MWX_VAR_DIR") or ROOT / "var")
    env["MWX_VAR_DIR"] = str(var)
    for sub in ("broker/out", "broker/processed", "logs"):
        (var / sub).mkdir(parents=True, exist_ok=True)
    if not port_free(PORT):
        print(f"Port {PORT} is in use; set MWX_DEMO_PORT to another port.", file=sys.stderr)
        return 1
    if not port_free(EMULATOR_PORT):
        print(f"Port {EMULATOR_PORT} is in use; set MWX_EMULATOR_PORT to another port.",
              file=sys.stderr)
        return 1
    manage = [PY, str(ROOT / "manage.py")]
    logs = var / "logs"
    procs: list[subprocess.Popen[bytes]] = []

    def start(name: str, cmd: list[str]) -> None:
        log = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the child
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=log))

    # The local Dynamics emulator (demo seed) is the demo's CRM.
    emulator_dir = var / "emulator"
    start("emulator", [PY, "-m", "dynamics_emulator", "--host", HOST, "--port",
                       str(EMULATOR_PORT), "--seed", "demo", "--state-dir", str(emulator_dir)])
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], check=True, env=env)
    if not wait_for_port(EMULATOR_PORT):
        print(f"The emulator did not start; see {logs / 'emulator.log'}", file=sys.stderr)
        for p in procs:
            p.terminate()
        return 1
    from dynamics_emulator import credentials

    crm_base = f"https://{HOST}:{EMULATOR_PORT}"
    secret_file = emulator_dir / "demo-client-secret"
    secret_file.write_text(credentials.CLIENT_SECRET)
    subprocess.run([*manage, "seed_demo", "--crm-url", f"{crm_base}/contoso",
                    "--authority", crm_base, "--directory-tenant-id", credentials.TENANT_ID,
                    "--client-id", credentials.CLIENT_ID, "--client-secret-file",
                    str(secret_file), "--ca-file", str(emulator_dir / "ca.pem")],
                   check=True, env=env)
    subprocess.run([*manage, "seed_demo_audience", "demo", "--if-empty"], check=True, env=env)

    start("web", [*manage, "runserver", f"{HOST}:{PORT}", "--noreload"])
    start("worker", [PY, "-m", "celery", "-A", "mailworx_crm", "worker", "--pool=solo",
                     "--loglevel=INFO"])
    # The scheduler (scheduled syncs, reaction exports, the reaper) in its own process, not
    # embedded in the worker: an embedded beat outlives a killed worker, and a restart then
    # runs two. The pidfile makes a second beat refuse to start.
    start("beat", [PY, "-m", "celery", "-A", "mailworx_crm", "beat", "--loglevel=INFO",
                   f"--schedule={var / 'celerybeat-schedule'}",
                   f"--pidfile={var / 'celerybeat.pid'}"])
    if not wait_for_port(PORT):
        print(f"The web server did not start; see {logs / 'web.log'}", file=sys.stderr)
        for p in procs:
            p.terminate()
        return 1

    from mailworx_crm.demo import DEMO_EMAIL, DEMO_PASSWORD

    print()
    print(f"  mailworx CRM Connector:  http://{HOST}:{PORT}/")
    print(f"  log in as:               {DEMO_EMAIL} / {DEMO_PASSWORD}")
    print(f"  Dynamics emulator (CRM): {crm_base}/contoso  (CA: {emulator_dir / 'ca.pem'})")
    print(f"  logs:                    {logs}/")
    print()
    print("  “Demo Newsletter” comes set up: connected to the emulator’s contoso organisation, "
          "syncing started.")
    for line in second_tenant_settings(crm_base, emulator_dir / "ca.pem"):
        print(line)
    print("  Ctrl-C stops the web server, the worker, the scheduler and the emulator.")
    print(flush=True)

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping:
            for p in procs:
                if p.poll() is not None:
                    print(f"A demo process exited ({p.args!r}); see {logs}/", file=sys.stderr)
                    stopping = True
            time.sleep(0.5)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
