"""The sync engine, part 1: subscribers ↔ CRM contacts, accounts and leads.

A run (``run.run_sync``) is a pipeline of steps, one module each:

* ``pull``      CRM → mailworx: changes since the cursor, field by field (S2, S11, S13, C6, C13)
* ``match``     unlinked subscribers of synced groups → CRM records by email (S5, S7-S9)
* ``push``      mailworx → CRM: planned creates, changed fields, unsubscribes (S11, S13)
* ``backfill``  a new or changed mapping applied to linked records (S14)
* ``reconcile`` deletes and merges found by a full comparison of links with the CRM
* ``reactions`` reactions → one CRM activity per recipient and campaign, campaign figures
  (S4, C4, C5; its own job kind ``reaction_export``, docs/reactions.md)

Shared pieces: ``entities`` (CRM tables and states), ``fields`` (mappings and value
conversion), ``conflicts`` (S11), ``apply`` (a CRM row onto a link and its subscriber),
``issues`` (N3), ``context`` (the run: client, counters, pause checks), ``start`` (the
service that queues a run), ``config`` (S14: re-pointing a tenant, resetting links).
Every step is idempotent: a resumed run repeats work harmlessly because each side is
compared with the values last synced, and creates use ids chosen before the request.
"""
