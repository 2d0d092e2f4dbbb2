"""Write `$batch` bodies and read multipart responses the way a plain client would."""

from __future__ import annotations

import json
import re
from typing import Any

import requests

CRLF = "\r\n"


def request_part(method: str, url: str, body: Any = None, content_id: str | None = None,
                 headers: dict[str, str] | None = None) -> str:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id:
        lines.append(f"Content-ID: {content_id}")
    lines += ["", f"{method} {url} HTTP/1.1"]
    if body is not None:
        lines.append("Content-Type: application/json; type=entry")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    lines += ["", json.dumps(body) if body is not None else ""]
    return CRLF.join(lines) + CRLF


def body_of(items: list[str | list[str]], boundary: str = "batch_AAA123") -> str:
    out = []
    for n, item in enumerate(items):
        out.append(f"--{boundary}{CRLF}")
        if isinstance(item, str):
            out.append(item)
            continue
        cs = f"changeset_BBB{n}"
        out.append(f'Content-Type: multipart/mixed; boundary="{cs}"{CRLF}{CRLF}')
        out.extend(f"--{cs}{CRLF}{p}" for p in item)
        out.append(f"--{cs}--{CRLF}")
    out.append(f"--{boundary}--{CRLF}")
    return "".join(out)


def post_batch(api: requests.Session, base: str, items: list[str | list[str]],
               prefer: str | None = None) -> requests.Response:
    headers = {"Content-Type": 'multipart/mixed; boundary="batch_AAA123"'}
    if prefer:
        headers["Prefer"] = prefer
    return api.post(base + "$batch", data=body_of(items).encode(), headers=headers, timeout=30)


def _split(text: str, boundary: str) -> list[str]:
    chunks = text.split(f"--{boundary}")
    assert chunks[-1].startswith("--"), "missing closing delimiter"
    return [c.lstrip("\r\n") for c in chunks[1:-1]]


def parse_response(resp: requests.Response) -> list[dict[str, Any]]:
    """Flat list of inner responses: status, headers, json, content_id, in_changeset."""
    boundary = re.search(r"boundary=([^;\s]+)", resp.headers["Content-Type"]).group(1)
    out: list[dict[str, Any]] = []
    for raw in _split(resp.text, boundary):
        head, _, rest = raw.partition("\r\n\r\n")
        inner = re.search(r"boundary=([^;\s]+)", head)
        if inner:
            for sub in _split(rest, inner.group(1)):
                out.append(_one(sub, True))
        else:
            out.append(_one(raw, False))
    return out


def _one(raw: str, in_changeset: bool) -> dict[str, Any]:
    mime, _, rest = raw.partition("\r\n\r\n")
    assert "Content-Type: application/http" in mime
    assert "Content-Transfer-Encoding: binary" in mime
    cid = re.search(r"Content-ID: (\S+)", mime)
    status_line, _, rest = rest.partition("\r\n")
    head, _, body = rest.partition("\r\n\r\n")
    headers = dict(line.split(": ", 1) for line in head.split("\r\n") if ": " in line)
    body = body.strip()
    return {"status": int(status_line.split()[1]), "status_line": status_line,
            "headers": headers, "json": json.loads(body) if body else None,
            "content_id": cid.group(1) if cid else None, "in_changeset": in_changeset}
