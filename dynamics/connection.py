"""Settings for one CRM connection. Secrets are kept out of repr() (N4)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from dynamics.outbound import OutboundPolicy

DEFAULT_AUTHORITY = "https://login.microsoftonline.com"


class Deployment(enum.StrEnum):
    ONLINE = "online"
    ON_PREMISE = "on_premise"


@dataclass(frozen=True)
class AppUser:
    """An additional application user of the same app-registration tenant (Online only).

    Dataverse's service-protection limits are per user, so each one brings a request and
    execution-time budget of its own (docs/dataverse-webapi.md §Several application users).
    """

    client_id: str
    client_secret: str = field(default="", repr=False)


@dataclass(frozen=True)
class Connection:
    """Everything needed to talk to one organisation's Web API.

    `api_url` is the versioned Web API root, e.g.
    `https://contoso.crm4.dynamics.com/api/data/v9.2/`; `org_url` defaults to the part
    before `/api/data/` and is the OAuth resource (scope `<org_url>/.default`).
    `ca_bundle` is PEM text or a file path; None means the public CA store.
    `allowed_destinations` is the operator's allowlist of non-public networks and host
    names (SPEC N8, dynamics/outbound.py); `proxy` an http(s):// proxy for all traffic of
    this connection (None: direct).
    `additional_users` (Online only): more application users whose budgets the bulk path
    uses too (dynamics/lanes.py); single calls always use `client_id`.
    """

    api_url: str
    deployment: Deployment = Deployment.ONLINE
    org_url: str = ""
    authority: str = DEFAULT_AUTHORITY
    tenant_id: str = ""
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    username: str = ""  # on-premise: DOMAIN\user
    password: str = field(default="", repr=False)
    ca_bundle: str | None = field(default=None, repr=False)
    connect_timeout: float = 10.0
    read_timeout: float = 120.0  # Microsoft's samples use 2 minutes
    max_retries: int = 5
    max_wait: float = 300.0  # longest single wait before giving the work back to the job
    concurrency: int = 8  # well under the 52 concurrent requests the service allows
    allowed_destinations: tuple[str, ...] = ()
    proxy: str | None = field(default=None, repr=False)  # may carry proxy credentials
    additional_users: tuple[AppUser, ...] = ()

    def __post_init__(self) -> None:
        if "/api/data/" not in self.api_url:
            raise ValueError("api_url must be the Web API root, e.g. https://org/api/data/v9.2/")
        if not self.api_url.endswith("/"):
            object.__setattr__(self, "api_url", self.api_url + "/")
        if not self.org_url:
            object.__setattr__(self, "org_url", self.api_url.split("/api/data/", 1)[0])
        object.__setattr__(self, "deployment", Deployment(self.deployment))
        object.__setattr__(self, "authority", self.authority.rstrip("/"))
        if self.concurrency < 1 or self.max_retries < 0:
            raise ValueError("concurrency must be >= 1 and max_retries >= 0")
        object.__setattr__(self, "allowed_destinations", tuple(self.allowed_destinations))
        object.__setattr__(self, "additional_users", tuple(self.additional_users))
        if self.additional_users:
            if self.deployment != Deployment.ONLINE:
                raise ValueError("additional application users exist only for Online")
            ids = [self.client_id.lower()] + [u.client_id.lower() for u in self.additional_users]
            if len(set(ids)) != len(ids):
                raise ValueError("each application user must have its own client id")
        self.outbound_policy()  # a bad allowlist entry fails here, naming the entry
        if self.proxy:
            proxy = urlsplit(self.proxy)
            if proxy.scheme not in ("http", "https") or not proxy.hostname:
                raise ValueError("proxy must be an http:// or https:// URL with a host")

    def outbound_policy(self) -> OutboundPolicy:
        """The address rule for every connection this client makes (SPEC N8)."""
        return OutboundPolicy.from_entries(self.allowed_destinations)

    @property
    def scope(self) -> str:
        return f"{self.org_url.rstrip('/')}/.default"

    @property
    def api_path(self) -> str:
        """Path part of api_url, e.g. `/contoso/api/data/v9.2/` (used inside $batch)."""
        return urlsplit(self.api_url).path

    @property
    def is_microsoft_authority(self) -> bool:
        host = (urlsplit(self.authority).hostname or "").lower()
        return any(host == domain or host.endswith("." + domain) for domain in (
            "microsoftonline.com", "microsoftonline.us", "chinacloudapi.cn"))
