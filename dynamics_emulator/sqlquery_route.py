"""`GET <entityset>?sql=…`: the Web API's SQL query parameter, translated to FetchXML by
``sqlquery`` and run and paged like FetchXML."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from dynamics_emulator import fetchxml
from dynamics_emulator.http_types import Response
from dynamics_emulator.orgs import Ctx
from dynamics_emulator.reads import page_size, with_preferences_applied
from dynamics_emulator.schema.model import Entity
from dynamics_emulator.serialize import Annotations
from dynamics_emulator.sqlquery import translate, unsupported


def collection(ctx: Ctx, ent: Entity, text: str, path: str) -> Response:
    """`GET <entityset>?sql=…`: the FetchXML equivalent, paged with `odata.maxpagesize`."""
    ctx.require("Read", ent)
    fetch = translate(text, ctx.org.schema)
    entity = fetch.find("entity")
    assert entity is not None
    if entity.get("name") != ent.name:
        raise unsupported(f"the table in FROM ('{entity.get('name')}') must be the table of the "
                          f"entity set '{ent.set_name}'.")
    token = ctx.request.query_dict().get("$skiptoken")
    if token is not None:
        page, _ = fetchxml.read_cookie(token)
        fetch.set("page", str(page))
        fetch.attrib.pop("top", None)
    notes = Annotations(ctx.prefer().get("odata.include-annotations"))
    size = page_size(ctx)
    result = fetchxml.run(ctx, ent, fetch, notes, page_size=size if "top" not in fetch.attrib
                          else None)
    body = result.body
    body.pop(f"@{fetchxml.COOKIE}", None)
    body.pop(f"@{fetchxml.MORE}", None)
    head: dict[str, Any] = {"@odata.context": body.pop("@odata.context")}
    if notes.wants(fetchxml.TOTAL):
        head[f"@{fetchxml.TOTAL}"] = -1
    if notes.wants(fetchxml.TOTAL_EXCEEDED):
        head[f"@{fetchxml.TOTAL_EXCEEDED}"] = False
    head.update(body)
    if result.more:
        cookie = fetchxml.paging_cookie(ent, result.page, result.rows) if result.cookie_ok else \
            f'<cookie pagenumber="{result.page + 1}" istracking="False" />'
        pairs = [(k, v) for k, v in ctx.request.query() if k != "$skiptoken"]
        pairs.append(("$skiptoken", cookie))
        head["@odata.nextLink"] = (f"{ctx.base_url}{path}?"
                                   f"{urlencode(pairs, quote_via=quote, safe='$@,()=:')}")
    return with_preferences_applied(Response.json(head), ctx, size, notes)
