"""The curl walk-through of docs/api.md, run as written against a live server and the
Dataverse emulator: a tenant is created by an operator, configured, checked, mapped and
synced through the API alone — so the docs cannot rot.

Each ```sh block of the walk-through section runs in ``bash`` with ``curl`` (the shell
expands the variables and here-documents as a reader's would); without curl, the blocks
are parsed and replayed with ``requests``. The annotations of a block say what to keep
from the answer (``# keep: NAME=.path``), what to wait for by repeating it
(``# until: .path=value``) and what the answer says (``# expect: .path=value``). The one
step the docs leave to the browser — setting the password and accepting the invitation
through the links of the email — is done here over HTTP, following those links.

Jobs run as in production, outside the request: the runner's dispatch hands each queued
run to a worker thread (``runner.execute``) instead of the broker.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import connection

from dynamics_emulator import credentials
from dynamics_emulator.server import EmulatorServer
from syncjobs import runner
from syncjobs.models import JobRun, JobStatus
from tenants.models import Membership, Role, Tenant
from tests.crm_fixtures import EmulatorAdmin
from tests.syncjobs.engine.conftest import quiet_seed_campaigns

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "api.md"
SECTION = "## Walk-through"
WAIT_SECONDS = 120
ADMIN, ADMIN_PASSWORD = "anna@acme.example", "a walk through the API 42"
OPERATOR, OPERATOR_PASSWORD = "ops@mailworx.example", "operator password 42"


# --- the blocks of the doc ---------------------------------------------------------------


@dataclass
class Block:
    code: str
    keep: list[tuple[str, str]] = field(default_factory=list)
    until: list[tuple[str, str]] = field(default_factory=list)
    expect: list[tuple[str, str]] = field(default_factory=list)


def walkthrough_blocks(text: str | None = None) -> list[Block]:
    text = DOC.read_text() if text is None else text
    assert SECTION in text, f"docs/api.md has no section {SECTION!r}"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = []
    for code in re.findall(r"```sh\n(.*?)```", section, flags=re.S):
        block = Block(code)
        for kind, name, value in re.findall(r"^# (keep|until|expect): (\S+?)=(.*)$", code,
                                            flags=re.M):
            getattr(block, kind).append((name, value.strip()))
        blocks.append(block)
    return blocks


def lookup(data: Any, path: str) -> Any:
    """``.a.b[0].c`` in ``data`` (jq's simplest paths)."""
    for name, index in re.findall(r"\.([A-Za-z_]\w*)|\[(\d+)\]", path):
        data = data[name] if name else data[int(index)]
    return data


def matches(actual: Any, wanted: str) -> bool:
    try:
        return bool(actual == json.loads(wanted))
    except ValueError:
        return str(actual) == wanted


# --- running a block: bash + curl, or a replay with requests -------------------------------


def run_with_curl(code: str, env: dict[str, str]) -> tuple[int, str]:
    done = subprocess.run(["bash", "-c", code], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    return done.returncode, done.stdout + done.stderr


def expand(text: str, env: dict[str, str]) -> str:
    return re.sub(r"\$(\w+)|\$\{(\w+)\}", lambda m: env[m.group(1) or m.group(2)], text)


def parse_curl(code: str, env: dict[str, str]) -> dict[str, Any]:
    """The request a block's curl command makes (the subset the walk-through uses:
    -X, -H, -d/--data-urlencode with -G, -d @- with a here-document, -F name=<file)."""
    command = "\n".join(line for line in code.splitlines() if not line.startswith("#"))
    stdin = ""
    if (heredoc := re.search(r"<<(\w+)[ \t]*\n", command)) is not None:
        body = re.match(rf"(.*?)^{heredoc.group(1)}$", command[heredoc.end():], re.S | re.M)
        assert body is not None, code
        stdin, command = expand(body.group(1), env), command[:heredoc.start()]
    words = shlex.split(command.replace("\\\n", " "))
    assert words[0] == "curl", words
    request: dict[str, Any] = {"method": None, "headers": {}, "data": [], "files": {},
                               "url": "", "get": False}
    args = iter(words[1:])
    for word in args:
        if word in ("-sS", "-s", "-S", "--fail-with-body", "-f"):
            continue
        if word == "-X":
            request["method"] = next(args)
        elif word == "-H":
            name, _sep, value = expand(next(args), env).partition(":")
            request["headers"][name.strip()] = value.strip()
        elif word in ("-d", "--data", "--data-urlencode"):
            value = expand(next(args), env)
            request["data"].append(stdin.rstrip("\n") if value == "@-" else value)
        elif word == "-G":
            request["get"] = True
        elif word == "-F":
            name, _sep, value = expand(next(args), env).partition("=")
            request["files"][name] = (None, Path(value[1:]).read_text() if value.startswith("<")
                                      else value)
        else:
            request["url"] = expand(word, env)
    return request


def run_with_requests(code: str, env: dict[str, str]) -> tuple[int, str]:
    r = parse_curl(code, env)
    method = r["method"] or ("POST" if (r["data"] or r["files"]) and not r["get"] else "GET")
    params = None
    body: Any = None
    if r["get"]:
        params = [tuple(item.split("=", 1)) for item in r["data"]]
    elif r["data"]:
        body = "&".join(r["data"]).encode()
    response = requests.request(method, r["url"], headers=r["headers"], params=params,
                                data=body, files=r["files"] or None, timeout=60)
    return (0 if response.ok else 22), response.text


# --- the test ------------------------------------------------------------------------------


def accept_invitation_by_email(base: str) -> None:
    """What the administrator does in the browser: set the password through the email's
    first link, log in, accept through its second."""
    message = mail.outbox[-1]
    reset, accept = re.findall(r"^(https?://\S+)$", message.body, flags=re.M)[:2]
    browser = requests.Session()

    def form(url: str, data: dict[str, str]) -> requests.Response:
        page = browser.get(url, timeout=30)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert token is not None, page.text[:500]
        return browser.post(page.url, data={"csrfmiddlewaretoken": token.group(1), **data},
                            headers={"Referer": page.url}, timeout=30)

    done = form(reset, {"new_password1": ADMIN_PASSWORD, "new_password2": ADMIN_PASSWORD})
    assert done.ok, done.text[:500]
    logged_in = form(f"{base}/accounts/login/", {"username": ADMIN, "password": ADMIN_PASSWORD})
    assert logged_in.ok, logged_in.text[:500]
    joined = form(accept, {"action": "accept"})
    assert joined.ok, joined.text[:500]


@pytest.fixture
def worker_threads(monkeypatch: pytest.MonkeyPatch) -> list[threading.Thread]:
    """Queued runs go to a worker thread instead of the broker."""
    threads: list[threading.Thread] = []

    def work(run_id: int) -> None:
        try:
            runner.execute(run_id)
        finally:
            connection.close()

    def dispatch(run_id: int) -> None:
        thread = threading.Thread(target=work, args=(run_id,), daemon=True)
        threads.append(thread)
        thread.start()

    monkeypatch.setattr(runner, "dispatch", dispatch)
    return threads


@pytest.mark.django_db(transaction=True)
def test_the_curl_walkthrough_configures_a_tenant_and_syncs(
        live_server: Any, crm: EmulatorServer, worker_threads: list[threading.Thread],
        settings: Any) -> None:
    settings.PUBLIC_BASE_URL = live_server.url
    quiet_seed_campaigns(EmulatorAdmin(crm))  # the seed's marked lists give the first sync
    get_user_model().objects.create_user(username=OPERATOR, email=OPERATOR,
                                         password=OPERATOR_PASSWORD, is_staff=True)
    assert crm.ca_file is not None
    base = f"{live_server.url}/api/v1"
    env = {key: value for key, value in os.environ.items()
           if not key.lower().endswith("_proxy")}
    env.update(BASE=base, API=f"{base}/tenants/acme", OPERATOR=OPERATOR,
               OPERATOR_PASSWORD=OPERATOR_PASSWORD, ADMIN=ADMIN, ADMIN_PASSWORD=ADMIN_PASSWORD,
               CRM_URL=crm.org_url("contoso"), AUTHORITY=crm.base_url,
               DIRECTORY_ID=credentials.TENANT_ID, CLIENT_ID=credentials.CLIENT_ID,
               CLIENT_SECRET=credentials.CLIENT_SECRET, CA_FILE=str(crm.ca_file))
    # MWX_WALKTHROUGH_REPLAY=1 replays with requests even where curl is installed.
    with_curl = (shutil.which("curl") and shutil.which("bash")
                 and os.environ.get("MWX_WALKTHROUGH_REPLAY") != "1")
    run = run_with_curl if with_curl else run_with_requests
    blocks = walkthrough_blocks()
    assert len(blocks) >= 15
    for number, block in enumerate(blocks, 1):
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            code, out = run(block.code, env)
            assert code == 0, f"block {number} failed ({code}):\n{block.code}\n{out}"
            answer = json.loads(out) if out.strip() else None
            waiting = [(p, v) for p, v in block.until if not matches(lookup(answer, p), v)]
            if not waiting:
                break
            assert answer.get("status") in JobStatus.active(), (
                f"block {number}: the job ended {answer.get('status')}:\n{out}")
            assert time.monotonic() < deadline, f"block {number} waited in vain:\n{out}"
            time.sleep(0.5)
        for path, wanted in block.expect:
            assert matches(lookup(answer, path), wanted), (
                f"block {number}: {path} is not {wanted}:\n{out}")
        for name, path in block.keep:
            env[name] = str(lookup(answer, path))
        if "/invitations/" in block.code:
            accept_invitation_by_email(live_server.url)

    tenant = Tenant.objects.get(slug="acme")
    assert Membership.objects.filter(tenant=tenant, user__email=ADMIN,
                                     role=Role.ADMINISTRATOR).exists()
    sync = JobRun.objects.get(pk=int(env["RUN"]))
    assert sync.status == JobStatus.SUCCEEDED and sync.trigger == "api"
    assert tenant.record_links.filter(state="active").exists()
    for thread in worker_threads:
        thread.join(timeout=30)


def test_the_replay_reads_every_block_as_curl_does(tmp_path: Path) -> None:
    """Without curl the blocks are replayed: each parses into the request curl makes."""
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    env = {name: f"<{name}>" for name in re.findall(r"\$(\w+)", DOC.read_text())}
    env.update(BASE="http://x/api/v1", API="http://x/api/v1/tenants/acme", CA_FILE=str(ca),
               LASTNAME="7", LAST_NAME="8")
    requests_made = [parse_curl(b.code, env) for b in walkthrough_blocks()]
    assert all(r["url"].startswith("http://x/api/v1/") for r in requests_made)
    mapping = next(r for r in requests_made if r["url"].endswith("/field-mappings/"))
    assert json.loads(mapping["data"][0]) == {"entity_type": "contact", "crm_attribute": 7,
                                              "subscriber_field": 8}
    owners = next(r for r in requests_made if "/crm-owners/" in r["url"] and r["get"])
    assert owners["data"] == ["search=Anna Berger", "type=systemuser"]
    assert any(r["files"].get("ca_bundle") == (None, ca.read_text()) for r in requests_made)
