"""URL length limits (docs/dataverse-webapi.md §URL length), and the product's caps below them."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
import requests

from dynamics import DataverseClient, FakeClock
from dynamics.bulk import MAX_BATCH_GET_CHARS, InLookup
from dynamics.odata import MAX_URL_CHARS as PRODUCT_MAX_URL_CHARS
from dynamics_emulator import EmulatorServer, credentials
from dynamics_emulator.http_types import MAX_BATCH_URL_CHARS, MAX_URL_CHARS
from tests.dynamics.conftest import online_connection
from tests.dynamics_emulator.batchutil import parse_response, post_batch, request_part


def _url_of_length(base: str, length: int) -> str:
    head = base + "contacts?$select=contactid&$filter=" + quote("contains(lastname,'")
    tail = quote("')")
    return head + "x" * (length - len(head) - len(tail)) + tail


def test_get_longer_than_32k_is_refused_with_414(api: requests.Session, base: str) -> None:
    assert MAX_URL_CHARS == 32_768
    ok = api.get(_url_of_length(base, MAX_URL_CHARS), timeout=10)
    assert ok.status_code == 200 and ok.json()["value"] == []
    refused = api.get(_url_of_length(base, MAX_URL_CHARS + 1), timeout=10)
    assert refused.status_code == 414
    assert refused.headers["Content-Type"].startswith("text/html")
    assert b"HTTP Error 414. The request URL is too long." in refused.content
    # The connection stays usable and the refused request never reached the service.
    assert api.get(base + "WhoAmI", timeout=10).status_code == 200


def test_batch_parts_may_be_64k(api: requests.Session, base: str) -> None:
    path = base.split("/", 3)[3]  # contoso/api/data/v9.2/
    long_get = _url_of_length(base, 60_000).split(path, 1)[1]
    too_long = _url_of_length(base, MAX_BATCH_URL_CHARS + 1).split(path, 1)[1]
    resp = post_batch(api, base, [request_part("GET", long_get), request_part("GET", too_long)],
                      prefer="odata.continue-on-error")
    parts = parse_response(resp)
    assert [p["status"] for p in parts] == [200, 400]
    assert "The Uri string is too long" in parts[1]["json"]["error"]["message"]


def test_product_caps_stay_below_the_limits() -> None:
    assert PRODUCT_MAX_URL_CHARS < MAX_URL_CHARS
    assert MAX_BATCH_GET_CHARS < MAX_BATCH_URL_CHARS


@pytest.fixture
def crm(emulator: EmulatorServer) -> Any:
    with DataverseClient(online_connection(emulator, credentials), clock=FakeClock()) as client:
        yield client


def test_product_query_at_its_cap_is_accepted(crm: DataverseClient,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[int, int]] = []
    original = requests.Session.send

    def send(self: requests.Session, request: Any, **kwargs: Any) -> requests.Response:
        resp = original(self, request, **kwargs)
        sent.append((len(request.url), resp.status_code))
        return resp

    monkeypatch.setattr(requests.Session, "send", send)
    values = [f"{i:04d}-{'ü' * 20}-{'a' * 40}@example.invalid" for i in range(600)]
    assert list(crm.lookup_in("contacts", "emailaddress1", values, select=["contactid"])) == []
    gets = [n for n, status in sent if status == 200 and n > 1000]
    assert len(gets) >= 2 and all(status == 200 for _, status in sent)
    assert PRODUCT_MAX_URL_CHARS * 0.9 < max(gets) <= PRODUCT_MAX_URL_CHARS
    sent.clear()
    found = crm.lookup_in_many([InLookup("contacts", "emailaddress1", values, ["contactid"])])
    assert found == [[]] and all(status == 200 for _, status in sent)
