"""Business units (C11): create, change, delete, and the one-default-per-tenant rule.

Every change goes through ``Model.save()``/``delete()`` on single instances (never
``QuerySet.update``), so django-simple-history records who changed what (N5).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.db.models import Model
from django.utils.translation import gettext as _

from businessunits.gating import NOT_READY_REASON, settings_saved
from businessunits.models import BusinessUnit, OwnerType
from syncjobs import runner
from syncjobs.models import JobKind, JobRun, Trigger
from tenants.models import Tenant


class BusinessUnitError(Exception):
    """A change that would break a rule; the message is shown to the admin."""


def _undefault_others(unit: BusinessUnit) -> None:
    others = BusinessUnit.objects.select_for_update().filter(
        tenant=unit.tenant, is_default=True).exclude(pk=unit.pk)
    for other in others:
        other.is_default = False
        other.save()


def _check_name(tenant: Tenant, name: str, exclude_pk: int | None = None) -> None:
    qs = BusinessUnit.objects.filter(tenant=tenant, name__iexact=name)
    if exclude_pk:
        qs = qs.exclude(pk=exclude_pk)
    if qs.exists():
        raise BusinessUnitError(_("A business unit named “%(name)s” already exists.")
                                % {"name": name})


@transaction.atomic
def create_unit(
    tenant: Tenant, *, name: str, owner_id: uuid.UUID | str, owner_name: str,
    owner_type: OwnerType | str = OwnerType.USER, is_default: bool = False,
    fixed_language: str = "",
) -> BusinessUnit:
    """Create a unit; a tenant's first unit always becomes the default."""
    _check_name(tenant, name)
    first = not BusinessUnit.objects.filter(tenant=tenant).exists()
    unit = BusinessUnit(tenant=tenant, name=name, owner_id=owner_id, owner_name=owner_name,
                        owner_type=OwnerType(owner_type), is_default=is_default or first,
                        fixed_language=fixed_language or "")
    if unit.is_default:
        _undefault_others(unit)
    unit.save()
    return unit


@transaction.atomic
def update_unit(
    unit: BusinessUnit, *, name: str, owner_id: uuid.UUID | str, owner_name: str,
    owner_type: OwnerType | str, is_default: bool, fixed_language: str | None = None,
) -> BusinessUnit:
    """Change a unit. Making it the default un-defaults the previous one; the default unit
    stays default until another unit is made default (a tenant always has one).
    ``fixed_language`` None keeps the unit's fixed language, "" removes it (C14)."""
    _check_name(unit.tenant, name, exclude_pk=unit.pk)
    if fixed_language is not None:
        unit.fixed_language = fixed_language
    unit.name = name
    unit.owner_id = owner_id
    unit.owner_name = owner_name
    unit.owner_type = OwnerType(owner_type)
    # Read the stored flag: a bound ModelForm has already copied its value onto ``unit``.
    stored_default = BusinessUnit.objects.filter(pk=unit.pk, is_default=True).exists()
    if is_default:
        _undefault_others(unit)
    unit.is_default = is_default or stored_default
    unit.save()
    return unit


@transaction.atomic
def make_default(unit: BusinessUnit) -> BusinessUnit:
    if not unit.is_default:
        _undefault_others(unit)
        unit.is_default = True
        unit.save()
    return unit


def unit_usages(unit: BusinessUnit) -> list[str]:
    """What still refers to ``unit`` besides its own field mappings (groups' CRM sync
    settings, campaigns … — whichever models point at BusinessUnit), as readable lines."""
    found = []
    for rel in unit._meta.related_objects:
        model: type[Model] = rel.related_model
        if rel.get_accessor_name() == "field_mappings" or model.__module__.endswith(
                "historical") or model.__name__.startswith("Historical"):
            continue
        count = model._default_manager.filter(**{rel.field.name: unit}).count()
        if count:
            found.append(f"{count} {model._meta.verbose_name_plural}")
    return found


@transaction.atomic
def delete_unit(unit: BusinessUnit) -> None:
    """Delete a unit with its field mappings. Refused while it is the default and other
    units exist, or while other objects still use it."""
    others = BusinessUnit.objects.filter(tenant=unit.tenant).exclude(pk=unit.pk)
    if unit.is_default and others.exists():
        raise BusinessUnitError(
            _("“%(name)s” is the default unit. Make another unit the default first.")
            % {"name": unit.name})
    usages = unit_usages(unit)
    if usages:
        raise BusinessUnitError(
            _("“%(name)s” is still used by: %(usages)s. Assign them to another unit first.")
            % {"name": unit.name, "usages": ", ".join(usages)})
    for mapping in unit.field_mappings.all():
        for om in mapping.option_mappings.all():
            om.delete()
        mapping.delete()
    unit.delete()


def start_owner_refresh(tenant: Tenant, *, user: Any, language: str | None = None,
                        trigger: str = Trigger.MANUAL) -> JobRun:
    """Queue reading the CRM's active users and teams into the owner cache (C11).
    ``runner.NotReady`` before the settings are saved; ``runner.JobAlreadyActive`` while a
    refresh is queued or running."""
    if not settings_saved(tenant):
        raise runner.NotReady(str(NOT_READY_REASON))
    return runner.enqueue(tenant, JobKind.OWNER_REFRESH, user=user, trigger=trigger,
                          language=language)
