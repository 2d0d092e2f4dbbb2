"""The steps a sync run executes, one module each, in pipeline order: pull, match, push,
lists, campaigns; reactions (its own kind of run), backfill and reconcile."""
