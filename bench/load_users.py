"""The simulated people of ``load_bench.py``: locust users run headless in their own process.

Run by ``load_bench.py`` as ``python bench/load_users.py CONFIG.json``; prints one JSON line
with every request's figures per endpoint. It imports nothing of the product (locust
patches the standard library with gevent, which the product's processes must not see).

Each user logs in through the login form (CSRF token from the form, as a browser would) and
then, until the run ends, opens the runs page, pages through the subscriber list (following
the page's own "next" cursor) and posts batches of reactions to the ingest endpoint, each
reaction with a new ``source_event_id`` (so every one must come back ``created``).

The web app runs as in production (``MWX_MODE=production``): secure cookies and HTTPS-only
CSRF checks behind a TLS proxy. On loopback there is no proxy, so each request carries the
proxy's ``X-Forwarded-Proto: https`` and the client sends the secure cookies over plain
HTTP (:meth:`Person.plain_cookies`).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random
import re
import sys
import uuid
from pathlib import Path
from typing import Any

import gevent
from locust import HttpUser, between, task
from locust.env import Environment

CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
NEXT_CURSOR = re.compile(r"[?&;]before=(\d+)")
PROXY = {"X-Forwarded-Proto": "https"}


class Person(HttpUser):
    """One tenant administrator (UI pages) who is also the mailing engine's API client."""

    config: dict[str, Any] = {}
    wait_time = between(0.5, 1.5)
    serial = itertools.count()

    def on_start(self) -> None:
        cfg = self.config
        self.me = next(Person.serial)
        self.events = itertools.count()
        self.cursor: str | None = None
        self.client.headers.update(PROXY)
        self.tenant_ui = f"/t/{cfg['slug']}"
        form = self.client.get("/accounts/login/", name="login (form)")
        self.plain_cookies()
        found = CSRF_FIELD.search(form.text)
        with self.client.post(
                "/accounts/login/", name="login (post)", allow_redirects=False,
                data={"username": cfg["username"], "password": cfg["password"],
                      "csrfmiddlewaretoken": found.group(1) if found else ""},
                headers={"Referer": f"https://{cfg['hostport']}/accounts/login/"},
                catch_response=True) as resp:
            if resp.status_code != 302 or "/accounts/login" in resp.headers.get("Location", ""):
                resp.failure(f"login refused: {resp.status_code}")
        self.plain_cookies()

    def plain_cookies(self) -> None:
        """Let the ``Secure`` cookies (session, CSRF) go over the loopback's plain HTTP,
        as they would through the TLS proxy. (A cookie policy on the session's jar would
        not do: requests copies the cookies into a jar of its own for each request.)"""
        for cookie in self.client.cookies:
            cookie.secure = False

    def page(self, url: str, name: str) -> Any:
        """GET a UI page; landing on the login form counts as a failure."""
        self.plain_cookies()
        with self.client.get(url, name=name, catch_response=True) as resp:
            if resp.ok and "/accounts/login/" in resp.url:
                resp.failure("not logged in: sent to the login form")
            return resp

    @task(3)
    def runs_page(self) -> None:
        self.page(f"{self.tenant_ui}/jobs/", "runs page")

    @task(3)
    def subscriber_list(self) -> None:
        url = f"{self.tenant_ui}/subscribers/"
        if self.cursor:
            url += f"?before={self.cursor}"
        resp = self.page(url, "subscriber list")
        found = NEXT_CURSOR.findall(resp.text) if resp.status_code == 200 else []
        # At the end of the list (or after a few pages) start again at the first page.
        self.cursor = found[-1] if found and random.random() < 0.8 else None

    @task(2)
    def ingest(self) -> None:
        cfg = self.config
        at = dt.datetime.now(dt.UTC).isoformat()
        kinds = ("open", "open", "click")
        items = []
        for _ in range(cfg["batch"]):
            n = next(self.events)
            kind = kinds[n % len(kinds)]
            items.append({
                "source_event_id": f"load-{cfg['run']}-{self.me}-{n}-{uuid.uuid4().hex[:8]}",
                "kind": kind, "subscriber_id": random.choice(cfg["subscriber_ids"]),
                "campaign_id": random.choice(cfg["campaign_ids"]), "occurred_at": at,
                **({"url": "https://example.com/offer"} if kind == "click" else {})})
        with self.client.post(f"/api/v1/tenants/{cfg['slug']}/reactions/ingest/",
                              name="reactions ingest", json={"items": items},
                              headers={"Authorization": f"Token {cfg['token']}"},
                              catch_response=True) as resp:
            if resp.status_code == 200:
                counts = resp.json().get("counts", {})
                if counts.get("created") != len(items):
                    resp.failure(f"not all created: {counts}")


def main(config_path: str) -> None:
    cfg = json.loads(Path(config_path).read_text())
    Person.config = cfg
    Person.wait_time = between(cfg["think"] / 2, cfg["think"] * 1.5)
    env = Environment(user_classes=[Person], host=cfg["base"])
    seen: dict[str, dict[str, Any]] = {}

    def on_request(request_type: str, name: str, response_time: float, response: Any = None,
                   exception: Any = None, start_time: float = 0.0, **_: Any) -> None:
        row = seen.setdefault(name, {"times": [], "starts": [], "failures": 0, "statuses": {}})
        row["times"].append(response_time)
        row["starts"].append(start_time)
        status = getattr(response, "status_code", 0) or 0
        row["statuses"][str(status)] = row["statuses"].get(str(status), 0) + 1
        if exception is not None:
            row["failures"] += 1
            row.setdefault("errors", {}).setdefault(str(exception)[:200], 0)
            row["errors"][str(exception)[:200]] += 1

    env.events.request.add_listener(on_request)
    runner = env.create_local_runner()
    runner.start(cfg["users"], spawn_rate=cfg["users"])
    gevent.spawn_later(cfg["seconds"], runner.quit)
    runner.greenlet.join()
    print(json.dumps(seen))


if __name__ == "__main__":
    main(sys.argv[1])
