"""Setup progress (C7): which step is done, which is next, what is blocked and why.

Pure queries over the tenant's configuration; views render the result.
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
    BLOCKED = "blocked"


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    state: State
    reason: str = ""  # why blocked, or what is still missing
    details: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.state is State.DONE

    @property
    def blocked(self) -> bool:
        return self.state is State.BLOCKED

    @property
    def state_label(self) -> str:
        return str({State.DONE: _("done"), State.OPEN: _("to do"),
                    State.BLOCKED: _("blocked")}[self.state])


def settings_saved(tenant: Tenant) -> bool:
    """True once the tenant's organisation settings were saved (gates C7 steps)."""
    return OrgSettings.objects.filter(tenant=tenant).exists()


def mailworx_prepared(tenant: Tenant) -> bool:
    return IntegrationAccess.objects.filter(tenant=tenant).exists()


def missing_mappings(tenant: Tenant) -> list[str]:
    """Human-readable gaps: an empty attribute catalogue, units without mappings,
    (unit, entity type) without language."""
    gaps = [] if catalogue_loaded(tenant) else [
        str(_("The CRM attribute catalogue is empty: mappings are chosen from the attributes "
              "that “Synchronise CRM attributes” (on the business units' pages) pulls from "
              "the CRM."))]
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


def _check_step(tenant: Tenant, prepared: bool) -> Step:
    title = str(_("Check the integration"))
    if not prepared:
        return Step("check", title, State.BLOCKED, str(_("Prepare mailworx first.")))
    org = OrgSettings.objects.filter(tenant=tenant).first()
    if org is not None and org.integration_ready:
        return Step("check", title, State.DONE)
    if org is not None and org.check_passed_at is not None:
        return Step("check", title, State.OPEN, str(_(
            "The connection settings changed after the last successful check; check again "
            "before syncs can run.")))
    return Step("check", title, State.OPEN, str(_("Syncs start only after a check passed.")))


def integration_ready(tenant: Tenant) -> bool:
    """Syncs may run: a check passed after the connection settings last changed (C9)."""
    org = OrgSettings.objects.filter(tenant=tenant).first()
    return org is not None and org.integration_ready


def setup_steps(tenant: Tenant) -> list[Step]:
    saved = settings_saved(tenant)
    prepared = mailworx_prepared(tenant)
    has_unit = BusinessUnit.objects.filter(tenant=tenant).exists()
    first = str(_("Save the organisation settings first."))
    steps = [
        Step("settings", str(_("Save the organisation settings")),
             State.DONE if saved else State.OPEN),
        Step("prepare", str(_("Prepare mailworx")),
             State.DONE if prepared else (State.OPEN if saved else State.BLOCKED),
             "" if saved else first),
        _check_step(tenant, prepared),
        Step("business_unit", str(_("Save a business unit")),
             State.DONE if has_unit else (State.OPEN if saved else State.BLOCKED),
             "" if saved else first),
    ]
    if not has_unit:
        steps.append(Step("mappings", str(_("Map fields, including the language")),
                          State.BLOCKED, str(_("Save a business unit first."))))
    else:
        gaps = missing_mappings(tenant)
        steps.append(Step("mappings", str(_("Map fields, including the language")),
                          State.OPEN if gaps else State.DONE,
                          str(_("Still missing:")) if gaps else "", gaps))
    return steps
