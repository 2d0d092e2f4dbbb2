"""Plain request/response objects and the Dataverse error type.

Everything below the HTTP server works on these objects, so `$batch` (part 2) can
re-dispatch inner requests without a socket.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

# docs/dataverse-webapi.md §URL length: 32,768 characters for a request's URL; requests
# inside a $batch body may have URLs up to 65,536.
MAX_URL_CHARS = 32_768
MAX_BATCH_URL_CHARS = 65_536
# What the front end (HTTP.sys) answers above the limit: an HTML page, not an OData error.
_URL_TOO_LONG = (b"<HTML><HEAD><TITLE>Request URL Too Long</TITLE></HEAD>\r\n"
                 b"<BODY><h2>Request URL Too Long</h2>\r\n"
                 b"<hr><p>HTTP Error 414. The request URL is too long.</p>\r\n"
                 b"</BODY></HTML>\r\n")


class Headers:
    """Case-insensitive header map that keeps repeated headers (WWW-Authenticate)."""

    def __init__(self, items: list[tuple[str, str]] | None = None) -> None:
        self._items: list[tuple[str, str]] = list(items or [])

    def get(self, name: str, default: str | None = None) -> str | None:
        low = name.lower()
        for key, value in self._items:
            if key.lower() == low:
                return value
        return default

    def set(self, name: str, value: str) -> None:
        low = name.lower()
        self._items = [(k, v) for k, v in self._items if k.lower() != low]
        self._items.append((name, value))

    def add(self, name: str, value: str) -> None:
        self._items.append((name, value))

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None


@dataclass
class Request:
    method: str
    path: str  # percent-decoded path without the query string
    query_string: str = ""
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    scheme: str = "https"
    # Per-TCP-connection state (NTLM contexts live here); None for re-dispatched requests.
    connection: dict[str, Any] | None = None
    delay_ms: int = 0  # injected slow-response delay (faults.py)

    @property
    def host(self) -> str:
        return self.headers.get("Host") or "127.0.0.1"

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.host}"

    @property
    def url_length(self) -> int:
        """Characters of the URL as sent (the path re-encoded: only the query stays raw)."""
        path = quote(self.path, safe="/:@!$&'()*+,;=-._~")
        return len(self.origin) + len(path) + (len(self.query_string) + 1 if self.query_string
                                               else 0)

    def query(self) -> list[tuple[str, str]]:
        return parse_qsl(self.query_string, keep_blank_values=True)

    def query_dict(self) -> dict[str, str]:
        return dict(self.query())

    def json(self) -> Any:
        if not self.body:
            return None
        return json.loads(self.body.decode("utf-8"))

    @staticmethod
    def from_target(method: str, target: str, **kwargs: Any) -> Request:
        raw_path, _, qs = target.partition("?")
        return Request(method=method, path=unquote(raw_path), query_string=qs, **kwargs)


@dataclass
class Response:
    status: int = 200
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    @staticmethod
    def json(data: Any, status: int = 200, odata: bool = True) -> Response:
        resp = Response(status=status, body=json.dumps(data).encode("utf-8"))
        ctype = "application/json; odata.metadata=minimal" if odata else "application/json"
        resp.headers.set("Content-Type", ctype)
        if odata:
            resp.headers.set("OData-Version", "4.0")
        return resp

    @staticmethod
    def text(text: str, status: int = 200) -> Response:
        resp = Response(status=status, body=text.encode("utf-8"))
        resp.headers.set("Content-Type", "text/plain")
        return resp

    @staticmethod
    def empty(status: int = 204) -> Response:
        resp = Response(status=status)
        resp.headers.set("OData-Version", "4.0")
        return resp


def url_too_long() -> Response:
    resp = Response(status=414, body=_URL_TOO_LONG)
    resp.headers.set("Content-Type", "text/html; charset=us-ascii")
    return resp


class DataverseError(Exception):
    """An error the Web API reports as `{"error":{"code":…,"message":…}}`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def to_response(self) -> Response:
        return Response.json({"error": {"code": self.code, "message": self.message}}, self.status)


def not_found(entity: str, key: str) -> DataverseError:
    return DataverseError(404, "0x80040217", f"{entity} With Id = {key} Does Not Exist")


def bad_request(message: str, code: str = "0x0") -> DataverseError:
    return DataverseError(400, code, message)


def no_property(name: str, entity: str) -> DataverseError:
    return bad_request(
        f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{entity}'."
    )


def resource_not_found(segment: str) -> DataverseError:
    return DataverseError(404, "0x8006088a", f"Resource not found for the segment '{segment}'.")
