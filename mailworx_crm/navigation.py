"""The tenant navigation: the tenant's pages in a few named groups, each link knowing
whether it is the page shown (``aria-current="page"``) or the section that page belongs
to (``aria-current="true"``), e.g. a business unit's mappings under "Business units".

Links name their target by URL name only, so this module imports no app; the template
(``templates/base.html``) renders the groups as labelled lists inside one ``<nav>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


@dataclass(frozen=True)
class Link:
    label: str | Promise
    url_name: str
    # View names (fnmatch patterns) of the pages that belong to this link's section.
    section: tuple[str, ...] = ()
    tenant_scoped: bool = True


@dataclass(frozen=True)
class Group:
    key: str
    title: str | Promise
    links: tuple[Link, ...]


GROUPS: tuple[Group, ...] = (
    Group("setup", _("Setup"), (
        Link(_("Setup checklist"), "orgsettings:progress",
             ("orgsettings:check", "orgsettings:prepare", "orgsettings:reissue",
              "orgsettings:revoke", "tenants:dashboard")),
        Link(_("Organisation settings"), "orgsettings:edit"),
        Link(_("Business units"), "businessunits:list", ("businessunits:*", "fieldmapping:*")),
        Link(_("Subscriber fields"), "audience:fields", ("audience:*",)),
    )),
    Group("audience", _("Audience"), (
        Link(_("Subscribers"), "audience_data:subscribers", ("audience_data:subscriber*",)),
        Link(_("Groups"), "audience_data:groups", ("audience_data:group*",)),
        Link(_("Campaigns"), "audience_data:campaigns", ("audience_data:campaign*",)),
        Link(_("CRM marketing lists"), "syncjobs:crm_lists", ("syncjobs:crm_list*",)),
        Link(_("Privacy (GDPR)"), "syncjobs:privacy",
             ("syncjobs:subscriber_erase", "syncjobs:access_export")),
    )),
    Group("sync", _("Synchronisation"), (
        Link(_("Sync health"), "syncjobs:health"),
        Link(_("Jobs"), "syncjobs:list",
             ("syncjobs:detail", "syncjobs:progress", "syncjobs:cancel", "syncjobs:sync_*")),
        Link(_("Sync issues"), "syncjobs:issues", ("syncjobs:issue*",)),
        Link(_("Alerts"), "syncjobs:incidents"),
    )),
    Group("administration", _("Administration"), (
        Link(pgettext_lazy("tenant users", "Members"), "tenants:members",
             ("tenants:change_role", "tenants:remove_member", "tenants:cancel_invitation")),
        Link(_("History"), "orgsettings:history"),
        Link(_("API tokens"), "api:token-page", tenant_scoped=False),
    )),
)


@dataclass(frozen=True)
class NavItem:
    label: str | Promise
    url: str
    current: str  # "page", "true" (a page inside the link's section) or ""


@dataclass(frozen=True)
class NavGroup:
    key: str
    title: str | Promise
    items: list[NavItem]


def _current(link: Link, view_name: str) -> str:
    if view_name == link.url_name:
        return "page"
    if any(fnmatchcase(view_name, pattern) for pattern in link.section):
        return "true"
    return ""


def tenant_sections(slug: str, view_name: str) -> list[NavGroup]:
    """The groups of the tenant ``slug``'s navigation, seen from the view ``view_name``."""
    return [
        NavGroup(group.key, group.title, [
            NavItem(link.label,
                    reverse(link.url_name, kwargs={"tenant": slug} if link.tenant_scoped else {}),
                    _current(link, view_name))
            for link in group.links])
        for group in GROUPS
    ]


def tenant_navigation(request: HttpRequest) -> dict[str, Any]:
    """Context processor: ``tenant_sections`` on every page of a tenant."""
    access = getattr(request, "tenant_access", None)
    if access is None:
        return {}
    match = getattr(request, "resolver_match", None)
    view_name = match.view_name if match is not None else ""
    return {"tenant_sections": tenant_sections(access.tenant.slug, view_name)}
