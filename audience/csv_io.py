"""CSV import into a group (all rows or none) and streaming CSV export.

Import columns are field keys (``email``, ``first_name`` …) or field labels in either
language; ``;`` and ``,`` separated files are both accepted (Excel writes ``;`` in German
locales). Row numbers in messages count the header as row 1, as a spreadsheet shows them.
"""

from __future__ import annotations

import codecs
import csv
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import charset_normalizer
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audience.consent import SYSTEM, Who
from audience.consent_items import CONSENT_KEYS
from audience.models import (
    ConsentSource,
    ConsentState,
    PendingImport,
    Subscriber,
    SubscriberField,
    SubscriberGroup,
)
from audience.subscribers import Outcome, UpsertResult, bulk_upsert, current_values, tenant_fields
from tenants.models import Tenant

MAX_IMPORT_BYTES = 10 * 1024 * 1024
PREVIEW_ROWS = 10
EXPORT_CHUNK = 2000


@dataclass
class RowError:
    row: int
    message: str

    def __str__(self) -> str:
        return _("Row %(row)s: %(message)s") % {"row": self.row, "message": self.message}


@dataclass
class ImportReport:
    columns: list[str] = field(default_factory=list)
    preview: list[list[str]] = field(default_factory=list)
    rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    imported: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors


