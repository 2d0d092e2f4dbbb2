"""A transport that sends reads and answers writes itself: the CRM side of a dry run.

Every write the client would send — single requests, bulk messages, the write parts of a
``$batch`` — is recorded as a ``SimulatedWrite`` and answered the way Dataverse answers a
success (204 with ``OData-EntityId``; ``Ids`` for CreateMultiple), so the code above runs
exactly as in a real sync. Reads, including GET parts of a ``$batch``, go to the CRM.
Simulating at the transport means no write path of the client can slip past it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from dynamics.errors import DynamicsError
from dynamics.transport import Transport, entity_set_of

CRLF = "\r\n"
_REASONS = {200: "OK", 204: "No Content", 404: "Not Found"}
BULK_KINDS = {"CreateMultiple": "create", "UpdateMultiple": "update",
              "UpsertMultiple": "upsert"}


@dataclass
class SimulatedWrite:
    kind: str  # create | update | upsert | delete | action
    entity_set: str
    path: str
    body: dict[str, Any] = field(default_factory=dict)
    action: str = ""


class SimulatedWritesTransport(Transport):
    """``Transport`` whose non-GET requests never leave the process."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.writes: list[SimulatedWrite] = []

    def request(self, method: str, path: str, *, params: Mapping[str, str | int] | None = None,
                json_body: Any = None, data: bytes | None = None,
                headers: Mapping[str, str] | None = None, operations: int = 1,
                accept_multipart_error: bool = False, accept_soap_fault: bool = False,
                label: str | None = None) -> requests.Response:
        if method.upper() == "GET":
            return super().request(method, path, params=params, json_body=json_body, data=data,
                                   headers=headers, operations=operations,
                                   accept_multipart_error=accept_multipart_error)
        if path == "$batch":
            return self._batch(data or b"", dict(headers or {}))
        status, answer_headers, body = self._simulate(method.upper(), path, json_body,
                                                      dict(headers or {}))
        return _response(status, answer_headers, body)

    # -- single writes -------------------------------------------------------------------

    def _simulate(self, method: str, path: str, body: Any,
                  headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        relative = self._relative(path)
        entity_set = entity_set_of(relative)
        payload = body if isinstance(body, dict) else {}
        last = relative.split("?", 1)[0].rsplit("/", 1)[-1]
        message = last.removeprefix("Microsoft.Dynamics.CRM.")
        if method == "POST" and message in BULK_KINDS:
            targets = payload.get("Targets") or []
            for target in targets:
                self.writes.append(SimulatedWrite(BULK_KINDS[message], entity_set, relative,
                                                  dict(target)))
            if message == "CreateMultiple":
                return 200, {}, {"Ids": [_target_id(t) for t in targets]}
            return 204, {}, None
        if method == "DELETE":
            self.writes.append(SimulatedWrite("delete", entity_set, relative))
            return 204, {}, None
        if method in ("PATCH", "PUT") and "(" in relative and "/" not in relative.split("(")[0]:
            kind = "create" if headers.get("If-None-Match") == "*" else (
                "update" if headers.get("If-Match") else "upsert")
            self.writes.append(SimulatedWrite(kind, entity_set, relative, dict(payload)))
            return 204, {"OData-EntityId": self.url(relative.split("?", 1)[0])}, None
        # Entity sets are lower-case logical names; unbound actions are PascalCase.
        if (method == "POST" and "(" not in relative and "/" not in relative
                and not last[:1].isupper()):
            new_id = str(uuid.uuid4())
            self.writes.append(SimulatedWrite("create", entity_set, relative, dict(payload)))
            return 204, {"OData-EntityId": self.url(f"{relative}({new_id})")}, None
        # Actions (AddListMembersList, RemoveMemberList, Merge …) and $ref writes.
        self.writes.append(SimulatedWrite("action", entity_set, relative, dict(payload),
                                          action=message))
        return 204, {}, None

    def _relative(self, path: str) -> str:
        """``contacts(…)`` from a full URL, an absolute path (``$batch`` parts) or itself."""
        if path.startswith(("http://", "https://")):
            path = urlsplit(path).path + (f"?{urlsplit(path).query}" if "?" in path else "")
        api = urlsplit(self.connection.api_url).path
        if path.startswith(api):
            return path[len(api):]
        return path.lstrip("/")

    # -- $batch ----------------------------------------------------------------------------

    def _batch(self, data: bytes, headers: dict[str, str]) -> requests.Response:
        boundary = f"batchresponse_{uuid.uuid4()}"
        out: list[str] = []
        for part in _request_parts(data.decode("utf-8"), headers.get("Content-Type", "")):
            if isinstance(part, list):
                cs = f"changesetresponse_{uuid.uuid4()}"
                inner = [f"--{cs}{CRLF}{self._answer_part(p)}" for p in part]
                out.append(f"--{boundary}{CRLF}Content-Type: multipart/mixed; boundary={cs}"
                           f"{CRLF}{CRLF}{CRLF.join(inner)}{CRLF}--{cs}--")
            else:
                out.append(f"--{boundary}{CRLF}{self._answer_part(part)}")
        text = CRLF.join(out) + f"{CRLF}--{boundary}--{CRLF}"
        return _response(200, {"Content-Type": f"multipart/mixed; boundary={boundary}"},
                         text.encode("utf-8"), raw=True)

    def _answer_part(self, part: _Part) -> str:
        answer_headers: dict[str, str] = {}
        if part.method == "GET":
            try:
                resp = super().request("GET", self._relative(part.target),
                                       headers={k: v for k, v in part.headers.items()
                                                if k.lower() != "content-type"})
                status, body = resp.status_code, resp.text
            except DynamicsError as exc:
                if exc.status is None:
                    raise  # network or sign-in trouble: the whole batch fails, as in reality
                status, body = exc.status, json.dumps({"error": {
                    "code": exc.code or "", "message": exc.crm_message or exc.explanation}})
        else:
            status, answer_headers, payload = self._simulate(part.method, part.target,
                                                             part.body, part.headers)
            body = json.dumps(payload) if payload is not None else ""
        lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
        if part.content_id:
            lines.append(f"Content-ID: {part.content_id}")
        lines += ["", f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}"]
        lines += [f"{k}: {v}" for k, v in answer_headers.items()]
        if body:
            lines.append("Content-Type: application/json; odata.metadata=minimal")
        lines += ["", body]
        return CRLF.join(lines)


@dataclass
class _Part:
    method: str
    target: str
    headers: dict[str, str]
    body: Any
    content_id: str | None


def _request_parts(text: str, content_type: str) -> list[_Part | list[_Part]]:
    """The operations of a ``$batch`` request body, changesets as nested lists."""
    text = text.replace("\r\n", "\n")
    boundary = next((p.strip().partition("=")[2].strip('"') for p in content_type.split(";")
                     if p.strip().lower().startswith("boundary=")), "")
    parts: list[_Part | list[_Part]] = []
    for chunk in text.split(f"--{boundary}")[1:]:
        if chunk.startswith("--"):
            break
        head, _, rest = chunk.lstrip("\n").partition("\n\n")
        outer = _headers(head)
        ctype = outer.get("content-type", "")
        if ctype.startswith("multipart/"):
            nested = _request_parts(rest, ctype)
            parts.append([p for p in nested if isinstance(p, _Part)])
            continue
        request_line, _, after = rest.lstrip("\n").partition("\n")
        method, target = request_line.split()[:2]
        head2, _, raw = after.partition("\n\n")
        raw = raw.strip()
        parts.append(_Part(method.upper(), target, _headers(head2, keep_case=True),
                           json.loads(raw) if raw else None, outer.get("content-id")))
    return parts


def _headers(block: str, *, keep_case: bool = False) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in block.split("\n"):
        if ":" in line:
            key, _, value = line.partition(":")
            out[key.strip() if keep_case else key.strip().lower()] = value.strip()
    return out


def _target_id(target: Mapping[str, Any]) -> str:
    table = str(target.get("@odata.type", "")).rsplit(".", 1)[-1]
    for key in (f"{table}id", "activityid"):
        if target.get(key):
            return str(target[key])
    return str(uuid.uuid4())


def _response(status: int, headers: dict[str, str], body: Any,
              raw: bool = False) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp.headers.update(headers)
    if raw:
        resp._content = body
    elif body is not None:
        resp.headers.setdefault("Content-Type", "application/json; odata.metadata=minimal")
        resp._content = json.dumps(body).encode("utf-8")
    else:
        resp._content = b""
    return resp
