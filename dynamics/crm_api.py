"""`CrmApi`: the one interface the engine and the checks talk to, whatever the protocol.

`DataverseClient` (Web API, CRM 2016 and later) and `OrganizationServiceClient` (SOAP,
CRM 2013 and 2015) both implement it. Queries are named the Web API way — an entity set,
`$select`, a `$filter` of comparisons, `and`/`or` and `In`, an N:N navigation path — which
the Organization Service client translates (dynamics/soap/fetch.py); rows come back in the
Web API's shape from both.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any, Literal, Protocol

from dynamics.accounting import RequestLog
from dynamics.batch import BatchItem, OperationResult
from dynamics.bulk import InLookup
from dynamics.capabilities import Capabilities
from dynamics.changes import ChangeSet
from dynamics.client import DataverseClient, ProbeResult
from dynamics.clock import Clock
from dynamics.connection import Connection
from dynamics.journeys import ConsentRow, ConsentWrite, JourneysConsent
from dynamics.metadata import AttributeInfo
from dynamics.parallel import ParallelExecutor
from dynamics.security import Principal, Privilege, WhoAmI
from dynamics.simulate import SimulatedWrite
from dynamics.transport import BeforeSend, Transport

Protocol_ = Literal["webapi", "soap"]


class CrmApi(Protocol):
    protocol: str
    transport: Transport

    @property
    def log(self) -> RequestLog: ...
    @property
    def parallel(self) -> ParallelExecutor: ...
    @property
    def capabilities(self) -> Capabilities: ...
    @property
    def simulated_writes(self) -> list[SimulatedWrite]: ...

    def probe(self) -> ProbeResult: ...
    def who_am_i(self) -> WhoAmI: ...
    def user_privileges(self, user_id: str) -> list[Privilege]: ...
    def user_roles(self, user_id: str) -> list[dict[str, Any]]: ...
    def users(self, include_disabled: bool = False) -> list[Principal]: ...
    def teams(self) -> list[Principal]: ...
    def entity_attributes(self, logical_name: str) -> list[AttributeInfo]: ...
    def supports_bulk(self, table: str) -> bool: ...
    def change_tracking_enabled(self, table: str) -> bool: ...

    def query_pages(self, entity_set: str, *, select: Sequence[str] | None = None,
                    filter: str | None = None, orderby: str | None = None,
                    top: int | None = None, expand: str | None = None,
                    page_size: int | None = None,
                    prefer: Sequence[str] = ()) -> Iterator[dict[str, Any]]: ...
    def query(self, entity_set: str, *, select: Sequence[str] | None = None,
              filter: str | None = None, orderby: str | None = None, top: int | None = None,
              expand: str | None = None,
              page_size: int | None = None) -> Iterator[dict[str, Any]]: ...
    def get(self, entity_set: str, id: str, select: Sequence[str] | None = None,
            expand: str | None = None) -> dict[str, Any]: ...
    def lookup_in(self, entity_set: str, attribute: str, values: Iterable[str],
                  select: Sequence[str] | None = None, *, extra_filter: str | None = None,
                  max_values: int | None = None) -> Iterator[dict[str, Any]]: ...
    def lookup_in_many(self, lookups: Sequence[InLookup],
                       max_values: int | None = None) -> list[list[dict[str, Any]]]: ...
    def fetch_pages(self, entity_set: str,
                    fetch: ET.Element) -> Iterator[list[dict[str, Any]]]: ...
    def change_pages(self, entity_set: str, select: Sequence[str],
                     delta_link: str | None = None,
                     page_size: int | None = None) -> Iterator[ChangeSet]: ...

    def create(self, entity_set: str, data: dict[str, Any], id: str | None = None) -> str: ...
    def update(self, entity_set: str, id: str, data: dict[str, Any],
               if_match: str | None = "*") -> None: ...
    def update_and_read(self, entity_set: str, id: str, data: dict[str, Any],
                        columns: Sequence[str]) -> dict[str, Any] | None: ...
    def set_state(self, entity_set: str, id: str, statecode: int, statuscode: int) -> None: ...
    def call_action(self, path: str, body: dict[str, Any] | None = None) -> Any: ...
    def batch(self, operations: Sequence[BatchItem], continue_on_error: bool = False, *,
              parallel: bool = False) -> list[OperationResult]: ...
    def create_multiple(self, entity_set: str, table: str, records: Sequence[dict[str, Any]],
                        *, primary_key: str | None = None) -> list[OperationResult]: ...
    def update_multiple(self, entity_set: str, table: str, records: Sequence[dict[str, Any]],
                        *, primary_key: str | None = None) -> list[OperationResult]: ...
    def upsert_multiple(self, entity_set: str, table: str, records: Sequence[dict[str, Any]],
                        *, primary_key: str | None = None,
                        chunk_size: int = ...) -> list[OperationResult]: ...

    def journeys_consent(self) -> JourneysConsent | None: ...
    def consent_rows(self, purpose_id: str,
                     addresses: Iterable[str]) -> dict[str, list[ConsentRow]]: ...
    def consent_changes(self, purpose_id: str, since: str) -> Iterator[ConsentRow]: ...
    def write_consent(self, purpose_id: str, writes: Sequence[ConsentWrite],
                      existing: dict[str, list[ConsentRow]]) -> list[OperationResult]: ...

    def close(self) -> None: ...
    def __enter__(self) -> CrmApi: ...
    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...


def open_client(connection: Connection, protocol: str = "webapi", *,
                clock: Clock | None = None, simulate_writes: bool = False,
                before_send: BeforeSend | None = None,
                request_log: RequestLog | None = None) -> CrmApi:
    """The client for `protocol` ("webapi" or "soap", as the integration check detected)."""
    if protocol == "soap":
        from dynamics.soap.client import OrganizationServiceClient

        return OrganizationServiceClient(connection, clock=clock,
                                         simulate_writes=simulate_writes,
                                         before_send=before_send, request_log=request_log)
    return DataverseClient(connection, clock=clock, simulate_writes=simulate_writes,
                           before_send=before_send, request_log=request_log)
