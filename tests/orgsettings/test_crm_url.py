"""C3: which CRM URLs are accepted, and what the app derives from them."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from orgsettings.crm_url import API_VERSIONS, parse_crm_url, web_api_url
from orgsettings.models import Deployment

GOOD = [
    # subdomain form
    ("https://contoso.crm4.dynamics.com", "contoso", "https://contoso.crm4.dynamics.com"),
    ("https://contoso.crm4.dynamics.com/", "contoso", "https://contoso.crm4.dynamics.com"),
    ("https://Contoso.CRM.dynamics.com", "contoso", "https://contoso.crm.dynamics.com"),
    ("https://org-1.crm11.dynamics.com", "org-1", "https://org-1.crm11.dynamics.com"),
    ("  https://contoso.crm4.dynamics.com  ", "contoso", "https://contoso.crm4.dynamics.com"),
    ("https://contoso.crm.example.com", "contoso", "https://contoso.crm.example.com"),
    ("https://contoso.crm.example.com:444", "contoso", "https://contoso.crm.example.com:444"),
    # path form
    ("http://crm/contoso", "contoso", "http://crm/contoso"),
    ("http://crm/contoso/", "contoso", "http://crm/contoso"),
    ("HTTP://CRMSERVER/Contoso", "Contoso", "http://crmserver/Contoso"),
    ("https://crm.example.local:5555/Org_A", "Org_A", "https://crm.example.local:5555/Org_A"),
    ("https://127.0.0.1:8765/contoso", "contoso", "https://127.0.0.1:8765/contoso"),
    ("http://localhost:8765/demo", "demo", "http://localhost:8765/demo"),
    ("http://[::1]:8765/demo", "demo", "http://[::1]:8765/demo"),
]

BAD = [
    ("", "required"),
    ("contoso.crm4.dynamics.com", "scheme"),
    ("ftp://crm/contoso", "scheme"),
    ("crm/contoso", "scheme"),
    ("https:///contoso", "scheme"),
    ("https://user:pw@crm/contoso", "credentials"),
    ("https://user@contoso.crm4.dynamics.com", "credentials"),
    ("http://crm/contoso?x=1", "query"),
    ("http://crm/contoso#top", "query"),
    ("https://contoso.crm4.dynamics.com/?", "query"),
    ("http://crmserver", "no_org"),
    ("http://crmserver/", "no_org"),
    ("https://127.0.0.1:8765", "no_org"),
    ("https://127.0.0.1:8765/", "no_org"),
    ("http://crm.local", "no_org"),
    ("https://contoso.crm4.dynamics.com/api/data/v9.2/", "web_api"),
    ("http://crm/contoso/api/data/v8.2", "web_api"),
    ("http://crm/contoso/main.aspx", "path"),
    ("http://crm/a/b", "path"),
    ("http://crm//contoso", "path"),
    ("https://contoso.crm4.dynamics.com/contoso", "path"),
    ("http://contoso.crm4.dynamics.com", "scheme"),
    ("http://crm:99999/contoso", "port"),
    ("http://cr_m/contoso", "host"),
    ("http://crm/con%20toso", "org"),
    ("http://crm/-contoso", "org"),
]


@pytest.mark.parametrize(("url", "org", "base"), GOOD)
def test_it_accepts_organisation_urls(url: str, org: str, base: str) -> None:
    endpoint = parse_crm_url(url)
    assert endpoint.organisation_name == org
    assert endpoint.base_url == base
    assert endpoint.web_api_url == f"{base}/api/data/v9.2/"


@pytest.mark.parametrize(("url", "code"), BAD)
def test_it_rejects_urls_it_cannot_use(url: str, code: str) -> None:
    with pytest.raises(ValidationError) as exc:
        parse_crm_url(url)
    assert exc.value.code == code
    # Every message shows what would have been accepted.
    assert "https://contoso.crm4.dynamics.com" in exc.value.messages[0]
    assert "https://crm.contoso.com/contoso" in exc.value.messages[0]


def test_it_derives_the_web_api_version_from_the_deployment() -> None:
    online = parse_crm_url("http://crm/contoso", Deployment.ONLINE)
    onprem = parse_crm_url("http://crm/contoso", Deployment.ON_PREMISE)
    assert online.web_api_url == "http://crm/contoso/api/data/v9.2/"
    assert onprem.web_api_url == "http://crm/contoso/api/data/v8.2/"
    assert onprem.organisation_name == online.organisation_name == "contoso"


def test_it_has_one_api_version_per_deployment() -> None:
    assert set(API_VERSIONS) == {d.value for d in Deployment}
    assert web_api_url("https://x.crm.dynamics.com/", Deployment.ONLINE) == (
        "https://x.crm.dynamics.com/api/data/v9.2/"
    )
    with pytest.raises(ValidationError):
        web_api_url("https://x.crm.dynamics.com", "cloud")


@pytest.mark.parametrize("url", ["https://crm4.dynamics.com", "https://crm.dynamics.com/",
                                 "https://CRM11.dynamics.com"])
def test_a_regions_own_host_names_no_organisation(url: str) -> None:
    with pytest.raises(ValidationError) as exc:
        parse_crm_url(url)
    assert exc.value.code == "no_org"
    assert "not of an organisation" in exc.value.messages[0]
