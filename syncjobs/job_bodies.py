"""The registry of job bodies: run kind → the function that does the work.

Bodies are named by dotted path and imported only when a run starts, so the runner imports
no job module (the lint contract "runner-knows-no-job-body"), and config apps keep their
bodies next to their data (the integration check in orgsettings, the attribute pull in
fieldmapping). Plain Python on purpose: a process can fill the registry before Django is
set up (the test suite registers its own bodies this way, from outside the product).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

BODIES: dict[str, str | Callable[..., Any]] = {
    "integration_check": "orgsettings.checks.run_integration_check",
    "attribute_pull": "fieldmapping.metadata.run_attribute_pull",
    "owner_refresh": "businessunits.owners.run_owner_refresh",
    "sync": "syncjobs.engine.run.run_sync",
    "reaction_export": "syncjobs.engine.steps.reactions.run_reaction_export",
    "erasure_propagation": "syncjobs.erasure_crm.run_erasure_propagation",
}
