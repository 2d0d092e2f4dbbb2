"""`POST …/$batch`: inner requests through the normal dispatch, changesets as savepoints.

Behaviour (docs/dataverse-webapi.md §Batch), with the emulator's choices where Microsoft
documents nothing (README "Unconfirmed behaviour"):
* Without `odata.continue-on-error` the first failure stops processing; the outer status
  is that failure's status and the body holds only the failing part.
* With continue-on-error a failing changeset is rolled back and reported as ONE top-level
  part: the failing request's response (with its Content-ID); the other requests of the
  changeset get no response, since none of them took effect.
* More than 1000 requests, a GET inside a changeset or a nested `$batch` are refused for
  the whole batch before anything runs (OData's batch reader rejects them while reading).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from dynamics_emulator import multipart
from dynamics_emulator.http_types import (
    MAX_BATCH_URL_CHARS,
    DataverseError,
    Request,
    Response,
    bad_request,
)
from dynamics_emulator.multipart import ChangeSet, Part
from dynamics_emulator.orgs import Ctx

MAX_REQUESTS = 1000
Dispatch = Callable[[Ctx, str], Response]
_REF = re.compile(r"^\$([A-Za-z0-9_.-]+)(.*)$")
_API = re.compile(r"api/data/(v[0-9.]+)/?(.*)$")


class _Failed(Exception):
    """Raised inside a changeset's savepoint to roll it back."""


def _ref_error(ref: str) -> DataverseError:
    return bad_request(f"Content-ID Reference: '{ref}' does not exist in the batch context.")


def _check(items: list[Part | ChangeSet]) -> None:
    count = sum(len(i.parts) if isinstance(i, ChangeSet) else 1 for i in items)
    if count > MAX_REQUESTS:
        raise bad_request(f"The current batch message contains too many parts. Only batch "
                          f"messages with a maximum number of '{MAX_REQUESTS}' query operations "
                          f"and change sets are allowed.")
    for item in items:
        parts = item.parts if isinstance(item, ChangeSet) else [item]
        for part in parts:
            if part.target.split("?")[0].rstrip("/").endswith("$batch"):
                raise bad_request("Batch requests cannot be nested.")
            if isinstance(item, ChangeSet) and part.method == "GET":
                raise bad_request(
                    f"An invalid HTTP method '{part.method}' was detected for a request in a "
                    f"change set. Requests in change sets only support the HTTP methods 'POST', "
                    f"'PUT', 'DELETE', and 'PATCH'.")


def _substitute(value: Any, ids: dict[str, str]) -> Any:
    """Replace `$n` in `@odata.bind` / `@odata.id` values (deep inserts included)."""
    if isinstance(value, list):
        return [_substitute(v, ids) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, val in value.items():
        if isinstance(val, str) and (key.endswith("@odata.bind") or key == "@odata.id") \
                and val.startswith("$"):
            m = _REF.match(val)
            if m is None or m.group(1) not in ids:
                raise _ref_error(val)
            val = ids[m.group(1)] + m.group(2)
        out[key] = _substitute(val, ids)
    return out


class BatchRun:
    def __init__(self, ctx: Ctx, dispatch: Dispatch) -> None:
        self.ctx = ctx
        self.dispatch = dispatch

    def _inner_request(self, part: Part, ids: dict[str, str]) -> tuple[Request, str, str]:
        target = part.target
        m = _REF.match(target)
        if m:
            if m.group(1) not in ids:
                raise _ref_error(f"${m.group(1)}")
            target = ids[m.group(1)] + m.group(2)
        split = urlsplit(target)
        path = unquote(split.path)
        api = _API.search(path)
        if api is not None:
            version, rest = api.group(1), api.group(2)
        elif not path.startswith("/"):
            version, rest = self.ctx.api_version, path  # relative to the service root
        else:
            raise bad_request(f"The request URI '{target}' is not valid for this batch.")
        headers = part.headers
        for name in ("Host", "Authorization"):
            value = self.ctx.request.headers.get(name)
            if value is not None:
                headers.set(name, value)
        body = part.body
        if b"\"$" in body and body.strip().startswith(b"{"):
            body = json.dumps(_substitute(json.loads(body), ids)).encode("utf-8")
        req = Request(part.method, f"/{self.ctx.org.name}/api/data/{version}/{rest}",
                      split.query, headers, body, self.ctx.request.scheme)
        return req, version, rest

    def run_part(self, part: Part, ids: dict[str, str]) -> Response:
        try:
            req, version, rest = self._inner_request(part, ids)
            if req.url_length > MAX_BATCH_URL_CHARS:
                # docs/dataverse-webapi.md §URL length (the message users report; status ours).
                raise bad_request("Invalid URI: The Uri string is too long.")
            if version not in self.ctx.org.api_versions:
                raise DataverseError(404, "0x8006088a",
                                     f"Resource not found for the segment '{version}'.")
            inner = Ctx(self.ctx.org, self.ctx.caller, req, version, self.ctx.clock)
            resp = self.dispatch(inner, rest)
        except DataverseError as err:
            resp = err.to_response()
        except (ValueError, UnicodeDecodeError):
            resp = bad_request("The request body of a batch part is not valid JSON.").to_response()
        entity_id = resp.headers.get("OData-EntityId")
        if entity_id and resp.headers.get("Location") is None:
            resp.headers.set("Location", entity_id)
        if resp.status >= 400:
            resp.headers.set("REQ_ID", str(uuid.uuid4()))
        return resp

    def run_changeset(self, cs: ChangeSet) -> tuple[list[tuple[Part, Response]], bool]:
        """All responses, or (only the failing one, True) after rolling the set back."""
        done: list[tuple[Part, Response]] = []
        ids: dict[str, str] = {}
        try:
            with self.ctx.org.store.transaction():
                for part in cs.parts:
                    resp = self.run_part(part, ids)
                    done.append((part, resp))
                    if resp.status >= 400:
                        raise _Failed
                    entity_id = resp.headers.get("OData-EntityId")
                    if part.content_id and entity_id:
                        ids[part.content_id] = entity_id
        except _Failed:
            return done[-1:], True
        return done, False


def handle(ctx: Ctx, dispatch: Dispatch) -> Response:
    if ctx.request.method != "POST":
        raise DataverseError(405, "0x80060888", f"The requested resource does not support "
                                                f"http method '{ctx.request.method}'.")
    items = multipart.parse(ctx.request.body, ctx.request.headers.get("Content-Type"))
    _check(items)
    go_on = "odata.continue-on-error" in ctx.prefer()
    run = BatchRun(ctx, dispatch)
    out: list[str | list[str]] = []
    for item in items:
        if isinstance(item, Part):
            resp = run.run_part(item, {})
            failed = resp.status >= 400
            framed: str | list[str] = multipart.http_part(resp, item.content_id)
        else:
            done, failed = run.run_changeset(item)
            parts = [multipart.http_part(r, p.content_id) for p, r in done]
            framed = parts[0] if failed else parts
            resp = done[-1][1] if done else Response.empty(200)
        if failed and not go_on:
            return _respond([framed], resp.status, go_on)
        out.append(framed)
    return _respond(out, 200, go_on)


def _respond(items: list[str | list[str]], status: int, go_on: bool) -> Response:
    content_type, body = multipart.write(items)
    resp = Response(status=status, body=body)
    resp.headers.set("Content-Type", content_type)
    resp.headers.set("OData-Version", "4.0")
    if go_on:
        resp.headers.set("Preference-Applied", "odata.continue-on-error")
    return resp
