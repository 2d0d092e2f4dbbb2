"""What this organisation can do: version, bulk messages per table, change tracking per table.

Probed lazily and cached for the client's lifetime, so a job pays each probe once.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

from dynamics.errors import BadRequest, NotFound, PrivilegeError, UnsupportedVersion
from dynamics.odata import string_literal
from dynamics.records import RecordsApi


@dataclass
class Capabilities:
    version: str  # as RetrieveVersion answers, e.g. "9.2.24011.194"
    major: int
    minor: int
    bulk_tables: dict[str, bool] = field(default_factory=dict)
    change_tracking_tables: dict[str, bool] = field(default_factory=dict)

    @property
    def return_representation(self) -> bool:
        """`Prefer: return=representation` came with 8.2 (docs/dataverse-webapi.md §Versions)."""
        return (self.major, self.minor) >= (8, 2)

    @property
    def row_versions(self) -> bool:
        """Optimistic concurrency — a row's version as its ETag, an update only while the row
        still has it — came with CRM 2015 Update 1 (7.1): every Web API version has it,
        CRM 2013 and 2015 RTM (Organization Service only) do not."""
        return (self.major, self.minor) >= (7, 1)

    @property
    def bulk_messages(self) -> bool:
        """Bulk messages exist only from 9.x (online 2023+); never on 8.x."""
        return self.major >= 9


def parse_version(text: str) -> tuple[int, int]:
    match = re.match(r"\s*(\d+)\.(\d+)", text or "")
    if not match:
        raise UnsupportedVersion(f"The CRM reported a version the connector cannot read: {text!r}.")
    return int(match.group(1)), int(match.group(2))


class CapabilitiesApi(RecordsApi):
    _capabilities: Capabilities | None = None
    _caps_lock = threading.Lock()

    def retrieve_version(self) -> str:
        try:
            data = self.call_function("RetrieveVersion()")
        except NotFound:
            # No Web API at all: CRM 2013/2015 answer 404 under /api/data/.
            raise UnsupportedVersion(status=404) from None
        version = data.get("Version") if isinstance(data, dict) else None
        if not isinstance(version, str):
            raise UnsupportedVersion("The CRM did not report its version (RetrieveVersion).")
        return version

    @property
    def capabilities(self) -> Capabilities:
        with self._caps_lock:
            if self._capabilities is None:
                version = self.retrieve_version()
                major, minor = parse_version(version)
                if major < 8:
                    raise UnsupportedVersion(
                        f"The CRM reports version {version}. CRM 2013 and 2015 have no Web API; "
                        "the connector needs Dynamics CRM 2016 (8.x) or later.")
                self._capabilities = Capabilities(version, major, minor)
            return self._capabilities

    def supports_bulk(self, table: str) -> bool:
        """CreateMultiple registered for the table (docs/dataverse-webapi.md §Bulk messages)."""
        caps = self.capabilities
        if not caps.bulk_messages:
            return False
        if table not in caps.bulk_tables:
            flt = (f"sdkmessageid/name eq {string_literal('CreateMultiple')} and "
                   f"primaryobjecttypecode eq {string_literal(table)}")
            try:
                rows = list(self.query("sdkmessagefilters", select=["sdkmessagefilterid"],
                                       filter=flt, top=1))
            except (BadRequest, NotFound, PrivilegeError):
                rows = []  # cannot tell: the $batch path always works
            caps.bulk_tables[table] = bool(rows)
        return caps.bulk_tables[table]

    def change_tracking_enabled(self, table: str) -> bool:
        """`ChangeTrackingEnabled` from the table's metadata."""
        caps = self.capabilities
        if table not in caps.change_tracking_tables:
            data = self.transport.get_json(
                f"EntityDefinitions(LogicalName={string_literal(table)})",
                {"$select": "LogicalName,ChangeTrackingEnabled"})
            caps.change_tracking_tables[table] = bool(
                isinstance(data, dict) and data.get("ChangeTrackingEnabled"))
        return caps.change_tracking_tables[table]
