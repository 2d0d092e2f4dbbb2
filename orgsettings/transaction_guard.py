"""No CRM request while the job holds a database transaction.

A CRM call can wait minutes (Retry-After up to the configured maximum, slow bulk writes).
Inside ``transaction.atomic()`` that wait holds SQLite's write lock — every web write then
fails past its busy timeout — or PostgreSQL's row locks and a connection. The engine's
steps therefore read the CRM, decide, write to the CRM, and only then record the outcome
in a short transaction. This guard makes that rule permanent: every client a job opens
(``orgsettings.connection.client_for``) checks, before each request, that the job's
database connection is no deeper in atomic blocks than when the client was opened (tests
wrap themselves in a transaction, so the depth at that moment is the baseline).

``CRM_CALL_IN_TRANSACTION``: ``refuse`` (the default outside production) raises, so any
step that breaks the rule fails its tests; ``log`` (production) writes a warning with the
stack and lets the request go, so a missed case slows a run instead of failing it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

from dynamics.crm_api import CrmApi
from dynamics.read_ahead import reading_ahead

logger = logging.getLogger(__name__)


class CrmCallInTransaction(RuntimeError):
    """A programming error: a CRM request was about to leave inside a transaction."""


class TransactionGuard:
    def __init__(self) -> None:
        # The job thread's own connection object: bulk requests may be sent from other
        # threads, but the transaction that matters is the job's.
        self._connection = connections[DEFAULT_DB_ALIAS]
        self._baseline = self.depth()

    def depth(self) -> int:
        return len(self._connection.atomic_blocks)

    def __call__(self, what: str) -> None:
        if reading_ahead():
            # A page read ahead beside the job: the job does not wait for it inside its
            # transaction; it waits when it takes the page, which this guard checks.
            return
        depth = self.depth()
        if depth <= self._baseline:
            return
        message = (f"CRM request {what} inside a database transaction (atomic depth {depth}, "
                   f"{self._baseline} when the job opened its client): read the CRM, decide, "
                   "write to the CRM, then record the outcome in a short transaction.")
        if getattr(settings, "CRM_CALL_IN_TRANSACTION", "refuse") == "refuse":
            raise CrmCallInTransaction(message)
        logger.warning(message, stack_info=True)

    @contextmanager
    def allow_within(self, reason: str) -> Iterator[None]:
        """Accept the transaction opened just before this block: for a caller that holds
        one on purpose and says why (``reason`` is for the reader, and the log)."""
        saved, self._baseline = self._baseline, self.depth()
        logger.debug("CRM requests allowed inside a transaction: %s", reason)
        try:
            yield
        finally:
            self._baseline = saved


@contextmanager
def crm_calls_allowed(client: CrmApi, reason: str) -> Iterator[None]:
    """``TransactionGuard.allow_within`` for the guard of ``client`` (if it has one)."""
    guard = client.transport.before_send
    if isinstance(guard, TransactionGuard):
        with guard.allow_within(reason):
            yield
    else:
        yield
