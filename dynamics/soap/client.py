"""`OrganizationServiceClient`: the CrmApi for CRM 2013 and 2015 (Organization Service).

The engine names queries and writes the Web API way (entity sets, OData filters, `$batch`
operations); this client carries them out with RetrieveMultiple (FetchXML), Create/Update
and ExecuteMultiple, and answers in the Web API client's shapes. Change tracking does not
exist on-premise before 2016, so `change_pages` raises ChangeTrackingNotEnabled and the
engine reads by a `modifiedon` watermark (syncjobs/engine/steps/pull.py).
"""

from __future__ import annotations

import random
import re
import threading
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any

from dynamics.accounting import RequestLog
from dynamics.batch import OperationResult
from dynamics.bulk import InLookup
from dynamics.capabilities import Capabilities, parse_version
from dynamics.changes import ChangeSet
from dynamics.client import ProbeResult, probe_url
from dynamics.clock import Clock
from dynamics.connection import Connection
from dynamics.errors import ChangeTrackingNotEnabled, NotFound, UnexpectedAnswer
from dynamics.journeys import ConsentRow, ConsentWrite, JourneysConsent
from dynamics.metadata import AttributeInfo
from dynamics.parallel import ParallelExecutor
from dynamics.security import Principal, Privilege, WhoAmI
from dynamics.simulate import SimulatedWrite
from dynamics.soap.fetch import build_query, fetch_xml
from dynamics.soap.messages import (
    EXECUTE_MULTIPLE_CONCURRENCY,
    Messages,
)
from dynamics.soap.metadata import attributes_of, role_privileges
from dynamics.soap.service import OrganizationService
from dynamics.soap.values import primary_key_of, row, table_of_set
from dynamics.soap.writes import SoapWrites
from dynamics.transport import BeforeSend, Transport

PAGE_SIZE = 5000
IN_CHUNK = 500  # values per `in` condition (a POST body has no URL limit)
_PATH_ID = re.compile(r"^([A-Za-z_]+)\(([0-9a-fA-F-]{36})\)")


