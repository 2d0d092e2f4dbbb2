"""Alerts (issue #20): the tenant's administrators get one email when a condition begins —
runs keep failing, the integration check fails, a mapped CRM attribute vanished, the sync
fell behind its interval — and the incident resolves itself when the condition ends.

- ``incidents``: open (deduplicated by a unique constraint), resolve, notify after commit.
- ``mail``: the email, in each recipient's language.
- ``conditions``: when each condition holds, checked where a run ends and on a beat tick.
"""
