"""API authentication: django-rest-knox tokens (``Authorization: Token <secret>``).

knox stores a digest, never the secret, and refuses an expired token (deleting it). On top
of knox this notes when a token was last used.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from knox.auth import TokenAuthentication as KnoxTokenAuthentication

from tenants.accounts import record_use


class TokenAuthentication(KnoxTokenAuthentication):
    def validate_user(self, auth_token: Any) -> tuple[Any, Any]:
        user, token = super().validate_user(auth_token)
        record_use(token)
        return user, token


class TokenScheme(OpenApiAuthenticationExtension):
    """The OpenAPI description of :class:`TokenAuthentication`."""

    target_class = "api.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        definition: dict[str, Any] = build_bearer_security_scheme_object(
            header_name="Authorization", token_prefix="Token")
        return definition
