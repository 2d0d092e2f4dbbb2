"""Business operations on organisation settings (C2-C8). Views call these; no signals."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from orgsettings.crm_url import parse_crm_url
from orgsettings.destinations import check_destination, destination
from orgsettings.models import Deployment, OrgSettings
from orgsettings.progress import mailworx_prepared, settings_saved, start_blockers
from syncjobs import runner
from syncjobs.models import JobKind, JobRun, Trigger
from tenants.models import Tenant

# secret field -> its non-secret witness, so history can say "changed" (N4/N5)
SECRET_WITNESSES = {
    "client_secret": "client_secret_changed_at",
    "onprem_password": "onprem_password_changed_at",
}
# Changing any of these (or a secret) asks for a new integration check before syncs (C9).
CONNECTION_FIELDS = ("crm_url", "deployment", "directory_tenant_id", "client_id",
                     "onprem_username", "authority_url", "ca_bundle")
SETTINGS_FIELDS = frozenset({
    "crm_url", "deployment", "directory_tenant_id", "client_id", "onprem_username",
    "authority_url", "ca_bundle", "export_opens", "export_clicks", "export_bounces",
    "reaction_export_interval_minutes", "write_back_unsubscribes", "reaction_mode",
    "bidirectional_sync", "reactivate_deactivated", "sync_interval_minutes", "sync_paused",
    "reconcile_interval_hours", "crm_resubscribe",
    # Privacy (N7, docs/consent.md).
    "erasure_in_crm", "crm_deletion", "log_retention_days", "consent_history_retention_days",
})


Actor = AbstractBaseUser | AnonymousUser | None


def acting_user(user: Actor) -> AbstractBaseUser | None:
    return user if isinstance(user, AbstractBaseUser) else None


class SettingsError(Exception):
    """The save was refused as a whole; the message is shown to the admin."""


class MissingSecretError(SettingsError):
    def __init__(self, tenants: list[Tenant], deployment: str) -> None:
        self.tenants = tenants
        names = ", ".join(t.name for t in tenants)
        secret = _("client secret") if deployment == Deployment.ONLINE else _("password")
        super().__init__(ngettext(
            "Nothing was saved: %(tenants)s has no %(secret)s yet. Enter one.",
            "Nothing was saved: %(tenants)s have no %(secret)s yet. Enter one.",
            len(tenants),
        ) % {"tenants": names, "secret": secret})


# What a stored secret was entered for: the places it is sent to and the account it opens.
# Changing any of them without entering the secret again would send the old secret to a
# new place (a changed authority or CRM URL could be anyone's server).
SECRET_BINDINGS = {
    "client_secret": ("crm_url", "authority_url", "directory_tenant_id", "client_id"),
    "onprem_password": ("crm_url", "onprem_username"),
}


class SecretBindingError(SettingsError):
    """A field the stored secret is bound to changed, but no new secret was entered."""

    def __init__(self, tenants: list[Tenant], deployment: str,
                 changed: list[str]) -> None:
        self.tenants = tenants
        names = ", ".join(t.name for t in tenants)
        online = deployment == Deployment.ONLINE
        secret = _("client secret") if online else _("password")
        super().__init__(ngettext(
            "Nothing was saved: for %(tenants)s, %(fields)s changed, and the stored "
            "%(secret)s was entered for the old value. Enter the %(secret)s again, so it is "
            "never sent to a place it was not meant for.",
            "Nothing was saved: for %(tenants)s, %(fields)s changed, and their stored "
            "%(secret)s was entered for the old value. Enter the %(secret)s again, so it is "
            "never sent to a place it was not meant for.",
            len(tenants),
        ) % {"tenants": names, "fields": ", ".join(changed), "secret": secret})


def _binding_labels() -> dict[str, str]:
    return {"crm_url": _("the CRM URL"), "authority_url": _("the sign-in authority"),
            "directory_tenant_id": _("the directory (tenant) ID"),
            "client_id": _("the application (client) ID"),
            "onprem_username": _("the user name")}


def binding_of(obj: OrgSettings, field: str) -> dict[str, str]:
    """The values ``field``'s secret is bound to, as the settings hold them now."""
    return {name: _norm(getattr(obj, name)) for name in SECRET_BINDINGS[field]}


