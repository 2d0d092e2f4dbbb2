"""Setup progress (C7): which step is done, which is next, which waits and for what.

Pure queries over the tenant's configuration; views and the API render the result.
The last step, "Start syncing", is what lets syncs run at all (:func:`sync_enabled`): it
opens only when every step before it is done, and until it is taken no scheduled,
CRM-triggered or manual sync runs (dry runs may: that is how to try the setup first).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _

from businessunits.models import BusinessUnit
from fieldmapping.services import catalogue_loaded, language_mapping_gaps
from orgsettings.models import IntegrationAccess, OrgSettings
from tenants.models import Tenant


class State(enum.StrEnum):
    DONE = "done"
    OPEN = "open"
    # Cannot be done yet: an earlier step must be done first. Not an error.
    WAITING = "waiting"


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    state: State
    reason: str = ""  # what it waits for, or what is still missing
    details: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.state is State.DONE

    @property
    def waiting(self) -> bool:
        return self.state is State.WAITING

    @property
    def state_label(self) -> str:
        return str({State.DONE: _("done"), State.OPEN: _("to do"),
                    State.WAITING: _("waiting")}[self.state])


# The steps "Start syncing" needs done, in the order of the page.
START_NEEDS = ("settings", "prepare", "check", "attributes", "business_unit", "mappings")


def settings_saved(tenant: Tenant) -> bool:
    """True once the tenant's organisation settings were saved (gates C7 steps)."""
    return OrgSettings.objects.filter(tenant=tenant).exists()


def mailworx_prepared(tenant: Tenant) -> bool:
    return IntegrationAccess.objects.filter(tenant=tenant).exists()


def missing_mappings(tenant: Tenant) -> list[str]:
    """Human-readable gaps: an empty attribute catalogue, units without mappings,
    (unit, entity type) without a language mapping or a fixed language (C14)."""
    gaps = [] if catalogue_loaded(tenant) else [
        str(_("The CRM attribute catalogue is empty: mappings are chosen from the attributes "
              "that “Pull CRM attributes” (a step of this page) reads from the CRM."))]
    gaps += [
        str(_("%(unit)s has no field mappings.") % {"unit": unit.name})
        for unit in BusinessUnit.objects.filter(tenant=tenant, field_mappings__isnull=True)
        .order_by("name")
    ]
    gaps += [
        str(_("%(unit)s: the %(entity)s mappings lack a language mapping.")
            % {"unit": unit.name, "entity": entity_type.label})
        for unit, entity_type in language_mapping_gaps(tenant)
    ]
    return gaps


def _check_step(org: OrgSettings | None, prepared: bool) -> Step:
    title = str(_("Check the integration"))
    if not prepared:
        return Step("check", title, State.WAITING, str(_("Prepare mailworx first.")))
    if org is not None and org.integration_ready:
        return Step("check", title, State.DONE)
    if org is not None and org.check_passed_at is not None:
        return Step("check", title, State.OPEN, str(_(
            "The connection settings changed after the last successful check; check again "
            "before syncs can run.")))
    return Step("check", title, State.OPEN, str(_("Syncs start only after a check passed.")))


def _mappings_step(tenant: Tenant, has_unit: bool, catalogue: bool) -> Step:
    title = str(_("Map fields, including the language"))
    if not has_unit:
        return Step("mappings", title, State.WAITING, str(_("Save a business unit first.")))
    if not catalogue:
        return Step("mappings", title, State.WAITING, str(_("Pull the CRM attributes first.")))
    gaps = missing_mappings(tenant)
    return Step("mappings", title, State.OPEN if gaps else State.DONE,
                str(_("Still missing:")) if gaps else "", gaps)


def _start_step(org: OrgSettings | None, before: list[Step]) -> Step:
    title = str(_("Start syncing"))
    if org is not None and org.sync_started_at is not None:
        return Step("start", title, State.DONE)
    missing = [s.title for s in before if s.key in START_NEEDS and not s.done]
    if missing:
        return Step("start", title, State.WAITING, str(_(
            "Opens when the steps above are done. Until then no sync runs, neither on "
            "schedule nor when the CRM reports something; a dry run shows what a sync "
            "would do.")), missing)
    return Step("start", title, State.OPEN, str(_(
        "Everything is set up. Try a dry run first if you like, then start syncing: from "
        "then on the schedule and the CRM side's reports start syncs.")))


def setup_steps(tenant: Tenant) -> list[Step]:
    org = OrgSettings.objects.filter(tenant=tenant).first()
    saved = org is not None
    prepared = mailworx_prepared(tenant)
    has_unit = BusinessUnit.objects.filter(tenant=tenant).exists()
    catalogue = catalogue_loaded(tenant)
    first = str(_("Save the organisation settings first."))
    steps = [
        Step("settings", str(_("Save the organisation settings")),
             State.DONE if saved else State.OPEN),
        Step("prepare", str(_("Prepare mailworx")),
             State.DONE if prepared else (State.OPEN if saved else State.WAITING),
             "" if saved else first),
        _check_step(org, prepared),
        Step("attributes", str(_("Pull the CRM attributes")),
             State.DONE if catalogue else (State.OPEN if saved else State.WAITING),
             "" if saved else first),
        Step("business_unit", str(_("Save a business unit with its reaction owner")),
             State.DONE if has_unit else (State.OPEN if saved else State.WAITING),
             "" if saved else first),
        _mappings_step(tenant, has_unit, catalogue),
    ]
    steps.append(_start_step(org, steps))
    return steps


def start_blockers(tenant: Tenant, steps: list[Step] | None = None) -> list[str]:
    """What keeps "Start syncing" closed, one line per step that is not done ([] = it may
    start); each line names the step and what it waits for or still misses."""
    lines = []
    for step in steps if steps is not None else setup_steps(tenant):
        if step.key not in START_NEEDS or step.done:
            continue
        why = " ".join(part for part in (step.reason, "; ".join(step.details)) if part)
        lines.append(f"{step.title}: {why}" if why else step.title)
    return lines


def integration_ready(tenant: Tenant) -> bool:
    """A check passed after the connection settings last changed (C9)."""
    org = OrgSettings.objects.filter(tenant=tenant).first()
    return org is not None and org.integration_ready


def sync_started(tenant: Tenant) -> bool:
    """An administrator took the "Start syncing" step."""
    return OrgSettings.objects.filter(tenant=tenant, sync_started_at__isnull=False).exists()


def sync_enabled(tenant: Tenant) -> bool:
    """Syncs may run: syncing was started and the integration is ready (C9)."""
    org = OrgSettings.objects.filter(tenant=tenant).first()
    return org is not None and org.sync_enabled
