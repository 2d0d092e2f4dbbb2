"""Text pre-pass for `$filter`: parameter aliases and Dataverse `[...]` array literals.

odata-query's grammar knows neither `@p1` aliases nor the JSON-style arrays that the
Microsoft.Dynamics.CRM query functions take, so both are rewritten before parsing:
aliases are substituted, arrays become placeholder string literals.
"""

from __future__ import annotations

import json
import re

from dynamics_emulator.http_types import bad_request

ARRAY_MARK = "__mwxarr{}__"
_ALIAS = re.compile(r"@[A-Za-z_][A-Za-z0-9_]*")


def _segments(text: str) -> list[tuple[bool, str]]:
    """Split into (is_string_literal, chunk) respecting '' escapes."""
    parts: list[tuple[bool, str]] = []
    i, start, n = 0, 0, len(text)
    while i < n:
        if text[i] == '"':
            # JSON strings only occur inside Dataverse arrays; they may hold apostrophes.
            parts.append((False, text[start:i]))
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            parts.append((True, text[i:j + 1]))
            i = start = j + 1
            continue
        if text[i] == "'":
            parts.append((False, text[start:i]))
            j = i + 1
            while j < n:
                if text[j] == "'" and j + 1 < n and text[j + 1] == "'":
                    j += 2
                    continue
                if text[j] == "'":
                    break
                j += 1
            if j >= n:
                raise bad_request(f"There is an unterminated literal at position {i} in '{text}'.")
            parts.append((True, text[i:j + 1]))
            i = start = j + 1
            continue
        i += 1
    parts.append((False, text[start:]))
    return parts


def substitute_aliases(text: str, aliases: dict[str, str]) -> str:
    out = []
    for is_lit, chunk in _segments(text):
        if is_lit:
            out.append(chunk)
            continue
        # An unassigned alias is null (OData rule, docs/dataverse-webapi.md §Query options).
        out.append(_ALIAS.sub(lambda m: aliases.get(m.group(0), "null"), chunk))
    return "".join(out)


_ARRAY_COMMA = ("Invalid JSON. A comma character ',' was expected in scope 'Array'. Every two "
                "elements in an array and properties of an object must be separated by commas.")


def _parse_array(body: str) -> list[str | int | float]:
    """Items are JSON values: "a", numbers, and (as Dataverse's JSON reader allows) 'a'.

    A single-quoted item has no escape: `'O''Brian'` ends after `O` and the next `'`
    is an error, as Microsoft documents (docs/dataverse-webapi.md §Filter).
    """
    items: list[str | int | float] = []
    i, n = 0, len(body)
    expect_value = True
    while i < n:
        ch = body[i]
        if ch == " ":
            i += 1
        elif ch == ",":
            if expect_value:
                raise bad_request(_ARRAY_COMMA)
            expect_value = True
            i += 1
        elif not expect_value:
            raise bad_request(_ARRAY_COMMA)
        elif ch == "'":
            end = body.find("'", i + 1)
            if end == -1:
                raise bad_request("Invalid JSON. Unexpected end of input reached in scope 'Array'.")
            items.append(body[i + 1:end])
            i, expect_value = end + 1, False
        elif ch == '"':
            try:
                value, i = json.JSONDecoder().raw_decode(body, i)
            except ValueError:
                raise bad_request("Invalid JSON. Unexpected end of input reached in scope "
                                  "'Array'.") from None
            items.append(value)
            expect_value = False
        else:
            j = i
            while j < n and body[j] not in ", ":
                j += 1
            token = body[i:j]
            try:
                items.append(int(token))
            except ValueError:
                try:
                    items.append(float(token))
                except ValueError:
                    raise bad_request(_ARRAY_COMMA) from None
            i, expect_value = j, False
    return items


def extract_arrays(text: str) -> tuple[str, list[list[str | int | float]]]:
    arrays: list[list[str | int | float]] = []
    out: list[str] = []
    pending = ""  # array text can span string literals: ['a','b']
    depth = 0
    for is_lit, chunk in _segments(text):
        if depth:
            pending += chunk
            if not is_lit and "]" in chunk:
                body, _, rest = pending.partition("]")
                arrays.append(_parse_array(body))
                out.append(f"'{ARRAY_MARK.format(len(arrays) - 1)}'")
                depth = 0
                pending = ""
                out.append(rest)
            continue
        if not is_lit and "[" in chunk:
            before, _, after = chunk.partition("[")
            out.append(before)
            if "]" in after:
                body, _, rest = after.partition("]")
                arrays.append(_parse_array(body))
                out.append(f"'{ARRAY_MARK.format(len(arrays) - 1)}'")
                out.append(rest)
            else:
                depth = 1
                pending = after
            continue
        out.append(chunk)
    if depth:
        raise bad_request("Invalid JSON. Unexpected end of input reached in scope 'Array'.")
    return "".join(out), arrays


def array_index(value: str) -> int | None:
    m = re.fullmatch(r"__mwxarr(\d+)__", value)
    return int(m.group(1)) if m else None