def _unbound_secret(obj: OrgSettings, before: Mapping[str, Any],
                    new_secrets: Mapping[str, str]) -> list[str]:
    """The bound fields that differ from what the kept secret of the deployment was
    entered for. Compared with the record made when the secret was entered — not with the
    previous save, which a switch to the other deployment and back could have changed —
    or, for a secret entered before that record existed, with the previous save."""
    field = secret_field_for(obj.deployment)
    if not obj.pk or new_secrets.get(field) or not getattr(obj, field):
        return []
    entered_for = (obj.secret_bindings or {}).get(field) or {
        name: _norm(before[name]) for name in SECRET_BINDINGS[field]}
    now = binding_of(obj, field)
    labels = _binding_labels()
    return [str(labels[name]) for name in SECRET_BINDINGS[field]
            if entered_for.get(name, "") != now[name]]


def _norm(value: Any) -> str:
    return str(value or "").strip().rstrip("/").lower()


def _org_change_blocked(tenant: Tenant, old_api_url: str, new_api_url: str) -> bool:
    """True when the change points at another organisation while records are linked (S14):
    the engine's links, cursors and issues would then describe the wrong organisation.
    (The links are read through the tenant's reverse relation: syncjobs builds on this app.)"""
    if not old_api_url or _norm(old_api_url) == _norm(new_api_url):
        return False
    return tenant.record_links.exists()



def secret_field_for(deployment: str) -> str:
    return "client_secret" if deployment == Deployment.ONLINE else "onprem_password"


def _check_destinations(tenants: list[Tenant], values: Mapping[str, Any]) -> None:
    """SPEC N8 for every door (the form checks its own tenant; this covers "apply to
    several tenants", the API and commands): the CRM URL and, for Online, the authority
    must be destinations mailworx may connect to, wherever one is new for a tenant.
    ``ValidationError`` keyed by the field."""
    stored = {s.tenant_id: s for s in OrgSettings.objects.filter(tenant__in=tenants)}
    fields = ["crm_url"]
    if values["deployment"] == Deployment.ONLINE and values.get("authority_url"):
        fields.append("authority_url")
    for name in fields:
        new = values[name]
        unchanged = True
        for tenant in tenants:
            obj = stored.get(tenant.pk)
            usable = obj is not None and (name == "crm_url" or obj.deployment == Deployment.ONLINE)
            unchanged &= usable and destination(getattr(obj, name)) == destination(new)
        if unchanged:
            continue
        try:
            check_destination(new)
        except ValidationError as exc:
            raise ValidationError({name: exc.messages}) from None


def save_org_settings(
    tenants: Iterable[Tenant],
    values: Mapping[str, Any],
    new_secrets: Mapping[str, str],
    *,
    user: Actor,
) -> list[OrgSettings]:
    """Save the same settings for every tenant in ``tenants``, all or none (C2).

    A blank secret keeps each tenant's own — unless a field the secret is bound to changed
    (``SECRET_BINDINGS``: the places it is sent to, the account it opens), which fails the
    whole save (``SecretBindingError`` naming the tenants). A tenant that ends up without
    the secret its deployment needs fails it too (``MissingSecretError``). So does a CRM URL
    or authority mailworx may not connect to (SPEC N8, ``ValidationError``), checked
    before the transaction: a DNS look-up may take seconds.
    """
    unknown = set(values) - SETTINGS_FIELDS
    if unknown:
        raise ValueError(f"not a settings field: {sorted(unknown)}")
    tenant_list = list(tenants)
    _check_destinations(tenant_list, values)
    return _save_org_settings(tenant_list, values, new_secrets, user=user)


