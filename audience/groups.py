"""Subscriber groups, their members and their CRM sync setting (S5)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audience.models import GroupMembership, GroupSyncSetting, Subscriber, SubscriberGroup, SyncMode
from businessunits.models import BusinessUnit
from orgsettings.models import Deployment, OrgSettings
from tenants.models import Tenant

# DOMAIN\user: a NetBIOS domain name, a backslash, a sAMAccountName.
_DOMAIN_USER_RE = re.compile(r'^[^\\/:*?"<>|\s]{1,15}\\[^\\/\[\]:;|=,+*?<>"@\s]{1,104}$')


class GroupError(ValueError):
    """A group operation refused, with a message for the admin."""


def create_group(tenant: Tenant, name: str, description: str = "") -> SubscriberGroup:
    name = name.strip()
    if not name:
        raise GroupError(_("A group needs a name."))
    try:
        with transaction.atomic():
            return SubscriberGroup.objects.create(tenant=tenant, name=name,
                                                  description=description)
    except IntegrityError:
        raise GroupError(_("A group named “%(name)s” exists already.") % {"name": name}) from None


# Numbered names tried before giving up: "Name", "Name (2)" … "Name (999)".
FREE_NAME_TRIES = 1000


def create_group_with_free_name(tenant: Tenant, base: str,
                                description: str = "") -> SubscriberGroup:
    """A new group named ``base``, numbered when that name is taken ("Name (2)" …): group
    names are unique per tenant, and a group made by hand is never taken over."""
    base = base.strip()
    if not base:
        raise GroupError(_("A group needs a name."))
    limit = SubscriberGroup._meta.get_field("name").max_length or 200
    taken = set(SubscriberGroup.objects.filter(tenant=tenant, name__startswith=base[:limit - 6])
                .values_list("name", flat=True))
    for n in range(1, FREE_NAME_TRIES):
        suffix = f" ({n})" if n > 1 else ""
        name = base[:limit - len(suffix)].rstrip() + suffix
        if name in taken:
            continue
        try:
            return create_group(tenant, name, description)
        except GroupError:  # made meanwhile by someone else
            taken.add(name)
    raise GroupError(_("No free name is left for a group named “%(name)s”.") % {"name": base})


def add_members(group: SubscriberGroup, subscriber_ids: Iterable[int]) -> int:
    """Add live subscribers of the group's tenant; returns how many were new members."""
    ids = list(Subscriber.objects.live().filter(
        tenant_id=group.tenant_id, pk__in=list(subscriber_ids)).values_list("pk", flat=True))
    existing = set(GroupMembership.objects.filter(group=group, subscriber_id__in=ids)
                   .values_list("subscriber_id", flat=True))
    now = timezone.now()
    GroupMembership.objects.bulk_create(
        [GroupMembership(group=group, subscriber_id=i, added_at=now)
         for i in ids if i not in existing],
        ignore_conflicts=True, batch_size=500)
    return len([i for i in ids if i not in existing])


def remove_member(group: SubscriberGroup, subscriber: Subscriber) -> bool:
    deleted, _rows = GroupMembership.objects.filter(group=group, subscriber=subscriber).delete()
    return deleted > 0


def validate_future_owner(tenant: Tenant, owner: str) -> str:
    """The owner written the way that user logs in (S5), checked against the deployment.

    Without organisation settings yet, either form is accepted.
    """
    owner = owner.strip()
    if not owner:
        return ""
    deployment = (OrgSettings.objects.filter(tenant=tenant)
                  .values_list("deployment", flat=True).first())
    is_email = _is_email(owner)
    is_domain_user = bool(_DOMAIN_USER_RE.match(owner))
    if deployment == Deployment.ONLINE and not is_email:
        raise ValidationError(_(
            "This tenant's CRM is Online: write the owner as the email address the user signs "
            "in with, e.g. anna.schmidt@contoso.com."), code="owner_format")
    if deployment == Deployment.ON_PREMISE and not is_domain_user:
        raise ValidationError(_(
            "This tenant's CRM is on-premise: write the owner as DOMAIN\\user, e.g. "
            "CONTOSO\\aschmidt."), code="owner_format")
    if not deployment and not (is_email or is_domain_user):
        raise ValidationError(_(
            "Write the owner as an email address (CRM Online) or as DOMAIN\\user "
            "(on-premise)."), code="owner_format")
    return owner


def _is_email(value: str) -> bool:
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


def validate_business_unit(tenant: Tenant, unit: BusinessUnit | None) -> None:
    if unit is not None and unit.tenant_id != tenant.pk:
        raise ValidationError(_("Choose one of this tenant's business units."),
                              code="foreign_business_unit")


def owner_required(enabled: bool, mode: str) -> bool:
    """Whether a person saving the setting must name the future owner: the guide makes it
    a condition of the sync for groups that create CRM records (S5)."""
    return bool(enabled) and mode in (SyncMode.CREATE, SyncMode.BOTH)


def missing_owner_error() -> ValidationError:
    return ValidationError(_(
        "Name the owner of the records this group creates in the CRM (as that user signs "
        "in), or choose “Link existing CRM records only”."), code="owner_required")


def save_sync_setting(
    group: SubscriberGroup,
    *,
    enabled: bool = True,
    future_owner: str = "",
    entity_type: str = "contact",
    mode: str = SyncMode.BOTH,
    business_unit: BusinessUnit | None = None,
    require_owner: bool = False,
) -> GroupSyncSetting:
    """Create or change the group's CRM sync setting; ``ValidationError`` names the field.

    ``require_owner``: refuse an empty owner where :func:`owner_required` asks for one (the
    page and the API, where a person writes the setting)."""
    errors: dict[str, list[ValidationError]] = {}
    try:
        future_owner = validate_future_owner(group.tenant, future_owner)
    except ValidationError as exc:
        errors["future_owner"] = [exc]
    if require_owner and not future_owner and "future_owner" not in errors \
            and owner_required(enabled, mode):
        errors["future_owner"] = [missing_owner_error()]
    try:
        validate_business_unit(group.tenant, business_unit)
    except ValidationError as exc:
        errors["business_unit"] = [exc]
    if errors:
        raise ValidationError(errors)
    setting, _created = GroupSyncSetting.objects.update_or_create(group=group, defaults={
        "enabled": enabled, "future_owner": future_owner, "entity_type": entity_type,
        "mode": mode, "business_unit": business_unit,
    })
    return setting


def effective_business_unit(setting: GroupSyncSetting) -> BusinessUnit | None:
    """The setting's unit, or the tenant's default unit when it names none (S5)."""
    if setting.business_unit_id:
        return setting.business_unit
    return BusinessUnit.objects.filter(tenant_id=setting.group.tenant_id, is_default=True).first()
