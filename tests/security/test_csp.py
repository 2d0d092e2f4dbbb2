"""Every page satisfies the Content-Security-Policy (docs/security.md): the header is sent
in every mode and allows no inline script or style, and no page contains any — no
``<script>`` without ``src``, no ``on…`` handler attribute, no ``style`` attribute, no
``<style>`` block, no ``javascript:`` URL, no htmx ``hx-on`` (which htmx runs with eval).

The pages are walked from the URLconf (as the input sweep does), as the owner of a tenant
with one object of each kind, plus the pages only reached another way: the API-token page,
the pages of a logged-out visitor, an invitation, the credentials shown once by "prepare
mailworx" and the lock-out page. The browser test (tests/e2e/test_csp.py) shows that the
browser reports no violation and that htmx still works.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core import mail
from django.http import HttpResponse
from django.test import Client

from orgsettings.models import OrgSettings
from tenants.models import Tenant
from tests.orgsettings.conftest import saved_settings  # noqa: F401  (fixture)
from tests.project.test_deployment import PROD_ENV, built_static  # noqa: F401
from tests.security.test_input_sweep import Scene, routes
from tests.tenants.test_invitations import invite, link, logged_in

ROOT = Path(__file__).resolve().parents[2]
STRICT = {
    "default-src": "'self'", "script-src": "'self'", "style-src": "'self'",
    "img-src": "'self' data:", "connect-src": "'self'", "form-action": "'self'",
    "frame-ancestors": "'none'", "base-uri": "'none'", "object-src": "'none'",
}
INLINE_IN_SOURCE = re.compile(
    r"<script(?![^>]*\ssrc=)[^>]*>|<style[\s>]|\sstyle=|(?:^|[\s\"'])on[a-z]+=|hx-on|javascript:",
    re.IGNORECASE | re.MULTILINE)


def policy(response: HttpResponse) -> dict[str, str]:
    header = response.get("Content-Security-Policy")
    assert header, "no Content-Security-Policy header"
    directives = (part.strip().split(None, 1) for part in header.split(";") if part.strip())
    return {d[0]: d[1] if len(d) > 1 else "" for d in directives}


class InlineFinder(HTMLParser):
    """What a strict CSP would refuse in one HTML document."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.htmx_config: str | None = None
        self.scripts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "script":
            if names.get("src"):
                self.scripts.append(str(names["src"]))
            else:
                self.found.append("inline <script>")
        if tag == "style":
            self.found.append("<style> block")
        if tag == "meta" and names.get("name") == "htmx-config":
            self.htmx_config = names.get("content")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=…>")
            elif name == "style":
                self.found.append(f"<{tag} style=…>")
            elif name.startswith(("hx-on", "data-hx-on")):
                self.found.append(f"<{tag} {name}=…> (htmx evaluates it)")
            elif value and value.strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}=javascript:…>")


def check(response: HttpResponse, where: str, problems: list[str]) -> bool:
    """Add ``where``'s problems; False when the response is no HTML page to check."""
    if not response.get("Content-Type", "").startswith("text/html"):
        return False
    directives = policy(response)
    for directive, sources in directives.items():
        if "'unsafe-inline'" in sources or "'unsafe-eval'" in sources:
            problems.append(f"{where}: {directive} {sources}")
    if directives != STRICT:
        problems.append(f"{where}: not the strict policy: {directives}")
    finder = InlineFinder()
    finder.feed(response.content.decode())
    finder.close()
    problems.extend(f"{where}: {found}" for found in finder.found)
    if any("htmx" in src for src in finder.scripts):
        config = json.loads(finder.htmx_config or "{}")
        if config.get("includeIndicatorStyles") is not False:
            problems.append(f"{where}: htmx would inject its indicator <style>")
        if config.get("allowEval") is not False:
            problems.append(f"{where}: htmx may evaluate code (allowEval)")
    return True


