"""Entra-ID-style client credentials: discovery document, token endpoint, bearer checks.

Tokens are JWT-shaped (header.payload.signature) with an HMAC-SHA256 signature under
the emulator's own key; they are only meaningful to this emulator.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from dynamics_emulator.http_types import Request, Response
from dynamics_emulator.orgs import AppRegistration, Org


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenService:
    def __init__(self, apps: list[AppRegistration], lifetime: int,
                 now: Callable[[], float] = time.time, key: bytes | None = None) -> None:
        # `now` is the emulator clock, so shifting it through /_admin/clock expires tokens.
        self.now = now
        self.apps = {a.client_id: a for a in apps}
        self.tenants = {a.tenant_id for a in apps}
        self.lifetime = lifetime
        # A data dir keeps the key (persistence.py), so issued tokens outlive a restart.
        self._key = key or secrets.token_bytes(32)

    # -- endpoints ---------------------------------------------------------------------
    def openid_configuration(self, req: Request, tenant: str) -> Response:
        if tenant not in self.tenants:
            return self._aad_error(400, "invalid_tenant", 90002,
                                   f"Tenant '{tenant}' not found. Check to make sure you have the "
                                   f"correct tenant ID and are signing into the correct cloud.")
        root = f"{req.origin}/{tenant}"
        return Response.json({
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "jwks_uri": f"{req.origin}/{tenant}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "code id_token", "token id_token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{req.origin}/{tenant}/v2.0",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
        }, odata=False)

    def token(self, req: Request, tenant: str, orgs: dict[str, Org]) -> Response:
        form = {k: v[0] for k, v in parse_qs(req.body.decode("utf-8")).items()}
        if "Authorization" in req.headers and (req.headers.get("Authorization") or "").startswith(
                "Basic "):
            raw = base64.b64decode((req.headers.get("Authorization") or "")[6:]).decode()
            form.setdefault("client_id", raw.split(":", 1)[0])
            form.setdefault("client_secret", raw.split(":", 1)[1])
        if tenant not in self.tenants:
            return self._aad_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        if form.get("grant_type") != "client_credentials":
            return self._aad_error(400, "unsupported_grant_type", 70003,
                                   "The app requested an unsupported grant type "
                                   f"'{form.get('grant_type')}'.")
        client_id = form.get("client_id", "")
        app = self.apps.get(client_id)
        if app is None or app.tenant_id != tenant:
            return self._aad_error(400, "unauthorized_client", 700016,
                                   f"Application with identifier '{client_id}' was not found in "
                                   f"the directory '{tenant}'. This can happen if the application "
                                   "has not been installed by the administrator of the tenant or "
                                   "consented to by any user in the tenant. You may have sent your "
                                   "authentication request to the wrong tenant.")
        if not hmac.compare_digest(form.get("client_secret", ""), app.secret):
            return self._aad_error(401, "invalid_client", 7000215,
                                   "Invalid client secret provided. Ensure the secret being sent "
                                   "in the request is the client secret value, not the client "
                                   f"secret ID, for a secret added to app '{client_id}'.")
        scope = form.get("scope", "")
        resource = scope.removesuffix("/.default").rstrip("/")
        org = orgs.get(urlsplit(resource).path.strip("/").split("/")[-1].lower()) \
            if scope.endswith("/.default") else None
        if org is None or org.kind != "online" or org.tenant_id != tenant:
            return self._aad_error(400, "invalid_resource", 500011,
                                   f"The resource principal named {resource or scope} was not "
                                   f"found in the tenant named {tenant}. This can happen if the "
                                   "application has not been installed by the administrator of "
                                   "the tenant or consented to by any user in the tenant.")
        now = int(self.now())
        # Round the expiry up so a token always lives at least `lifetime` seconds.
        expires = math.ceil(self.now() + self.lifetime)
        claims = {"aud": resource, "iss": f"https://sts.windows.net/{tenant}/", "iat": now,
                  "nbf": now, "exp": expires, "appid": client_id, "tid": tenant,
                  "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, client_id)), "org": org.name,
                  "ver": "1.0"}
        return Response.json({"token_type": "Bearer", "expires_in": self.lifetime,
                              "ext_expires_in": self.lifetime,
                              "access_token": self.sign(claims)}, odata=False)

    # -- tokens ------------------------------------------------------------------------
    def sign(self, claims: dict[str, Any]) -> str:
        head = _b64(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
        body = _b64(json.dumps(claims).encode())
        sig = hmac.new(self._key, f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"{head}.{body}.{_b64(sig)}"

    def verify(self, token: str, org: Org) -> dict[str, Any] | None:
        """Claims when the token is genuine, unexpired and issued for this org."""
        try:
            head, body, sig = token.split(".")
            expected = hmac.new(self._key, f"{head}.{body}".encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(expected, _unb64(sig)):
                return None
            claims: dict[str, Any] = json.loads(_unb64(body))
        except (ValueError, json.JSONDecodeError):
            return None
        if claims.get("exp", 0) <= self.now() or claims.get("org") != org.name:
            return None
        return claims

    def challenge(self, req: Request, org: Org) -> Response:
        resp = Response(status=401)
        resp.headers.set("WWW-Authenticate",
                         f"Bearer authorization_uri={req.origin}/{org.tenant_id}/oauth2/authorize, "
                         f"resource_id={req.origin}/{org.name}/")
        return resp

    @staticmethod
    def unknown_org_challenge(req: Request) -> Response:
        """An organisation name nobody created: the front end still asks for a token (it
        cannot tell whose organisation it would be, so the authority is the multi-tenant
        one); the token service then answers AADSTS500011 for its resource
        (docs/dataverse-webapi.md §Sign-in)."""
        resp = Response(status=401)
        resp.headers.set("WWW-Authenticate",
                         f"Bearer authorization_uri={req.origin}/common/oauth2/authorize")
        return resp

    @staticmethod
    def _aad_error(status: int, error: str, code: int, text: str) -> Response:
        now = datetime.now(UTC)
        trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
        return Response.json({
            "error": error,
            "error_description": f"AADSTS{code}: {text} Trace ID: {trace} Correlation ID: "
                                 f"{corr} Timestamp: {stamp}",
            "error_codes": [code], "timestamp": stamp, "trace_id": trace,
            "correlation_id": corr, "error_uri": f"https://login.microsoftonline.com/error?code={code}",
        }, status, odata=False)