class OrganizationServiceClient(SoapWrites):
    """The Organization Service (SOAP) of one CRM 2013/2015 organisation."""

    protocol = "soap"

    def __init__(self, connection: Connection, *, clock: Clock | None = None,
                 request_log: RequestLog | None = None, rng: random.Random | None = None,
                 simulate_writes: bool = False, before_send: BeforeSend | None = None) -> None:
        self.transport = Transport(connection, clock=clock, request_log=request_log, rng=rng,
                                   before_send=before_send)
        executor = self.transport.parallel
        executor.maximum = min(executor.maximum, EXECUTE_MULTIPLE_CONCURRENCY)
        self.service = OrganizationService(self.transport)
        self.messages = Messages(self.service, connection.api_url)
        self.simulate = simulate_writes
        self.simulated_writes: list[SimulatedWrite] = []
        self._capabilities: Capabilities | None = None
        self._types: dict[str, dict[str, str]] = {}
        self._date_only: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    # -- the client's own state ------------------------------------------------------------

    @property
    def log(self) -> RequestLog:
        return self.transport.log

    @property
    def parallel(self) -> ParallelExecutor:
        return self.transport.parallel

    @property
    def capabilities(self) -> Capabilities:
        with self._lock:
            if self._capabilities is None:
                results = self.service.execute("RetrieveVersion", {})
                version = str(results.get("Version") or "")
                major, minor = parse_version(version)
                self._capabilities = Capabilities(version, major, minor)
            return self._capabilities

    def probe(self) -> ProbeResult:
        return probe_url(self.transport, self.service.address)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> OrganizationServiceClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- who and what ----------------------------------------------------------------------

    def who_am_i(self) -> WhoAmI:
        results = self.service.execute("WhoAmI", {})
        try:
            return WhoAmI(str(results["UserId"]).lower(), str(results["BusinessUnitId"]).lower(),
                          str(results["OrganizationId"]).lower())
        except KeyError:
            raise UnexpectedAnswer("The CRM's WhoAmI answer is incomplete.",
                                   request="POST WhoAmI", key="whoami_incomplete") from None

    def user_privileges(self, user_id: str) -> list[Privilege]:
        results = self.service.execute("RetrieveUserPrivileges", {
            "UserId": self.messages.writer.value(user_id, "Uniqueidentifier")},
            label="RetrieveUserPrivileges systemuser")
        held = role_privileges(results.get("RolePrivileges"))
        names = {str(r["privilegeid"]).lower(): str(r.get("name") or "") for r in self.lookup_in(
            "privileges", "privilegeid", sorted({pid for pid, _d in held}),
            ["privilegeid", "name"])}
        return [Privilege(names.get(pid, ""), depth, pid) for pid, depth in held]

    def user_roles(self, user_id: str) -> list[dict[str, Any]]:
        return list(self.query(f"systemusers({user_id})/systemuserroles_association",
                               select=["roleid", "name"]))

    def users(self, include_disabled: bool = False) -> list[Principal]:
        rows = self.query("systemusers", select=["systemuserid", "fullname",
                                                 "internalemailaddress", "domainname"],
                          filter=None if include_disabled else "isdisabled eq false",
                          orderby="fullname")
        return [Principal(str(r["systemuserid"]).lower(), str(r.get("fullname") or ""),
                          "systemuser", email=str(r.get("internalemailaddress") or ""),
                          domain_name=str(r.get("domainname") or "")) for r in rows]

    def teams(self) -> list[Principal]:
        return [Principal(str(r["teamid"]).lower(), str(r.get("name") or ""), "team")
                for r in self.query("teams", select=["teamid", "name"], orderby="name")]

    def entity_attributes(self, logical_name: str) -> list[AttributeInfo]:
        t = self.service.zeep.get_type(
            "{http://schemas.microsoft.com/xrm/2011/Metadata}EntityFilters")
        from zeep import xsd

        results = self.service.execute("RetrieveEntity", {
            "EntityFilters": xsd.AnyObject(t, "Attributes"),
            "LogicalName": xsd.AnyObject(xsd.String(), logical_name),
            "MetadataId": self.messages.writer.value(str(uuid.UUID(int=0)), "Uniqueidentifier"),
            "RetrieveAsIfPublished": xsd.AnyObject(xsd.Boolean(), False)},
            label=f"RetrieveEntity {logical_name}")
        return attributes_of(results.get("EntityMetadata"))

    def attribute_types(self, table: str) -> dict[str, str]:
        """{column: AttributeType}, read once per table: writes need each value's type."""
        if table not in self._types:
            try:
                attributes = self.entity_attributes(table)
            except NotFound:
                attributes = []
            self._types[table] = {a.logical_name: a.attribute_type for a in attributes}
            # The Web API reads a date-only column as `YYYY-MM-DD`; SOAP as a dateTime.
            self._date_only[table] = {a.logical_name for a in attributes
                                      if "DateOnly" in (a.date_time_format or "",
                                                        a.date_time_behavior or "")}
        return self._types[table]

    def supports_bulk(self, table: str) -> bool:
        return False  # CreateMultiple came with 9.x; ExecuteMultiple carries the writes

    def change_tracking_enabled(self, table: str) -> bool:
        return False  # RetrieveEntityChanges is not available on-premise before 2016

    # -- reads -----------------------------------------------------------------------------

    def query_pages(self, entity_set: str, *, select: Sequence[str] | None = None,
                    filter: str | None = None, orderby: str | None = None,
                    top: int | None = None, expand: str | None = None,
                    page_size: int | None = None,
                    prefer: Sequence[str] = ()) -> Iterator[dict[str, Any]]:
        """Pages as `{"value": rows}`, read with FetchXML and its paging cookie."""
        if expand:
            raise ValueError("the Organization Service client does not expand")
        query = build_query(entity_set, select=select, filter=filter, orderby=orderby, top=top)
        size = min(page_size or PAGE_SIZE, PAGE_SIZE)
        page, cookie = 1, None
        names = list(select or ()) or self._all_columns(query.table)
        while True:
            xml = fetch_xml(query, page=page, count=size, cookie=cookie)
            collection = self._retrieve(xml, query.table)
            entities = getattr(collection.Entities, "Entity", None) or []
            rows = [row(e) for e in entities]
            self.attribute_types(query.table)
            date_only = self._date_only.get(query.table, set())
            for r in rows:  # the Web API names every selected column, null or not
                for name in names:
                    r.setdefault(name, None)
                for name in date_only:
                    if isinstance(r.get(name), str):
                        r[name] = r[name][:10]
            yield {"value": rows}
            if top is not None or not collection.MoreRecords:
                return
            page, cookie = page + 1, collection.PagingCookie

    def fetch_pages(self, entity_set: str, fetch: ET.Element) -> Iterator[list[dict[str, Any]]]:
        """A FetchXML query's rows a page at a time, paged with the answer's cookie."""
        table = table_of_set(entity_set)
        page = 1
        while True:
            fetch.set("page", str(page))
            collection = self._retrieve(ET.tostring(fetch, "unicode"), table)
            entities = getattr(collection.Entities, "Entity", None) or []
            yield [row(e) for e in entities]
            if not entities or not collection.MoreRecords:
                return
            page += 1
            if collection.PagingCookie:
                fetch.set("paging-cookie", str(collection.PagingCookie))
            else:
                fetch.attrib.pop("paging-cookie", None)

    def _all_columns(self, table: str) -> list[str]:
        """Every column of `table` as the Web API names it (lookups as `_x_value`)."""
        return [f"_{name}_value" if kind in ("Lookup", "Customer", "Owner") else name
                for name, kind in self.attribute_types(table).items()]

    def _retrieve(self, xml: str, table: str) -> Any:
        t = self.service.types
        results = self.service.execute("RetrieveMultiple", {"Query": t.FetchExpression(Query=xml)},
                                       label=f"RetrieveMultiple {table}")
        collection = results.get("EntityCollection")
        if collection is None or not hasattr(collection, "Entities"):
            raise UnexpectedAnswer("The CRM sent a RetrieveMultiple answer without records.",
                                   request=f"POST RetrieveMultiple {table}",
                                   key="collection_without_value")
        return collection

    def query(self, entity_set: str, *, select: Sequence[str] | None = None,
              filter: str | None = None, orderby: str | None = None, top: int | None = None,
              expand: str | None = None,
              page_size: int | None = None) -> Iterator[dict[str, Any]]:
        for page in self.query_pages(entity_set, select=select, filter=filter, orderby=orderby,
                                     top=top, expand=expand, page_size=page_size):
            yield from page["value"]

    def get(self, entity_set: str, id: str, select: Sequence[str] | None = None,
            expand: str | None = None) -> dict[str, Any]:
        pk = primary_key_of(table_of_set(entity_set))
        found = next(iter(self.query(entity_set, select=select, filter=f"{pk} eq {id}",
                                     top=1)), None)
        if found is None:
            raise NotFound(status=404, request=f"POST Retrieve {table_of_set(entity_set)}")
        return found

    def lookup_in(self, entity_set: str, attribute: str, values: Iterable[str],
                  select: Sequence[str] | None = None, *, extra_filter: str | None = None,
                  max_values: int | None = None) -> Iterator[dict[str, Any]]:
        from dynamics.odata import in_filter

        wanted = list(dict.fromkeys(values))
        size = min(max_values or IN_CHUNK, IN_CHUNK)
        for start in range(0, len(wanted), size):
            flt = in_filter(attribute, wanted[start:start + size])
            if extra_filter:
                flt = f"({extra_filter}) and {flt}"
            yield from self.query(entity_set, select=select, filter=flt)

    def lookup_in_many(self, lookups: Sequence[InLookup],
                       max_values: int | None = None) -> list[list[dict[str, Any]]]:
        return [list(self.lookup_in(lk.entity_set, lk.attribute, lk.values, lk.select,
                                    max_values=max_values)) for lk in lookups]

    # -- change reads ----------------------------------------------------------------------

    def change_pages(self, entity_set: str, select: Sequence[str],
                     delta_link: str | None = None,
                     page_size: int | None = None) -> Iterator[ChangeSet]:
        raise ChangeTrackingNotEnabled(
            "CRM 2013 and 2015 on-premise have no change tracking; changes are read by "
            "modification date.", request=f"POST RetrieveMultiple {table_of_set(entity_set)}")

    def track_changes(self, entity_set: str, select: Sequence[str],
                      delta_link: str | None = None, page_size: int | None = None) -> ChangeSet:
        return next(self.change_pages(entity_set, select, delta_link, page_size))

    # -- Customer Insights – Journeys: never on CRM 2013/2015 --------------------------------

    def journeys_consent(self) -> JourneysConsent | None:
        return None  # so the engine never asks for the rest

    def consent_rows(self, purpose_id: str,
                     addresses: Iterable[str]) -> dict[str, list[ConsentRow]]:
        return {}

    def consent_changes(self, purpose_id: str, since: str) -> Iterator[ConsentRow]:
        return iter(())

    def write_consent(self, purpose_id: str, writes: Sequence[ConsentWrite],
                      existing: dict[str, list[ConsentRow]]) -> list[OperationResult]:
        raise ChangeTrackingNotEnabled("CRM 2013 and 2015 have no Customer Insights – Journeys.")