@pytest.mark.django_db
def test_every_page_satisfies_the_strict_policy(
        tenant: Tenant, other_tenant: Tenant, owner: AbstractUser, member: AbstractUser,
        outsider: AbstractUser, owner_client: Client, saved_settings: OrgSettings,  # noqa: F811
        no_dispatch: list[int]) -> None:
    scene = Scene(tenant, other_tenant, member)
    problems: list[str] = []
    checked: list[str] = []

    def visit(client: Client, path: str, method: str = "get", **data: object) -> None:
        response = getattr(client, method)(path, data)
        if check(response, f"{method.upper()} {path} ({response.status_code})", problems):
            checked.append(path)

    for route, _name in routes():
        if route in ("accounts/logout/", "invitations/<str:secret>/"):
            continue  # logging out ends the walk; the invitation is visited below
        owner_client.force_login(owner)
        visit(owner_client, scene.path(route, tenant.slug))
    owner_client.force_login(owner)
    visit(owner_client, "/api/v1/account/token/")
    visit(owner_client, f"/t/{tenant.slug}/crm-owners/search/", q="a")
    visit(owner_client, f"/t/{tenant.slug}/missing/")  # the 404 page

    # "Prepare mailworx" shows the credentials once, with copy buttons.
    visit(owner_client, f"/t/{tenant.slug}/setup/prepare/", method="post")
    # An invitation, as the invited person sees it; and an unknown one.
    invite(owner_client, tenant, "outsider@globex.example", "user")
    accept = link(mail.outbox[-1].body, "/invitations/")
    visit(logged_in(outsider), accept)
    visit(logged_in(outsider), "/invitations/not-a-secret/")

    # A visitor who is not logged in: log-in, password reset, and the lock-out page.
    anonymous = Client()
    for path in ("/accounts/login/", "/accounts/password_reset/",
                 "/accounts/password_reset/done/", "/accounts/reset/done/",
                 "/accounts/reset/MQ/not-a-token/"):
        visit(anonymous, path)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        visit(anonymous, "/accounts/login/", method="post", username=owner.username,
              password="wrong")

    # The walk saw pages, not only redirects: every kind of page the UI has.
    pages = set(checked)
    for expected in (f"/t/{tenant.slug}/jobs/{scene.ids[tenant.slug]['jobs']}/",
                     f"/t/{tenant.slug}/jobs/{scene.ids[tenant.slug]['jobs']}/progress/",
                     f"/t/{tenant.slug}/subscribers/", f"/t/{tenant.slug}/members/",
                     f"/t/{tenant.slug}/setup/prepare/", "/api/v1/account/token/", accept,
                     "/accounts/login/"):
        assert expected in pages, f"{expected} was not checked"
    assert len(pages) > 40
    assert not problems, "\n".join(problems)


def test_no_template_has_inline_script_or_style() -> None:
    """The same rules on the template sources, so a branch no walk renders is covered."""
    problems = []
    for template in sorted((ROOT / "templates").rglob("*.html")):
        source = re.sub(r"\{#.*?#\}", "", template.read_text())  # comments render nothing
        problems += [f"{template.relative_to(ROOT)}: {m.group(0)!r}"
                     for m in INLINE_IN_SOURCE.finditer(source)]
    assert not problems, "\n".join(problems)


@pytest.mark.django_db
def test_the_policy_is_sent_beyond_the_pages(owner_client: Client, admin_user: AbstractUser,
                                             client: Client) -> None:
    """The API (JSON), the admin and the API documentation get a policy too; the
    documentation (Redoc) is the one page that allows more: inline styles (not scripts) and
    its search worker."""
    assert policy(owner_client.get("/api/v1/tenants/"))["script-src"] == "'self'"
    client.force_login(admin_user)
    assert policy(client.get("/admin/")) == STRICT
    docs = client.get("/api/v1/docs/")
    assert policy(docs) == {**STRICT, "style-src": "'self' 'unsafe-inline'",
                            "worker-src": "'self' blob:"}
    finder = InlineFinder()
    finder.feed(docs.content.decode())
    assert finder.found == []


def test_production_sends_the_same_policy(built_static: Path) -> None:  # noqa: F811
    """With MWX_MODE=production (static files built as the image builds them) the log-in
    page carries the same strict header."""
    code = (
        "from django.test import Client\n"
        "r = Client().get('/accounts/login/', HTTP_HOST='mailworx.example', secure=True)\n"
        "print(r.status_code)\n"
        "print(r['Content-Security-Policy'])\n"
    )
    clean = {k: v for k, v in os.environ.items()
             if not k.endswith("_FILE") and k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT,
                            text=True, capture_output=True, timeout=120,
                            env={**clean, **PROD_ENV, "STATIC_ROOT": str(built_static)})
    assert result.returncode == 0, result.stdout + result.stderr
    status, header = result.stdout.strip().splitlines()[-2:]
    response = HttpResponse(headers={"Content-Security-Policy": header})
    assert status == "200" and policy(response) == STRICT
