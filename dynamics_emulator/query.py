"""System query options: parsing `$select`, `$expand`, `$orderby`, `$top`, paging cookies."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from dynamics_emulator.http_types import DataverseError, bad_request

MAX_PAGE = 5000
_UNSUPPORTED = ("$skip", "$search", "$format")


@dataclass
class ExpandSpec:
    nav: str
    select: list[str] | None = None
    filter: str | None = None
    orderby: str | None = None
    top: int | None = None
    nested: list[ExpandSpec] = field(default_factory=list)


@dataclass
class QueryOptions:
    select: list[str] | None = None
    filter: str | None = None
    orderby: list[tuple[str, bool]] = field(default_factory=list)  # (property, descending)
    top: int | None = None
    count: bool = False
    expand: list[ExpandSpec] = field(default_factory=list)
    skiptoken: str | None = None
    aliases: dict[str, str] = field(default_factory=dict)


def split_top_level(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    buf: list[str] = []
    depth, in_str = 0, False
    for ch in text:
        if ch == "'":
            in_str = not in_str
        elif not in_str and ch == "(":
            depth += 1
        elif not in_str and ch == ")":
            depth -= 1
        if ch == sep and depth == 0 and not in_str:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    if buf:
        parts.append("".join(buf))
    return [p.strip() for p in parts if p.strip()]


def parse_expand(text: str) -> list[ExpandSpec]:
    specs = []
    for item in split_top_level(text, ","):
        m = re.fullmatch(r"([A-Za-z0-9_]+)(?:\((.*)\))?", item, re.S)
        if not m:
            raise bad_request(f"Term '{item}' is not valid in a $select or $expand expression.")
        spec = ExpandSpec(m.group(1))
        for opt in split_top_level(m.group(2) or "", ";"):
            key, _, value = opt.partition("=")
            if key == "$select":
                spec.select = [s.strip() for s in value.split(",") if s.strip()]
            elif key == "$filter":
                spec.filter = value
            elif key == "$orderby":
                spec.orderby = value
            elif key == "$top":
                spec.top = int(value)
            elif key == "$expand":
                spec.nested = parse_expand(value)
            else:
                raise bad_request(f"The query option '{key}' is not supported inside $expand.")
        specs.append(spec)
    return specs


def parse_orderby(text: str) -> list[tuple[str, bool]]:
    order = []
    for item in text.split(","):
        words = item.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
            raise bad_request(f"Syntax error at position 0 in '{text}'.")
        order.append((words[0], len(words) == 2 and words[1] == "desc"))
    return order


def parse_options(pairs: list[tuple[str, str]]) -> QueryOptions:
    opts = QueryOptions()
    for key, value in pairs:
        if key in _UNSUPPORTED:
            raise DataverseError(400, "0x80060888", f"The query parameter {key} is not supported")
        if key == "$select":
            opts.select = [s.strip() for s in value.split(",") if s.strip()]
        elif key == "$filter":
            opts.filter = value
        elif key == "$orderby":
            opts.orderby = parse_orderby(value)
        elif key == "$top":
            if not value.isdigit():
                raise bad_request(f"Invalid value '{value}' for $top query option found.")
            opts.top = int(value)
        elif key == "$count":
            opts.count = value.lower() == "true"
        elif key == "$expand":
            opts.expand = parse_expand(value)
        elif key == "$skiptoken":
            opts.skiptoken = value
        elif key.startswith("@"):
            opts.aliases[key] = value
        elif key.startswith("$") and key not in ("$apply",):
            raise bad_request(f"The query parameter {key} is not supported")
    return opts


def make_skiptoken(page: int, pk: str, first: str, last: str) -> str:
    """The real cookie shape: an XML element whose pagingcookie is itself URL-encoded."""
    inner = f'<cookie page="{page - 1}"><{pk} last="{{{last.upper()}}}" ' \
            f'first="{{{first.upper()}}}" /></cookie>'
    return f'<cookie pagenumber="{page}" pagingcookie="{quote(quote(inner))}" istracking="False" />'


def read_skiptoken(token: str) -> tuple[int, str | None]:
    """Returns (page number, last primary key of the previous page)."""
    m = re.search(r'pagenumber="(\d+)"', token)
    if not m:
        raise DataverseError(400, "0x80040203", "Invalid paging cookie.")
    cookie = unquote(unquote(token))
    last = re.search(r'last="\{([0-9A-Fa-f-]+)\}"', cookie)
    return int(m.group(1)), last.group(1).lower() if last else None
