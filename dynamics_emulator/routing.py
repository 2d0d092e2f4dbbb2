"""Splitting a Web API path into segments and parsing record keys."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from dynamics_emulator.filters import to_storage
from dynamics_emulator.http_types import DataverseError, bad_request
from dynamics_emulator.query import split_top_level
from dynamics_emulator.schema.model import Entity

_SEG = re.compile(r"^([^()]+)(?:\((.*)\))?$", re.S)


@dataclass
class Segment:
    name: str
    key: str | None  # raw text inside the parentheses, None when absent


def split_path(path: str) -> list[Segment]:
    segs = []
    for part in split_top_level(path, "/"):  # a "/" inside a key's quotes is not a separator
        m = _SEG.match(part)
        if not m:
            raise bad_request(f"Bad Request - Error in query syntax: '{part}'.")
        segs.append(Segment(m.group(1), m.group(2)))
    return segs


def _key_value(raw: str) -> str | int:
    raw = raw.strip()
    if raw.startswith("'") and raw.endswith("'"):
        return raw[1:-1].replace("''", "'")
    if raw.isdigit():
        return int(raw)
    return raw


def parse_key(ent: Entity, raw: str) -> tuple[str | None, dict[str, Any] | None]:
    """(guid, None) for a primary key, (None, {col: value}) for an alternate key."""
    raw = raw.strip()
    if "=" not in raw:
        try:
            return str(uuid.UUID(raw.strip("{}"))), None
        except ValueError:
            raise bad_request(f"Bad Request - Error in query syntax: '{raw}' is not a valid "
                              f"key for '{ent.set_name}'.") from None
    pairs: dict[str, Any] = {}
    for item in re.split(r",(?=(?:[^']*'[^']*')*[^']*$)", raw):
        name, _, value = item.partition("=")
        pairs[name.strip()] = _key_value(value)
    if list(pairs) == [ent.primary_id] and ent.name not in ("systemuser", "team"):
        return parse_key(ent, str(pairs[ent.primary_id]))
    for cols in ent.keys.values():
        if sorted(cols) == sorted(pairs):
            return None, {c: to_storage(ent.attrs[c], v) for c, v in pairs.items()}
    raise DataverseError(
        400, "0x80060888",
        f"The key in the request URI is not valid for resource 'Microsoft.Dynamics.CRM."
        f"{ent.name}'. Ensure that the names and number of key properties match the declared or "
        f"alternate key properties for the resource 'Microsoft.Dynamics.CRM.{ent.name}'.")
