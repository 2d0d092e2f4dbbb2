"""The production stack's processes on loopback, for `make test`, the stack tests and the
benchmarks: a throw-away PostgreSQL cluster, a Redis server that can be restarted, and
Celery workers (prefork, each in its own process group) and beat.

Nothing here is product code: production runs the same programs from docker-compose.yml.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
_apt_updated = False


class Skip(Exception):
    """A stage cannot run on this machine; the message says why."""


def apt_install(*packages: str) -> None:
    global _apt_updated
    if not IS_ROOT or shutil.which("apt-get") is None:
        raise Skip(f"needs {' '.join(packages)} (run as root to install them with apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if not _apt_updated:
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        _apt_updated = True
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
        check=True, env=env, stdout=subprocess.DEVNULL,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


# --- PostgreSQL -----------------------------------------------------------------------------


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        apt_install("postgresql")
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise Skip("PostgreSQL server binaries not found")
    return Path(found[-1]).parent


@contextmanager
def postgres(port: int = 54329) -> Iterator[str]:
    """A throw-away cluster on loopback (or DATABASE_URL's); yields a DATABASE_URL."""
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        yield os.environ["DATABASE_URL"]
        return
    bindir = _pg_bin()
    tmp = Path(tempfile.mkdtemp(prefix="mwx-pg-"))
    as_pg: list[str] = []
    if IS_ROOT:  # initdb refuses to run as root
        shutil.chown(tmp, "postgres", "postgres")
        as_pg = ["runuser", "-u", "postgres", "--"]
    data = tmp / "data"
    subprocess.run([*as_pg, str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
                    "--auth=trust", "-E", "UTF8", "--no-sync"], check=True,
                   stdout=subprocess.DEVNULL)
    opts = f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off " \
           "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    subprocess.run([*as_pg, str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-w",
                    "-l", str(tmp / "log"), "start"], check=True, stdout=subprocess.DEVNULL)
    try:
        yield f"postgres://postgres@127.0.0.1:{port}/mailworx"
    finally:
        subprocess.run([*as_pg, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
                       stdout=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)


def fresh_database(server_url: str, name: str) -> str:
    """Drop and create database ``name`` on the server of ``server_url``; its URL."""
    import psycopg

    base = server_url.rsplit("/", 1)[0]
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"


# --- Redis ----------------------------------------------------------------------------------


def _redis_binary() -> str:
    server = shutil.which("redis-server")
    if server is None:
        apt_install("redis-server")
        server = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(server).exists():
        raise Skip("redis-server not found")
    return server


class RedisServer:
    """A redis-server on loopback without persistence; ``restart()`` loses what it held,
    as a crashed production Redis without a disk copy would."""

    def __init__(self, port: int | None = None) -> None:
        self.binary = _redis_binary()
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def restart(self, down_seconds: float = 1.0) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()


@contextmanager
def redis(port: int = 63799) -> Iterator[str]:
    """Redis from REDIS_URL, else a throw-away server; yields its URL (database 0)."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    server = RedisServer(port)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


# --- Celery workers and beat ----------------------------------------------------------------


class CeleryProcess:
    """A Celery worker or beat in its own process group (as a container would be), so a
    SIGKILL ends the prefork parent and its children at once, like a node that dies."""

    def __init__(self, args: list[str], env: Mapping[str, str], log: Path,
                 prefix: list[str] | None = None) -> None:
        self.args, self.env, self.log = args, dict(env), log
        self.prefix = prefix or [sys.executable, "-m", "celery"]
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([*self.prefix, "-A", "mailworx_crm", *self.args],
                                         cwd=ROOT, env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole group: no shutdown handler, no ack, no lease released."""
        if self.proc is not None:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
            self.kills += 1

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            self.kill()
        self.proc = None


def worker(name: str, env: Mapping[str, str], log_dir: Path, concurrency: int = 2,
           prefix: list[str] | None = None) -> CeleryProcess:
    return CeleryProcess(
        ["worker", "--pool=prefork", f"--concurrency={concurrency}", "--loglevel=WARNING",
         "--without-mingle", "--without-gossip", f"--hostname={name}@%h"],
        env, log_dir / f"{name}.log", prefix)


def beat(env: Mapping[str, str], state_dir: Path,
         prefix: list[str] | None = None) -> CeleryProcess:
    return CeleryProcess(
        ["beat", "--loglevel=WARNING", f"--schedule={state_dir / 'celerybeat-schedule'}",
         f"--pidfile={state_dir / 'celerybeat.pid'}"],
        env, state_dir / "beat.log", prefix)
