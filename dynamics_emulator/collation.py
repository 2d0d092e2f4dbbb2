"""The organisation's collation for text columns (docs/dataverse-webapi.md §Collation).

Dataverse stores text in SQL Server with a collation chosen from the organisation's base
language: German and English organisations get `Latin1_General_CI_AI`, case- and
accent-insensitive, so `MÜLLER`, `Müller` and `Muller` are the same value for `eq`,
`in`, `startswith`, ordering and unique keys. SQLite's NOCASE folds ASCII only, so the
store declares String/Memo columns `COLLATE dataverse` and each connection registers
that collation (and a `like()` with T-SQL wildcards) for its organisation's setting.

Settings: `Latin1_General_CI_AI` (default), `..._CI_AS` (accent-sensitive, e.g. Finnish
or Swedish organisations) and `..._CS_AS` (binary-like, for tests). Only the suffix
counts. An index on a `COLLATE dataverse` column orders by the same rule, so `=` and
`IN` on an indexed column stay index searches.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from collections.abc import Callable
from functools import lru_cache

NAME = "dataverse"  # the collation name the table definitions use
DEFAULT = "Latin1_General_CI_AI"
MODES = ("CI_AI", "CI_AS", "CS_AS")


def mode_of(collation: str) -> str:
    mode = collation.upper()[-5:]
    if mode not in MODES:
        raise ValueError(f"unsupported collation {collation!r}; ends with one of {MODES}")
    return mode


@lru_cache(maxsize=65536)
def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _fold_ci_ai(text: str) -> str:
    return text.lower() if text.isascii() else _strip_accents(text)


def _fold_ci_as(text: str) -> str:
    return text.lower() if text.isascii() else unicodedata.normalize("NFC", text).casefold()


def _same(text: str) -> str:
    return text


FOLDS: dict[str, Callable[[str], str]] = {"CI_AI": _fold_ci_ai, "CI_AS": _fold_ci_as,
                                          "CS_AS": _same}


def folder(collation: str) -> Callable[[str], str]:
    """The key function: two texts are equal under the collation iff their keys are."""
    return FOLDS[mode_of(collation)]


def _compare(fold: Callable[[str], str]) -> Callable[[str, str], int]:
    def compare(left: str, right: str) -> int:
        a, b = fold(left), fold(right)
        return (a > b) - (a < b)
    return compare


@lru_cache(maxsize=4096)
def _pattern(pattern: str, escape: str | None) -> re.Pattern[str]:
    """T-SQL LIKE → regex: `%`, `_`, `[abc]`, `[a-f]`, `[^abc]` (filter-rows docs)."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if escape is not None and ch == escape and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        elif ch == "[" and pattern.find("]", i + 2) != -1:
            end = pattern.find("]", i + 2)  # a `]` right after `[` belongs to the set
            body = pattern[i + 1:end]
            negate = body.startswith("^") and len(body) > 1
            body = body[1:] if negate else body
            chars = "".join("\\" + c if c in "\\]^[" else c for c in body)
            out.append(f"[{'^' if negate else ''}{chars}]")
            i = end + 1
            continue
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out), re.S)


def _like(fold: Callable[[str], str]) -> Callable[..., int | None]:
    def like(pattern: str | None, value: object, escape: str | None = None) -> int | None:
        if pattern is None or value is None:
            return None
        return int(_pattern(fold(str(pattern)), escape).fullmatch(fold(str(value))) is not None)
    return like


def install(conn: sqlite3.Connection, collation: str = DEFAULT) -> None:
    """Register the collation and `like()` on a connection (every connection to the store)."""
    fold = folder(collation)
    conn.create_collation(NAME, _compare(fold))
    like = _like(fold)
    conn.create_function("like", 2, like, deterministic=True)
    conn.create_function("like", 3, like, deterministic=True)
