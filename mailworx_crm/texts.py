"""Texts written now and read later, each time in the reader's language (C16).

A job writes step results, log lines and sync issues long before someone reads them, and
readers differ in language. So such a text is stored as what to say — the English msgid
and its parameters — and translated when it is shown:

    stored_text("Signed in as %(user)s.", user="# mailworx Connector")
    stored_plural("%(n)s list", "%(n)s lists", 2)

Both are extraction keywords of ``manage.py makemessages`` (our own command adds them), so
their msgids land in the catalogue. A parameter may itself be a stored text (or a list of
them): the inner text is translated too. Plain strings (rows written before this module,
or texts from outside, such as a CRM's own error message) render as the catalogue's
translation when they are a msgid, else as they are.

In a text column a stored text is kept as JSON after ``MARK``; ``as_column`` and
``render`` handle that, so old rows and new rows live side by side.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.db import models
from django.utils.translation import gettext, ngettext

# Starts every stored text in a text column; no sentence a person writes starts with it.
MARK = "\x1etext:"

StoredText = dict[str, Any]


def stored_text(msgid: str, **params: Any) -> StoredText:
    return {"t": msgid, "p": params}


def stored_plural(singular: str, plural: str, n: int, **params: Any) -> StoredText:
    """A text whose form depends on ``n``; ``%(n)s`` in the msgids is the count."""
    return {"t": singular, "pl": plural, "n": int(n), "p": {"n": int(n), **params}}


def is_stored(value: Any) -> bool:
    return isinstance(value, Mapping) and isinstance(value.get("t"), str)


def as_column(value: StoredText | str | None) -> str:
    """The value for a text column: a stored text as marked JSON, a string as it is."""
    if value is None:
        return ""
    if isinstance(value, Deferred):
        value = value.stored()
    if is_stored(value):
        return MARK + json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def from_column(value: str | None) -> StoredText | str:
    if value and value.startswith(MARK):
        try:
            data = json.loads(value[len(MARK):])
        except ValueError:
            return value
        if is_stored(data):
            return dict(data)
    return value or ""


def render(value: Any) -> str:
    """The text in the active language."""
    if isinstance(value, Deferred):
        value = value.stored()
    if isinstance(value, str):
        value = from_column(value)
        if isinstance(value, str):
            return gettext(value) if value else ""
    if is_stored(value):
        params = {k: _param(v) for k, v in dict(value.get("p") or {}).items()}
        if "pl" in value:
            sentence = ngettext(value["t"], value["pl"], int(value.get("n") or 0))
        else:
            sentence = gettext(value["t"])
        if not params:
            return sentence
        try:
            return sentence % params
        except (KeyError, ValueError, TypeError):
            pass
        try:
            # A translation that names a parameter the text lacks: the English one works.
            return str(value["t"]) % params if "%(" in value["t"] else str(value["t"])
        except (KeyError, ValueError, TypeError):
            # Parameters still to come (``deferred_ngettext(…) % {…}`` fills the rest).
            return sentence
    if value is None:
        return ""
    return str(value)


def _param(value: Any) -> Any:
    if isinstance(value, Deferred):
        return render(value.stored())
    if is_stored(value):
        return render(value)
    if isinstance(value, list | tuple):
        return ", ".join(str(_param(v)) for v in value)
    return value


def join(*parts: StoredText | str) -> StoredText:
    """Several texts as one (each translated on its own), separated by a space."""
    kept = [p.stored() if isinstance(p, Deferred) else p for p in parts if p]
    pattern = " ".join(f"%(p{i})s" for i in range(len(kept)))  # no msgid of its own
    return stored_text(pattern, **{f"p{i}": p for i, p in enumerate(kept)})


class Deferred(str):
    """A translated string that remembers its msgid and parameters.

    It is the active language's sentence wherever a string is expected, so code that
    writes ``_("…") % {…}`` keeps working; but where it is stored (``as_column``, a log
    line, a sync issue) it is stored as msgid and parameters, and read later in the
    reader's language. Job bodies import ``deferred as _`` (an extraction keyword already).
    Joining it into an f-string keeps only the sentence, as any string.
    """

    msgid: str
    plural: str | None
    quantity: int | None
    params: dict[str, Any] | None

    def __new__(cls, msgid: str, params: dict[str, Any] | None = None,
                plural: str | None = None, count: int | None = None) -> Deferred:
        data: StoredText = {"t": msgid,
                            "p": {k: _storable(v) for k, v in (params or {}).items()}}
        if plural is not None:
            data.update(pl=plural, n=int(count or 0))
        obj = super().__new__(cls, render(data))
        obj.msgid, obj.params, obj.plural, obj.quantity = msgid, params, plural, count
        return obj

    def __mod__(self, params: Any) -> str:
        if isinstance(params, Mapping):
            merged = {**(self.params or {}), **params}
            return Deferred(self.msgid, merged, self.plural, self.quantity)
        return str(self) % params

    def stored(self) -> StoredText:
        data: StoredText = {"t": self.msgid,
                            "p": {k: _storable(v) for k, v in (self.params or {}).items()}}
        if self.plural is not None:
            data.update(pl=self.plural, n=int(self.quantity or 0))
        return data


def _storable(value: Any) -> Any:
    if isinstance(value, Deferred):
        return value.stored()
    if isinstance(value, list | tuple):
        return [_storable(v) for v in value]
    if is_stored(value) or isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def deferred(msgid: str) -> Deferred:
    """``gettext`` for texts that are stored (see ``Deferred``)."""
    return Deferred(msgid)


def deferred_ngettext(singular: str, plural: str, n: int) -> Deferred:
    """``ngettext`` for texts that are stored; ``%(n)s`` is filled with ``n``."""
    return Deferred(singular, {"n": n}, plural, n)


def loaded(value: str | None) -> str:
    """A text column's value as read: a stored text becomes a ``Deferred`` in the active
    language (which still knows its msgid), anything else stays as it is."""
    data = from_column(value)
    if isinstance(data, str):
        return data
    return Deferred(str(data["t"]), dict(data.get("p") or {}), data.get("pl"),
                    data.get("n"))


class StoredTextField(models.TextField):
    """A text column for stored texts: it reads as the reader's sentence and writes a
    ``Deferred`` or a stored text as msgid and parameters. Plain text (rows from before,
    or texts from outside) passes through unchanged, so no data migration is needed."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        return None if value is None else loaded(value)

    def get_prep_value(self, value: Any) -> Any:
        if isinstance(value, Deferred) or is_stored(value):
            return as_column(value)
        return super().get_prep_value(value)

    def deconstruct(self) -> Any:
        # The column is a plain text column; migrations need not know the difference
        # (and SQLite would otherwise copy whole tables for nothing).
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.TextField", args, kwargs