# Byte order marks, longest first (UTF-32's LE mark starts like UTF-16's): the codec that
# reads the file, and the encoding's name as a person reads it.
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32", "UTF-32"), (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
         (codecs.BOM_UTF8, "utf-8-sig", "UTF-8"), (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
         (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"))
# Without a byte order mark: UTF-8 if the bytes are valid UTF-8; UTF-16/32 if
# charset-normalizer finds it (Excel's "Unicode text" without a mark); else Windows-1252,
# which Excel's "CSV" is in on German and English Windows. Other single-byte guesses are
# not trusted: for short German text they are often wrong (cp775 for cp1252 umlauts).


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str  # as a person reads it: "UTF-8", "UTF-16", "Windows-1252" …


def decode(data: bytes) -> Decoded:
    """The file's text and the encoding it was read in (see above for the order)."""
    for bom, codec, name in _BOMS:
        if data.startswith(bom):
            try:
                return _decoded(data.decode(codec), name)
            except UnicodeDecodeError:
                break  # a mark followed by something else: guess as for no mark
    try:
        return _decoded(data.decode("utf-8"), "UTF-8")
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(data).best()
    if best is not None and best.encoding.startswith(("utf_16", "utf_32")):
        return _decoded(str(best), "UTF-16" if best.encoding.startswith("utf_16") else "UTF-32")
    return _decoded(data.decode("cp1252", errors="replace"), "Windows-1252")


def _decoded(text: str, name: str) -> Decoded:
    # NUL is no character of a CSV and PostgreSQL stores no text holding it: dropped.
    return Decoded(text.lstrip("\ufeff").replace("\x00", ""), name)


PENDING_FOR = timedelta(days=1)


def keep_for_confirmation(group: SubscriberGroup, decoded: Decoded,
                          report: ImportReport) -> PendingImport:
    """Keep a file that previewed without errors until the admin confirms it (and drop
    previews older than a day on the way)."""
    PendingImport.objects.filter(created_at__lt=timezone.now() - PENDING_FOR).delete()
    return PendingImport.objects.create(tenant=group.tenant, group=group, text=decoded.text,
                                        encoding=decoded.encoding, rows=report.rows)


def pending_import(group: SubscriberGroup, import_id: str) -> PendingImport | None:
    """The group's kept preview ``import_id``, if it is still there."""
    try:
        key = uuid.UUID(str(import_id))
    except ValueError:
        return None
    return PendingImport.objects.filter(
        pk=key, group=group, tenant=group.tenant,
        created_at__gte=timezone.now() - PENDING_FOR).first()


def _columns(header: list[str], fields: dict[str, SubscriberField]) -> tuple[list[str], list[str]]:
    # The consent columns (audience.consent_items) keep an import's original consent.
    names: dict[str, str] = {key: key for key in CONSENT_KEYS}
    for f in fields.values():
        names.update({f.key.lower(): f.key, f.label_en.lower(): f.key, f.label_de.lower(): f.key})
    keys, unknown = [], []
    for name in header:
        key = names.get(name.strip().lower())
        if key is None:
            unknown.append(name)
        keys.append(key or "")
    return keys, unknown


def import_csv(
    group: SubscriberGroup, text: str, *, confirm: bool, who: Who = SYSTEM
) -> ImportReport:
    """Validate ``text``; with ``confirm`` store it — every row or, on any error, none.
    Rows whose address is suppressed are left out and counted (N6), not errors."""
    report = ImportReport()
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:4096], ";,\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    header = next(reader, None)
    if not header:
        report.errors.append(RowError(1, _("The file is empty.")))
        return report
    fields = tenant_fields(group.tenant)
    keys, unknown = _columns(header, fields)
    report.columns = [k or h for k, h in zip(keys, header, strict=True)]
    if unknown:
        report.errors.append(RowError(1, _("Unknown column(s): %(names)s.")
                                      % {"names": ", ".join(unknown)}))
    if SubscriberField.EMAIL not in keys:
        report.errors.append(RowError(1, _("There is no email column.")))
    if report.errors:
        return report
    items, row_numbers = [], []
    for number, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(keys):
            report.errors.append(RowError(number, _("%(found)s cells, expected %(expected)s.")
                                          % {"found": len(row), "expected": len(keys)}))
            continue
        if len(report.preview) < PREVIEW_ROWS:
            report.preview.append(row)
        items.append(dict(zip(keys, row, strict=True)))
        row_numbers.append(number)
    report.rows = len(items)
    with transaction.atomic():
        results = bulk_upsert(group.tenant, items, group=group,
                              dry_run=not confirm or bool(report.errors),
                              source=ConsentSource.IMPORT, who=who)
        _collect(report, results, row_numbers)
        if report.errors:
            transaction.set_rollback(True)
        else:
            report.imported = confirm
    return report


def _collect(report: ImportReport, results: list[UpsertResult], row_numbers: list[int]) -> None:
    for result in results:
        if not result.ok:
            report.errors.append(RowError(row_numbers[result.index], result.message))
        report.counts[result.outcome] = report.counts.get(result.outcome, 0) + 1
    report.errors.sort(key=lambda e: e.row)
    for outcome in Outcome:
        report.counts.setdefault(outcome, 0)


class _Echo:
    def write(self, value: str) -> str:
        return value


# OWASP's CSV-injection rule: a cell that starts like a formula is read by spreadsheets as
# one (=HYPERLINK(…), @SUM(…), +cmd|…). Prefixed with a quote it is plain text again.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """``value``, or as text with a leading ``'`` when it would start a formula. Numbers
    stay numbers (a negative number is not a formula)."""
    if isinstance(value, int | float):
        return value
    text = str(value)
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


class SafeCsvWriter:
    """Every CSV export's writer: lines as text, each cell neutralised (``safe_cell``)."""

    def __init__(self) -> None:
        self._writer = csv.writer(_Echo())

    def row(self, cells: list[object]) -> str:
        return str(self._writer.writerow([safe_cell(c) for c in cells]))


def export_rows(tenant: Tenant, group: SubscriberGroup | None = None) -> Iterator[str]:
    """CSV lines of the tenant's (or the group's) live subscribers, read in keyset chunks."""
    fields = list(tenant_fields(tenant).values())
    writer = SafeCsvWriter()
    yield "\ufeff" + writer.row(["id", "status", "consent", "consent_changed_at",
                                 *[f.key for f in fields]])
    subscribers = Subscriber.objects.live().filter(tenant=tenant).order_by("pk")
    if group is not None:
        subscribers = subscribers.filter(memberships__group=group)
    last = 0
    while True:
        chunk = list(subscribers.filter(pk__gt=last).values_list(
            "pk", "consent", "consent_changed_at")[:EXPORT_CHUNK])
        if not chunk:
            return
        values = current_values([pk for pk, _s, _t in chunk])
        for pk, consent, changed in chunk:
            row = values.get(pk, {})
            yield writer.row([pk, ConsentState(consent).status.value, consent,
                              changed.isoformat() if changed else "",
                              *[row.get(f.key, "") for f in fields]])
        last = chunk[-1][0]
