"""`$batch` bodies: multipart/mixed encoding with changesets, and decoding of the answer.

Pure functions, so the wire format is tested without a server. A changeset (here
`Transaction`) is atomic; GETs must stay outside changesets (docs/dataverse-webapi.md §Batch).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dynamics.errors import DynamicsError, NotExecuted, RolledBack, error_from_response
from dynamics.odata import id_from_entity_url

MAX_BATCH_OPERATIONS = 1000
CRLF = "\r\n"


@dataclass
class BatchOperation:
    method: str
    path: str  # relative to the API root (`contacts(…)`), or a `$<content-id>` reference
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content_id: str | None = None


@dataclass
class Transaction:
    """A changeset: all operations succeed or none does."""

    operations: list[BatchOperation]

    def __post_init__(self) -> None:
        if any(op.method.upper() == "GET" for op in self.operations):
            raise ValueError("GET is not allowed inside a changeset")


BatchItem = BatchOperation | Transaction


@dataclass
class OperationResult:
    operation: BatchOperation
    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    error: DynamicsError | None = None
    # A create-only write met the record it was to make: an earlier attempt whose answer was
    # lost made it. Success, but the caller never saw that record's answer (N1).
    already_existed: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and self.status < 400

    @property
    def entity_id(self) -> str | None:
        h = {k.lower(): v for k, v in self.headers.items()}
        return id_from_entity_url(h.get("odata-entityid") or h.get("location"))


@dataclass
class HttpPart:
    status: int
    headers: dict[str, str]
    body: Any
    content_id: str | None


def item_size(item: BatchItem) -> int:
    return len(item.operations) if isinstance(item, Transaction) else 1


def split_batches(items: Sequence[BatchItem],
                  limit: int = MAX_BATCH_OPERATIONS) -> list[list[BatchItem]]:
    """Group items into batches of at most `limit` requests, never splitting a changeset."""
    batches: list[list[BatchItem]] = []
    current: list[BatchItem] = []
    size = 0
    for item in items:
        n = item_size(item)
        if n > limit:
            raise ValueError(f"a changeset of {n} operations exceeds the batch limit of {limit}")
        if current and size + n > limit:
            batches.append(current)
            current, size = [], 0
        current.append(item)
        size += n
    if current:
        batches.append(current)
    return batches


def _request_part(op: BatchOperation, api_path: str, content_id: str | None) -> str:
    target = op.path if op.path.startswith("$") else api_path + op.path.lstrip("/")
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id:
        lines.append(f"Content-ID: {content_id}")
    lines += ["", f"{op.method.upper()} {target} HTTP/1.1"]
    headers = dict(op.headers)
    if op.body is not None:
        headers.setdefault("Content-Type", "application/json; type=entry")
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append("")
    lines.append(json.dumps(op.body) if op.body is not None else "")
    return CRLF.join(lines)


def encode_batch(items: Sequence[BatchItem], api_path: str,
                 boundary: str | None = None) -> tuple[bytes, str]:
    """(body, Content-Type header) for one `$batch` request."""
    boundary = boundary or f"batch_{uuid.uuid4()}"
    out: list[str] = []
    next_id = 1
    for item in items:
        if isinstance(item, Transaction):
            cs = f"changeset_{uuid.uuid4()}"
            inner = []
            for op in item.operations:
                if op.content_id is None:
                    op.content_id = str(next_id)
                next_id += 1
                inner.append(f"--{cs}{CRLF}{_request_part(op, api_path, op.content_id)}")
            out.append(f"--{boundary}{CRLF}Content-Type: multipart/mixed; boundary={cs}{CRLF}"
                       f"{CRLF}{CRLF.join(inner)}{CRLF}--{cs}--")
        else:
            out.append(f"--{boundary}{CRLF}{_request_part(item, api_path, None)}")
    body = CRLF.join(out) + f"{CRLF}--{boundary}--{CRLF}"
    return body.encode("utf-8"), f"multipart/mixed; boundary={boundary}"


def _boundary(content_type: str) -> str:
    for param in content_type.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.lower() == "boundary":
            return value.strip().strip('"')
    raise ValueError("multipart answer without a boundary")


def _split_headers(block: str) -> tuple[dict[str, str], str]:
    head, _, rest = block.partition("\n\n")
    headers: dict[str, str] = {}
    for line in head.split("\n"):
        if ":" in line:
            k, _, v = line.partition(":")
            headers[k.strip()] = v.strip()
    return headers, rest


def _parse_http(block: str, content_id: str | None) -> HttpPart:
    status_line, _, rest = block.lstrip("\n").partition("\n")
    try:
        status = int(status_line.split()[1])
    except (IndexError, ValueError):
        raise ValueError(f"bad status line in batch answer: {status_line[:80]!r}") from None
    headers, raw = _split_headers(rest)
    raw = raw.strip()
    body: Any = None
    if raw:
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw
    return HttpPart(status, headers, body, content_id or headers.get("Content-ID"))


def decode_multipart(content_type: str, payload: bytes | str) -> list[HttpPart | list[HttpPart]]:
    """Top-level parts of a batch answer; a changeset answer is a nested list."""
    text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
    text = text.replace("\r\n", "\n")
    delimiter = "--" + _boundary(content_type)
    parts: list[HttpPart | list[HttpPart]] = []
    for chunk in text.split(delimiter)[1:]:
        if chunk.startswith("--"):
            break  # closing delimiter
        headers, content = _split_headers(chunk.lstrip(" \t").removeprefix("\n"))
        lower = {k.lower(): v for k, v in headers.items()}
        ctype = lower.get("content-type", "")
        if ctype.startswith("multipart/"):
            nested = decode_multipart(ctype, content)
            parts.append([p for p in nested if isinstance(p, HttpPart)])
        else:
            parts.append(_parse_http(content, lower.get("content-id")))
    return parts


def _result(op: BatchOperation, part: HttpPart) -> OperationResult:
    error = None
    if part.status >= 400:
        error = error_from_response(part.status, part.body if isinstance(part.body, dict) else
                                    str(part.body or ""), request=f"{op.method} {op.path}")
    return OperationResult(op, part.status, part.headers, part.body, error)


def match_results(items: Sequence[BatchItem],
                  parts: Sequence[HttpPart | list[HttpPart]]) -> list[OperationResult]:
    """One result per operation, in request order, whatever the server left out."""
    results: list[OperationResult] = []
    remaining = list(parts)
    for item in items:
        part = remaining.pop(0) if remaining else None
        if isinstance(item, BatchOperation):
            if isinstance(part, list):
                part = part[0] if part else None
            results.append(_result(item, part) if part else
                           OperationResult(item, None, error=NotExecuted()))
            continue
        group = part if isinstance(part, list) else ([part] if part else [])
        results.extend(_changeset_results(item, group))
    return results


def _changeset_results(item: Transaction, group: list[HttpPart]) -> list[OperationResult]:
    by_id = {p.content_id: p for p in group if p.content_id}
    ops = item.operations
    failures = [p for p in group if p.status >= 400]
    if not failures:
        out = []
        for i, op in enumerate(ops):
            found = by_id.get(op.content_id or "") or (
                group[i] if not by_id and i < len(group) else None)
            out.append(_result(op, found) if found else OperationResult(op, None,
                                                                        error=NotExecuted()))
        return out
    # Atomic: one failure rolls back every other operation of the changeset.
    out = [_result(op, by_id[op.content_id]) if op.content_id in by_id and
           by_id[op.content_id].status >= 400 else OperationResult(op, None, error=RolledBack())
           for op in ops]
    if not any(r.status for r in out):
        # The failure names no Content-ID: pin it on the first operation so it is reported.
        out[0] = _result(ops[0], failures[0])
    return out
