"""``base.html`` links to pages that other branches build (orgsettings, business units,
subscriber fields). Until they are merged, view tests here run against a URLconf that adds
placeholders for exactly the names that do not resolve; afterwards this does nothing.

Import ``nav_urls`` into a test module to use it (it is autouse).
"""

from __future__ import annotations

import pytest
from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, include, path, reverse

import mailworx_crm.urls

NAV_NAMES = ["orgsettings:progress", "orgsettings:edit", "orgsettings:history",
             "businessunits:list", "audience:fields"]


def _placeholder(request: HttpRequest, tenant: str) -> HttpResponse:
    return HttpResponse("placeholder")


def _missing() -> list[str]:
    missing = []
    for name in NAV_NAMES:
        try:
            reverse(name, kwargs={"tenant": "x"}, urlconf="mailworx_crm.urls")
        except NoReverseMatch:
            missing.append(name)
    return missing


def _patterns() -> list:
    by_namespace: dict[str, list] = {}
    for name in _missing():
        namespace, _sep, url_name = name.partition(":")
        by_namespace.setdefault(namespace, []).append(
            path(f"__nav__/{namespace}/{url_name}/<slug:tenant>/", _placeholder, name=url_name))
    # Placeholders first: for a namespace registered twice, reverse() uses the first.
    return [path("", include((p, ns))) for ns, p in by_namespace.items()] + list(
        mailworx_crm.urls.urlpatterns)


urlpatterns = _patterns()


@pytest.fixture(autouse=True)
def nav_urls(settings: object) -> None:
    if _missing():
        settings.ROOT_URLCONF = "tests.audience.nav_stub"  # type: ignore[attr-defined]