@transaction.atomic
def _save_org_settings(
    tenants: list[Tenant],
    values: Mapping[str, Any],
    new_secrets: Mapping[str, str],
    *,
    user: Actor,
) -> list[OrgSettings]:
    endpoint = parse_crm_url(values["crm_url"], values["deployment"])
    now = timezone.now()
    tenant_list = sorted(tenants, key=lambda t: t.name)
    existing = {
        s.tenant_id: s
        for s in OrgSettings.objects.select_for_update().filter(tenant__in=tenant_list)
    }
    pending: list[OrgSettings] = []
    missing: list[Tenant] = []
    unbound: dict[int, list[str]] = {}
    for tenant in tenant_list:
        obj = existing.get(tenant.pk) or OrgSettings(tenant=tenant)
        before = [getattr(obj, name) for name in CONNECTION_FIELDS]
        bound_before = {name: getattr(obj, name)
                        for names in SECRET_BINDINGS.values() for name in names}
        old_api_url = obj.web_api_url if obj.pk else ""
        for name, value in values.items():
            setattr(obj, name, value)
        obj.crm_url = endpoint.base_url
        obj.organisation_name = endpoint.organisation_name
        obj.web_api_url = endpoint.web_api_url
        if _org_change_blocked(tenant, old_api_url, obj.web_api_url):
            raise SettingsError(_(
                "Nothing was saved: %(tenant)s has subscribers linked to records of its current "
                "CRM organisation. Pointing it at another organisation needs an explicit reset "
                "of the links and sync cursors first (S14).") % {"tenant": tenant.name})
        changed = _unbound_secret(obj, bound_before, new_secrets)
        if changed:
            unbound[tenant.pk] = changed
        for name, witness in SECRET_WITNESSES.items():
            new = new_secrets.get(name) or ""
            if new and new != getattr(obj, name):
                setattr(obj, name, new)
                setattr(obj, witness, now)
                obj.connection_changed_at = now
            if new:  # what the secret was entered for, from now on
                obj.secret_bindings = {**(obj.secret_bindings or {}),
                                       name: binding_of(obj, name)}
        if obj.pk is None or before != [getattr(obj, name) for name in CONNECTION_FIELDS]:
            obj.connection_changed_at = now
        obj.updated_by = acting_user(user)  # type: ignore[assignment]
        if not obj.has_credentials:
            missing.append(tenant)
        pending.append(obj)
    if unbound:
        # C2 "a blank secret keeps each tenant's own" never extends to a changed binding.
        refused = [t for t in tenant_list if t.pk in unbound]
        fields = sorted({name for names in unbound.values() for name in names})
        raise SecretBindingError(refused, values["deployment"], fields)
    if missing:
        raise MissingSecretError(missing, values["deployment"])
    for obj in pending:
        obj.full_clean(exclude=["tenant", "updated_by"])
        obj.save()
    return pending


# --- C8 prepare mailworx -------------------------------------------------------------


# --- C9 the integration check ----------------------------------------------------------


def check_refusal(tenant: Tenant) -> str:
    """Why the integration check may not start yet ("" when it may): the settings and
    "prepare mailworx" come first. The page and the API show these words."""
    if not settings_saved(tenant):
        return _("Save the organisation settings first.")
    if not mailworx_prepared(tenant):
        return _("Prepare mailworx first.")
    return ""


def start_integration_check(tenant: Tenant, *, user: Actor, language: str | None = None,
                            trigger: str = Trigger.MANUAL) -> JobRun:
    """Queue the integration check (any member may: it changes nothing in the CRM).
    ``runner.NotReady`` while a step before it is missing; ``runner.JobAlreadyActive``
    (naming the run) while a check is queued or running."""
    reason = check_refusal(tenant)
    if reason:
        raise runner.NotReady(reason)
    return runner.enqueue(tenant, JobKind.INTEGRATION_CHECK, user=user, trigger=trigger,
                          language=language)


# --- C7 "Start syncing" -----------------------------------------------------------------


class StartSyncingRefused(Exception):
    """The setup is not finished; ``reasons`` says, per step, what is still missing."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(" ".join(reasons))
        self.reasons = reasons

    @property
    def explanation(self) -> str:
        return _("Syncing cannot start yet. Still to do: %(steps)s") % {
            "steps": " · ".join(self.reasons)}


@transaction.atomic
def start_syncing(tenant: Tenant, *, user: Actor) -> tuple[OrgSettings, bool]:
    """The setup's last step: from now on the schedule, the CRM side's reports and "Sync
    now" start syncs. Refused (``StartSyncingRefused``) until every step before it is done.
    Returns ``(settings, started now)``; taking the step again changes nothing."""
    org = OrgSettings.objects.select_for_update().filter(tenant=tenant).first()
    if org is not None and org.sync_started_at is not None:
        return org, False
    reasons = start_blockers(tenant)
    if reasons or org is None:
        raise StartSyncingRefused(reasons or [_("Save the organisation settings first.")])
    org.sync_started_at = timezone.now()
    org.sync_started_by = acting_user(user)  # type: ignore[assignment]
    org.save(update_fields=["sync_started_at", "sync_started_by", "updated_at"])
    return org, True
