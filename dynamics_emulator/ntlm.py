"""NTLM for on-premise organisations, one acceptor context per TCP connection.

pyspnego's NTLM acceptor reads users from the file named by `NTLM_USER_FILE`
(`DOMAIN:USER:PASSWORD` lines); the emulator writes that file at start.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import spnego
from spnego.exceptions import SpnegoError

from dynamics_emulator.http_types import Request, Response


def install_user_file(path: Path, users: list[tuple[str, str, str]]) -> None:
    path.write_text("".join(f"{d}:{u}:{p}\n" for d, u, p in users), encoding="utf-8")
    # Process-wide by pyspnego's design; every emulator instance writes the same users.
    os.environ["NTLM_USER_FILE"] = str(path)


def challenge(extra: str | None = None) -> Response:
    resp = Response(status=401)
    resp.headers.set("Content-Type", "text/html")
    if extra:
        resp.headers.add("WWW-Authenticate", extra)
    else:
        resp.headers.add("WWW-Authenticate", "Negotiate")
        resp.headers.add("WWW-Authenticate", "NTLM")
    resp.body = b"401 - Unauthorized: Access is denied due to invalid credentials."
    return resp


def claims_challenge(adfs_host: str) -> Response:
    """What a claims/IFD deployment answers: a bearer challenge naming its AD FS, never
    Windows sign-in."""
    return challenge(f"Bearer authorization_uri=https://{adfs_host}/adfs/oauth2/authorize")


def authenticate(req: Request) -> tuple[str | None, Response | None]:
    """(DOMAIN\\user, None) when the connection is authenticated, else (None, 401 response)."""
    conn: dict[str, Any] = req.connection if req.connection is not None else {}
    if conn.get("ntlm_user"):
        return str(conn["ntlm_user"]), None
    header = req.headers.get("Authorization") or ""
    scheme, _, data = header.partition(" ")
    if scheme not in ("NTLM", "Negotiate") or not data:
        return None, challenge()
    try:
        token = base64.b64decode(data)
        if not token.startswith(b"NTLMSSP\x00"):
            return None, challenge()
        if token[8] == 1 or "ntlm_ctx" not in conn:
            conn["ntlm_ctx"] = spnego.server(protocol="ntlm")
        ctx = conn["ntlm_ctx"]
        out = ctx.step(token)
    except (SpnegoError, ValueError, IndexError):
        conn.pop("ntlm_ctx", None)
        return None, challenge()
    if not ctx.complete:
        return None, challenge(f"{scheme} {base64.b64encode(out or b'').decode()}")
    user = str(ctx.client_principal)
    conn["ntlm_user"] = user
    conn.pop("ntlm_ctx", None)
    return user, None
