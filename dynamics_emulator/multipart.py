"""multipart/mixed for `$batch`: parse request parts, write response parts.

Clients differ in line endings (CRLF per RFC 2046, bare LF from hand-written bodies),
so parsing accepts both; responses are always written with CRLF like the real service.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus

from dynamics_emulator.http_types import Headers, Response, bad_request

_BOUNDARY = re.compile(r'boundary="?([^";,\s]+)"?', re.IGNORECASE)
CRLF = "\r\n"


@dataclass
class Part:
    """One inner HTTP request of a batch."""

    method: str
    target: str
    headers: Headers
    body: bytes
    content_id: str | None = None


@dataclass
class ChangeSet:
    parts: list[Part] = field(default_factory=list)


def boundary_of(content_type: str | None) -> str | None:
    m = _BOUNDARY.search(content_type or "")
    return m.group(1) if m else None


def _split(body: bytes, boundary: str) -> list[bytes]:
    """The raw parts between `--boundary` delimiter lines, up to `--boundary--`."""
    text = body.replace(b"\r\n", b"\n")
    delim = b"--" + boundary.encode()
    parts: list[bytes] = []
    current: list[bytes] | None = None
    for line in text.split(b"\n"):
        stripped = line.rstrip()
        if stripped == delim + b"--":
            if current is not None:
                parts.append(b"\n".join(current))
            return parts
        if stripped == delim:
            if current is not None:
                parts.append(b"\n".join(current))
            current = []
        elif current is not None:
            current.append(line)
    raise bad_request("The batch request body is not valid: missing closing boundary.")


def _header_lines(raw: bytes) -> Headers:
    headers = Headers()
    for line in raw.decode("utf-8").split("\n"):
        if ":" in line:
            name, _, value = line.partition(":")
            headers.add(name.strip(), value.strip())
    return headers


def _headers_and_rest(raw: bytes) -> tuple[Headers, bytes]:
    if raw.startswith(b"\n"):
        return Headers(), raw[1:]
    head, _, rest = raw.partition(b"\n\n")
    return _header_lines(head), rest


def _request(raw: bytes) -> Part:
    mime, rest = _headers_and_rest(raw)
    line, _, after = rest.lstrip(b"\n").partition(b"\n")
    bits = line.decode("utf-8").strip().split(" ")
    if len(bits) < 2:
        raise bad_request("The batch request contains an invalid request line.")
    headers, body = _headers_and_rest(after)
    # Tolerate unencoded spaces in the target: everything between method and version.
    target = " ".join(bits[1:-1]) if len(bits) > 2 and bits[-1].startswith("HTTP/") \
        else bits[1]
    return Part(bits[0].upper(), target.replace(" ", "%20"), headers, body.strip(b"\n"),
                mime.get("Content-ID"))


def parse(body: bytes, content_type: str | None) -> list[Part | ChangeSet]:
    boundary = boundary_of(content_type)
    if not boundary or not (content_type or "").lower().startswith("multipart/mixed"):
        raise bad_request("The content type of a batch request must be multipart/mixed with a "
                          "boundary.")
    items: list[Part | ChangeSet] = []
    for raw in _split(body, boundary):
        mime, rest = _headers_and_rest(raw)
        inner = boundary_of(mime.get("Content-Type"))
        if inner and (mime.get("Content-Type") or "").lower().startswith("multipart/mixed"):
            items.append(ChangeSet([_request(p) for p in _split(rest, inner)]))
        else:
            items.append(_request(raw))
    return items


def http_part(resp: Response, content_id: str | None = None) -> str:
    """A full inner HTTP response, framed as an application/http MIME part."""
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id is not None:
        lines.append(f"Content-ID: {content_id}")
    reason = HTTPStatus(resp.status).phrase if resp.status in HTTPStatus._value2member_map_ \
        else ""
    lines += ["", f"HTTP/1.1 {resp.status} {reason}"]
    lines += [f"{k}: {v}" for k, v in resp.headers.items()]
    lines += ["", resp.body.decode("utf-8")]
    return CRLF.join(lines) + CRLF


def write(items: list[str | list[str]]) -> tuple[str, bytes]:
    """Content-Type and body: strings are parts, lists are changeset responses."""
    outer = f"batchresponse_{uuid.uuid4()}"
    out: list[str] = []
    for item in items:
        out.append(f"--{outer}{CRLF}")
        if isinstance(item, str):
            out.append(item)
            continue
        inner = f"changesetresponse_{uuid.uuid4()}"
        out.append(f"Content-Type: multipart/mixed; boundary={inner}{CRLF}{CRLF}")
        out.extend(f"--{inner}{CRLF}{part}" for part in item)
        out.append(f"--{inner}--{CRLF}")
    out.append(f"--{outer}--{CRLF}")
    return f"multipart/mixed; boundary={outer}", "".join(out).encode("utf-8")
