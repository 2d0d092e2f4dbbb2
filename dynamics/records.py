"""Reading and writing single records and paged queries; the base of the client's API."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from dynamics.errors import DuplicateRecord, PreconditionFailed, UnexpectedAnswer
from dynamics.odata import chunk_in_values, id_from_entity_url, in_filter, record_path
from dynamics.transport import Transport, build_query, entity_set_of, parse_json

MAX_PAGE_SIZE = 5000


def _options(select: Sequence[str] | None = None, filter: str | None = None,
             orderby: str | None = None, top: int | None = None,
             expand: str | None = None) -> dict[str, str | int]:
    params: dict[str, str | int] = {}
    if select:
        params["$select"] = ",".join(select)
    if filter:
        params["$filter"] = filter
    if orderby:
        params["$orderby"] = orderby
    if top is not None:
        params["$top"] = top
    if expand:
        params["$expand"] = expand
    return params


def _expect_dict(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise UnexpectedAnswer("The CRM sent an answer of an unexpected shape.", request=what)
    return data


class RecordsApi:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    # -- reads -----------------------------------------------------------------------------

    def get(self, entity_set: str, id: str, select: Sequence[str] | None = None,
            expand: str | None = None) -> dict[str, Any]:
        data = self.transport.get_json(record_path(entity_set, id),
                                       _options(select=select, expand=expand))
        return _expect_dict(data, f"GET {entity_set}")

    def query_pages(self, entity_set: str, *, select: Sequence[str] | None = None,
                    filter: str | None = None, orderby: str | None = None,
                    top: int | None = None, expand: str | None = None,
                    page_size: int | None = None,
                    prefer: Sequence[str] = ()) -> Iterator[dict[str, Any]]:
        """Yield each page's JSON; next pages come from `@odata.nextLink`, used verbatim."""
        preferences = list(prefer)
        if page_size is not None:
            if top is not None:
                raise ValueError("don't combine top and page_size (docs disagree which wins)")
            preferences.append(f"odata.maxpagesize={min(page_size, MAX_PAGE_SIZE)}")
        headers = {"Prefer": ",".join(preferences)} if preferences else {}
        url: str | None = entity_set
        params: dict[str, str | int] | None = _options(select, filter, orderby, top, expand)
        while url:
            page = _expect_dict(self.transport.get_json(url, params, headers), f"GET {entity_set}")
            yield page
            # Same Prefer on every page (docs/dataverse-webapi.md §Paging); stop when no nextLink.
            url, params = page.get("@odata.nextLink"), None

    def query(self, entity_set: str, *, select: Sequence[str] | None = None,
              filter: str | None = None, orderby: str | None = None, top: int | None = None,
              expand: str | None = None,
              page_size: int | None = None) -> Iterator[dict[str, Any]]:
        """All matching rows, page after page."""
        for page in self.query_pages(entity_set, select=select, filter=filter, orderby=orderby,
                                     top=top, expand=expand, page_size=page_size):
            rows = page.get("value")
            if not isinstance(rows, list):
                raise UnexpectedAnswer("The CRM sent a collection without 'value'.",
                                    request=f"GET {entity_set}", key="collection_without_value")
            yield from rows

    def lookup_in(self, entity_set: str, attribute: str, values: Iterable[str],
                  select: Sequence[str] | None = None, *, extra_filter: str | None = None,
                  max_values: int | None = None) -> Iterator[dict[str, Any]]:
        """Rows whose `attribute` is one of `values`, in as few URLs as the limits allow."""
        empty = in_filter(attribute, [])
        if extra_filter:
            empty = f"({extra_filter}) and {empty}"
        fixed = len(self.transport.url(entity_set)) + 1 + len(
            build_query(_options(select=select, filter=empty)))
        chunks = chunk_in_values(values, fixed_chars=fixed,
                                 **({"max_values": max_values} if max_values else {}))
        for chunk in chunks:
            flt = in_filter(attribute, chunk)
            if extra_filter:
                flt = f"({extra_filter}) and {flt}"
            yield from self.query(entity_set, select=select, filter=flt)

    # -- writes ----------------------------------------------------------------------------

    def create(self, entity_set: str, data: dict[str, Any], id: str | None = None) -> str:
        """Create a record and return its id.

        With a client-chosen `id` the create is a PATCH with `If-None-Match: *` (create
        only): a retried create after a lost answer then meets the record it already made
        (412) instead of making a second one, and that counts as success.
        """
        if id is not None:
            try:
                self.transport.request("PATCH", record_path(entity_set, id), json_body=data,
                                       headers={"If-None-Match": "*"})
            except (PreconditionFailed, DuplicateRecord) as exc:
                # 412 = the record with this id exists: an earlier attempt created it.
                if exc.status != 412:
                    raise
            return id.lower()
        resp = self.transport.request("POST", entity_set, json_body=data)
        new_id = id_from_entity_url(resp.headers.get("OData-EntityId")
                                    or resp.headers.get("Location"))
        if new_id is None and resp.content:
            body = parse_json(resp, f"POST {entity_set}")
            new_id = next((str(v) for k, v in (body or {}).items()
                           if k.endswith("id") and isinstance(v, str) and len(v) == 36), None)
        if new_id is None:
            raise UnexpectedAnswer("The CRM created a record but did not say its id.",
                                request=f"POST {entity_set}", key="no_record_id")
        return new_id

    def update(self, entity_set: str, id: str, data: dict[str, Any],
               if_match: str | None = "*") -> None:
        """PATCH; `If-Match: *` (default) makes a deleted row a 404, never a resurrection."""
        headers = {"If-Match": if_match} if if_match else {}
        self.transport.request("PATCH", record_path(entity_set, id), json_body=data,
                               headers=headers)

    def upsert(self, entity_set: str, id: str, data: dict[str, Any]) -> str | None:
        """Create or update by id or alternate key (`accountnumber='A1'`)."""
        resp = self.transport.request("PATCH", record_path(entity_set, id), json_body=data)
        return id_from_entity_url(resp.headers.get("OData-EntityId")) or (
            id.lower() if "=" not in id else None)

    def delete(self, entity_set: str, id: str, if_match: str | None = None) -> None:
        headers = {"If-Match": if_match} if if_match else {}
        self.transport.request("DELETE", record_path(entity_set, id), headers=headers)

    def set_state(self, entity_set: str, id: str, statecode: int, statuscode: int) -> None:
        """Always both: alone, a statecode gets its default status
        (docs/dataverse-webapi.md §State)."""
        self.update(entity_set, id, {"statecode": statecode, "statuscode": statuscode})

    # -- functions and actions ---------------------------------------------------------------

    def call_function(self, path: str) -> Any:
        return self.transport.get_json(path)

    def call_action(self, path: str, body: dict[str, Any] | None = None) -> Any:
        resp = self.transport.request("POST", path, json_body=body if body is not None else {})
        return parse_json(resp, f"POST {entity_set_of(path)}")
