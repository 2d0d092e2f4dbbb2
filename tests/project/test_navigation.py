"""The tenant navigation (templates/base.html, mailworx_crm/navigation.py): the tenant's
pages in named groups of labelled lists inside one <nav>, plain links (no script), the
page shown marked ``aria-current="page"`` and its section ``aria-current="true"``, in
English and German; every page starts with a "Skip to content" link to <main>."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import AbstractUser
from django.test import Client
from django.urls import reverse

from audience.subscribers import create_subscriber
from mailworx_crm.navigation import GROUPS, tenant_sections
from tenants.models import Tenant
from tests.syncjobs.ops_fixtures import make_ready

pytestmark = pytest.mark.django_db


@dataclass
class NavLink:
    group: str
    href: str
    text: str
    current: str | None


@dataclass
class Nav:
    """What a reader of the page's tenant <nav> gets: its groups and their links."""

    label_id: str = ""
    group_titles: dict[str, str] = field(default_factory=dict)  # id → text
    lists: list[str] = field(default_factory=list)  # each <ul>'s aria-labelledby
    links: list[NavLink] = field(default_factory=list)
    inline_code: list[str] = field(default_factory=list)
    first_link: tuple[str, str] | None = None  # (class, href) of the page's first <a>
    main_id: str = ""


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.nav = Nav()
        self.depth = 0  # inside nav.tenant-nav while > 0
        self.group = ""
        self.capture: str | None = None  # "title:<id>" or "link"
        self.text = ""
        self.link_attrs: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "a" and self.nav.first_link is None:
            self.nav.first_link = (a.get("class") or "", a.get("href") or "")
        if tag == "main":
            self.nav.main_id = a.get("id") or ""
        if tag == "nav" and "tenant-nav" in (a.get("class") or "").split():
            self.depth = 1
            self.nav.label_id = a.get("aria-labelledby") or ""
            return
        if not self.depth:
            return
        if tag == "nav":
            self.depth += 1
        if tag == "script" or "style" in a or any(k.startswith("on") for k in a):
            self.nav.inline_code.append(tag)
        if tag == "span" and "nav-group-title" in (a.get("class") or ""):
            self.capture, self.text = f"title:{a.get('id')}", ""
        elif tag == "ul":
            self.group = a.get("aria-labelledby") or ""
            self.nav.lists.append(self.group)
        elif tag == "a":
            self.capture, self.text, self.link_attrs = "link", "", a

    def handle_endtag(self, tag: str) -> None:
        if not self.depth:
            return
        if tag == "nav":
            self.depth -= 1
        elif tag == "span" and self.capture and self.capture.startswith("title:"):
            self.nav.group_titles[self.capture[6:]] = self.text.strip()
            self.capture = None
        elif tag == "a" and self.capture == "link":
            self.nav.links.append(NavLink(self.group, self.link_attrs.get("href") or "",
                                          self.text.strip(),
                                          self.link_attrs.get("aria-current")))
            self.capture = None

    def handle_data(self, data: str) -> None:
        if self.capture:
            self.text += data


def nav_of(client: Client, path: str, **headers: str) -> Nav:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, path
    parser = _Parser()
    parser.feed(response.content.decode())
    return parser.nav


def test_the_pages_are_grouped_in_labelled_lists(owner_client: Client, tenant: Tenant) -> None:
    nav = nav_of(owner_client, f"/t/{tenant.slug}/subscribers/")
    assert nav.label_id == "tenant-nav-name"
    assert nav.group_titles == {"nav-group-setup": "Setup", "nav-group-audience": "Audience",
                                "nav-group-sync": "Synchronisation",
                                "nav-group-administration": "Administration"}
    assert nav.lists == list(nav.group_titles)
    by_group = {g: [link.text for link in nav.links if link.group == g] for g in nav.lists}
    assert by_group == {
        "nav-group-setup": ["Setup checklist", "Organisation settings", "Business units",
                            "Subscriber fields"],
        "nav-group-audience": ["Subscribers", "Groups", "Campaigns", "CRM marketing lists",
                               "Privacy (GDPR)"],
        "nav-group-sync": ["Sync health", "Jobs", "Sync issues", "Alerts"],
        "nav-group-administration": ["Members", "History", "API tokens"],
    }
    assert nav.inline_code == []
    assert [(link.text, link.current) for link in nav.links if link.current] == [
        ("Subscribers", "page")]


def test_every_link_marks_its_own_page_as_current(owner_client: Client, tenant: Tenant) -> None:
    make_ready(tenant)  # syncing started: the sync health page shows (else: the checklist)
    sections = tenant_sections(tenant.slug, "")
    hrefs = [item.url for group in sections for item in group.items]
    assert len(hrefs) == 16 == len(set(hrefs))
    for group in sections:
        for item in group.items:
            if not item.url.startswith(f"/t/{tenant.slug}/"):
                continue  # the API tokens page belongs to the user, not the tenant
            nav = nav_of(owner_client, item.url)
            marked = [(link.href, link.current) for link in nav.links if link.current]
            assert marked == [(item.url, "page")], item.url


def test_a_page_inside_a_section_marks_the_section(owner_client: Client, tenant: Tenant) -> None:
    subscriber = create_subscriber(tenant, {"email": "reader@acme.example"})
    nav = nav_of(owner_client, reverse("audience_data:subscriber",
                                       kwargs={"tenant": tenant.slug, "pk": subscriber.pk}))
    assert [(link.text, link.current) for link in nav.links if link.current] == [
        ("Subscribers", "true")]
    nav = nav_of(owner_client, reverse("businessunits:create", kwargs={"tenant": tenant.slug}))
    assert [(link.text, link.current) for link in nav.links if link.current] == [
        ("Business units", "true")]


def test_the_navigation_speaks_german(owner_client: Client, tenant: Tenant) -> None:
    nav = nav_of(owner_client, f"/t/{tenant.slug}/jobs/", accept_language="de-AT,de;q=0.9")
    assert list(nav.group_titles.values()) == ["Einrichtung", "Empfänger", "Synchronisation",
                                               "Verwaltung"]
    texts = [link.text for link in nav.links]
    assert "Checkliste zur Einrichtung" in texts and "Synchronisationsprobleme" in texts
    assert [(link.text, link.current) for link in nav.links if link.current] == [
        ("Hintergrundjobs", "page")]


def test_every_page_starts_with_a_skip_link(owner_client: Client, tenant: Tenant,
                                            client: Client) -> None:
    for c, path in ((client, "/accounts/login/"), (owner_client, f"/t/{tenant.slug}/groups/")):
        nav = nav_of(c, path)
        assert nav.first_link == ("skip-link", "#content")
        assert nav.main_id == "content"


def test_no_tenant_no_tenant_navigation(owner: AbstractUser, other_tenant: Tenant) -> None:
    """Outside a tenant (the user's API tokens) there is no tenant <nav>; the top bar links
    the API tokens there instead."""
    client = Client()
    client.force_login(owner)
    response = client.get(reverse("api:token-page"))
    html = response.content.decode()
    assert 'class="tenant-nav"' not in html
    assert f'href="{reverse("api:token-page")}"' in html
    assert len(GROUPS) == 4
