"""`DataverseClient`: one organisation, one session, every protocol helper in one object."""

from __future__ import annotations

import random
import threading
from types import TracebackType

from dynamics.accounting import RequestLog
from dynamics.bulk import BulkApi
from dynamics.changes import ChangesApi
from dynamics.clock import Clock
from dynamics.connection import Connection
from dynamics.metadata import MetadataApi
from dynamics.security import SecurityApi
from dynamics.transport import Transport


class DataverseClient(BulkApi, ChangesApi, MetadataApi, SecurityApi):
    """Dataverse / Dynamics 365 Web API client for one connection.

    Usage: `with DataverseClient(conn) as crm: crm.who_am_i()`. `crm.log` holds the request
    accounting; `crm.capabilities` the detected version and features.
    """

    def __init__(self, connection: Connection, *, clock: Clock | None = None,
                 request_log: RequestLog | None = None,
                 rng: random.Random | None = None) -> None:
        super().__init__(Transport(connection, clock=clock, request_log=request_log, rng=rng))
        self._capabilities = None
        self._caps_lock = threading.Lock()

    @property
    def log(self) -> RequestLog:
        return self.transport.log

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> DataverseClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
