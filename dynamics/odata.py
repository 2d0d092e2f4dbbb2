"""Pure OData helpers: literals, record paths, the `In` query function and its chunking."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence

from dynamics.transport import quote_value

# A GET URL may be 32 KB (docs/dataverse-webapi.md §URL length); stay well under it.
MAX_URL_CHARS = 16_000
MAX_IN_VALUES = 200

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_ENTITY_ID = re.compile(r"\(([0-9a-fA-F-]{36})\)\s*$")


def string_literal(value: str) -> str:
    """OData string literal: single-quoted, single quotes doubled (`O'Bryan` → `'O''Bryan'`)."""
    return "'" + value.replace("'", "''") + "'"


def is_guid(value: str) -> bool:
    return bool(_GUID.match(value))


def record_path(entity_set: str, record_id: str) -> str:
    """`contacts(<guid>)`; anything else is treated as an alternate-key expression."""
    if not is_guid(record_id) and "=" not in record_id:
        raise ValueError(f"not a record id or alternate key: {record_id!r}")
    return f"{entity_set}({record_id})"


def id_from_entity_url(url: str | None) -> str | None:
    """The GUID at the end of an `OData-EntityId` / `Location` header."""
    if not url:
        return None
    match = _ENTITY_ID.search(url)
    return match.group(1).lower() if match else None


def in_filter(attribute: str, values: Sequence[str]) -> str:
    """`Microsoft.Dynamics.CRM.In(PropertyName='x',PropertyValues=["a","b"])`.

    PropertyValues is a JSON-style array: values are double-quoted JSON strings, so an
    apostrophe needs no doubling there (docs/dataverse-webapi.md §Filter, the `O'Bryan` example).
    """
    array = "[" + ",".join(json.dumps(str(v), ensure_ascii=False) for v in values) + "]"
    return (f"Microsoft.Dynamics.CRM.In(PropertyName={string_literal(attribute)},"
            f"PropertyValues={array})")


def _encoded_len(text: str) -> int:
    return len(quote_value(text))


def chunk_in_values(
    values: Iterable[str],
    *,
    fixed_chars: int,
    max_chars: int = MAX_URL_CHARS,
    max_values: int = MAX_IN_VALUES,
) -> Iterator[list[str]]:
    """Split values so each `In` URL stays under `max_chars` once percent-encoded.

    `fixed_chars` is the encoded length of everything else in the URL (base, select,
    the function's own text); each value costs its encoded JSON form plus a comma.
    Duplicates are dropped, order kept.
    """
    budget = max_chars - fixed_chars
    if budget <= 0:
        raise ValueError("URL without values is already longer than the limit")
    chunk: list[str] = []
    used = 0
    seen: set[str] = set()
    for value in values:
        if value in seen:
            continue
        seen.add(value)
        cost = _encoded_len(json.dumps(str(value), ensure_ascii=False)) + 3  # ",": %2C at worst
        if cost > budget:
            raise ValueError("a single value is too long for a GET URL")
        if chunk and (used + cost > budget or len(chunk) >= max_values):
            yield chunk
            chunk, used = [], 0
        chunk.append(value)
        used += cost
    if chunk:
        yield chunk
