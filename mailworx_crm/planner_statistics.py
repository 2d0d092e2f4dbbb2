"""Statistics for SQLite's query planner, refreshed before a sync run when stale.

Without statistics SQLite judges an index by its shape alone and takes ``tenant = ?`` for
selective: for "this tenant's subscribers with these 500 addresses" it walked the whole
tenant through the single-column tenant index instead of looking the addresses up in the
(tenant, address) index — quadratic over a run (at 100,000 subscribers the consent step
spent 20 of its 23 CPU seconds there). A sampled ``ANALYZE`` (``analysis_limit``) does not
help: it sees a few hundred rows and still takes a tenant for a few hundred subscribers.

So the large tables the engine reads by tenant are analysed in full, but only when they
have no statistics yet or have grown or shrunk by half since: a full ``ANALYZE`` of a
million subscribers takes about a second, and a run after a small change pays only the
row counts.
PostgreSQL keeps its own statistics (autovacuum): nothing to do there.
SQLite on ANALYZE and statistics: https://www.sqlite.org/lang_analyze.html
"""

from __future__ import annotations

from django.db import connection

# Tables read by tenant in bulk (subscribers, their values, memberships, links).
TABLES = ("audience_subscriber", "audience_subscribervalue", "audience_groupmembership",
          "syncjobs_recordlink")
STALE_FACTOR = 1.5  # rows now vs. rows at the last ANALYZE, either way


def refresh_planner_statistics() -> list[str]:
    """Analyse the tables whose statistics are missing or stale; returns their names."""
    if connection.vendor != "sqlite":
        return []
    analysed = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'")
        have_stats = cursor.fetchone() is not None
        for table in TABLES:
            # COUNT(*) walks the table's smallest index (a few hundred milliseconds for
            # millions of rows); the largest rowid would drift from it with every deletion.
            cursor.execute(f'SELECT COUNT(*) FROM "{table}"')  # noqa: S608 - fixed names
            rows = int(cursor.fetchone()[0] or 0)
            known = 0
            if have_stats:
                # Each index has its own row; a partial index counts only its own rows, so
                # the table's size is the largest first number among them.
                cursor.execute("SELECT stat FROM sqlite_stat1 WHERE tbl = %s", [table])
                known = max((int(str(stat).split()[0]) for (stat,) in cursor.fetchall()
                             if str(stat).split()), default=0)
            if rows and not (known and known / STALE_FACTOR <= rows <= known * STALE_FACTOR):
                cursor.execute("PRAGMA analysis_limit=0")  # in full (module doc)
                cursor.execute(f'ANALYZE "{table}"')
                analysed.append(table)
    return analysed
