"""Which protocol and Web API version an organisation offers (the integration check).

CRM 2016 (8.0, 8.1, 8.2) and later have the Web API, each at its own highest version;
CRM 2013 (6.x) and 2015 (7.x) answer 404 under `/api/data/` and have only the
Organization Service (SOAP). Online organisations always have the newest Web API, so only
on-premise ones are probed: the highest Web API version first, then the SOAP endpoint.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from dynamics.client import DataverseClient
from dynamics.clock import Clock
from dynamics.connection import Connection, Deployment
from dynamics.errors import NotFound, UnsupportedVersion
from dynamics.transport import BeforeSend

# Newest first: on-premise 9.0/9.1 and CRM 2016 8.0–8.2 (docs/crm-protocols.md §Versions).
WEB_API_VERSIONS = ("v9.2", "v9.1", "v9.0", "v8.2", "v8.1", "v8.0")


@dataclass(frozen=True)
class Detected:
    protocol: str  # "webapi" or "soap"
    api_version: str  # the Web API version used ("v8.0" …); "" for SOAP
    version: str  # as RetrieveVersion answers, e.g. "7.1.0.2014"


def with_api_version(connection: Connection, api_version: str) -> Connection:
    """The connection with its Web API root at `api_version`."""
    base = connection.api_url.split("/api/data/", 1)[0]
    return dataclasses.replace(connection, api_url=f"{base}/api/data/{api_version}/")


def detect(connection: Connection, *, clock: Clock | None = None,
           before_send: BeforeSend | None = None) -> Detected:
    """Raises the first error that is not "no Web API here" (sign-in refused, no answer)."""
    configured = connection.api_url.rstrip("/").rsplit("/", 1)[-1]
    versions = [configured] if connection.deployment == Deployment.ONLINE else \
        list(WEB_API_VERSIONS)
    for api_version in versions:
        with DataverseClient(with_api_version(connection, api_version), clock=clock,
                             before_send=before_send) as client:
            try:
                return Detected("webapi", api_version, client.retrieve_version())
            except (NotFound, UnsupportedVersion) as exc:
                if exc.status not in (404, None):
                    raise
    from dynamics.soap.client import OrganizationServiceClient

    with OrganizationServiceClient(connection, clock=clock, before_send=before_send) as soap:
        return Detected("soap", "", soap.capabilities.version)
