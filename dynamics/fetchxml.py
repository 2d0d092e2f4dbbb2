"""Evaluating a stored FetchXML query (a dynamic marketing list's ``query``) through the
Web API: ``GET <entity set>?fetchXml=…``, paged with the paging cookie
(docs/dataverse-webapi.md §FetchXML).

``member_fetch`` rewrites the query so it returns exactly the columns the caller needs —
its own ``attribute``/``all-attributes``/``order`` elements go, its filters and
link-entities stay, so it still selects the same rows. ``fetch_pages`` then reads it page
by page: one request per page.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import unquote

from dynamics.errors import DynamicsError
from dynamics.transport import Transport

PAGE_SIZE = 5000  # the largest FetchXML page Dataverse returns
COOKIE = "Microsoft.Dynamics.CRM.fetchxmlpagingcookie"
MORE = "Microsoft.Dynamics.CRM.morerecords"
PAGING_PREFER = f'odata.include-annotations="{COOKIE},{MORE}"'
# Attributes of <fetch> that belong to paging; ours replace whatever the query had.
_PAGING_ATTRS = ("count", "page", "paging-cookie", "returntotalrecordcount")
_DECLARATION = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


class InvalidFetch(ValueError):
    """The stored query cannot be used as a member query. ``kind`` names why (``not_xml``,
    ``no_entity``, ``wrong_entity``, ``aggregate``) so callers can word it for people."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


def attribute_name(column: str) -> str:
    """The FetchXML attribute of a Web API column: ``_parentcustomerid_value`` →
    ``parentcustomerid`` (results name lookups the Web API way again)."""
    if column.startswith("_") and column.endswith("_value"):
        return column[1:-len("_value")]
    return column


def member_fetch(text: str, entity: str, columns: Sequence[str], *,
                 page_size: int = PAGE_SIZE) -> ET.Element:
    """The query ``text`` reading ``columns`` (Web API names) of ``entity``, ordered by its
    primary key (stable pages), ``page_size`` rows a page."""
    fetch = _parse(text)
    roots = fetch.findall("entity")
    if len(roots) != 1:
        raise InvalidFetch("no_entity")
    root = roots[0]
    if root.get("name") != entity:
        raise InvalidFetch("wrong_entity", root.get("name") or "")
    if (fetch.get("aggregate") or "").strip().lower() in ("true", "1"):
        raise InvalidFetch("aggregate")
    _strip_columns(root)
    for column in dict.fromkeys([f"{entity}id", *columns]):
        ET.SubElement(root, "attribute", {"name": attribute_name(column)})
    ET.SubElement(root, "order", {"attribute": f"{entity}id"})
    for name in _PAGING_ATTRS:
        fetch.attrib.pop(name, None)
    if fetch.get("top") is None:  # top excludes count/page: one page of at most top rows
        fetch.set("count", str(page_size))
    return fetch


def _parse(text: str) -> ET.Element:
    if _DECLARATION.search(text or ""):
        # With no DTD there is no entity expansion and no external reference to resolve.
        raise InvalidFetch("not_xml", "DTDs and entity declarations are not allowed")
    try:
        fetch = ET.fromstring(text or "")  # noqa: S314 (declarations refused above)
    except ET.ParseError as exc:
        raise InvalidFetch("not_xml", str(exc)) from None
    if fetch.tag != "fetch":
        raise InvalidFetch("not_xml", f"the root element is '{fetch.tag}', not 'fetch'")
    return fetch


def _strip_columns(el: ET.Element) -> None:
    """Drop returned columns and orders here and in nested link-entities; filters (and the
    link-entities that carry them) stay, so the same rows match."""
    for child in list(el):
        if child.tag in ("attribute", "all-attributes", "order"):
            el.remove(child)
        elif child.tag == "link-entity":
            _strip_columns(child)


def fetch_pages(transport: Transport, entity_set: str,
                fetch: ET.Element) -> Iterator[list[dict[str, Any]]]:
    """Each page's rows. The next page is asked for with the paging cookie of the last
    answer (Dataverse needs it past 5,000 rows); an answer without one (distinct queries)
    falls back to the page number."""
    headers = {"Prefer": PAGING_PREFER}
    page = 1
    while True:
        fetch.set("page", str(page))
        body = transport.get_json(entity_set, {"fetchXml": ET.tostring(fetch, "unicode")},
                                  headers)
        rows = body.get("value") if isinstance(body, dict) else None
        if not isinstance(rows, list):
            raise DynamicsError("The CRM sent a collection without 'value'.",
                                request=f"GET {entity_set}")
        yield rows
        assert isinstance(body, dict)
        if not rows or not body.get(f"@{MORE}"):
            return
        page, cookie = _next(body.get(f"@{COOKIE}"), page)
        if cookie is None:
            fetch.attrib.pop("paging-cookie", None)
        else:
            fetch.set("paging-cookie", cookie)


def _next(annotation: Any, page: int) -> tuple[int, str | None]:
    """(next page number, inner paging cookie) from the cookie annotation; without one, the
    following page number and no cookie."""
    if not isinstance(annotation, str) or "<!" in annotation:
        return page + 1, None
    try:
        outer = ET.fromstring(annotation)  # noqa: S314 (no declarations, checked above)
    except ET.ParseError:
        return page + 1, None
    number = outer.get("pagenumber") or ""
    inner = outer.get("pagingcookie")
    if not number.isdigit() or int(number) <= page or not inner:
        return page + 1, None
    # The inner cookie is URL-encoded twice in the annotation (docs §FetchXML, Paging).
    return int(number), unquote(unquote(inner))
