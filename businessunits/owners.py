"""The reaction-owner picker (C11): the ``owner_refresh`` job body that caches the CRM's
active users and teams, and the cache queries the picker and the form use.

Only the job talks to the CRM; the picker and the validation read the cache.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from businessunits.models import CrmPrincipal, OwnerType
from dynamics import Principal
from mailworx_crm.texts import deferred as _
from orgsettings.connection import client_for
from syncjobs.runner import JobContext
from tenants.models import Tenant

PICKER_LIMIT = 20


def cache_is_empty(tenant: Tenant) -> bool:
    return not CrmPrincipal.objects.filter(tenant=tenant, is_active=True).exists()


def matching(tenant: Tenant, text: str, *, active_only: bool = True) -> QuerySet[CrmPrincipal]:
    """Cached principals whose name, email or user name contains every word of ``text``
    (the first five), users before teams, by name. The picker and the API search so."""
    qs = CrmPrincipal.objects.filter(tenant=tenant)
    if active_only:
        qs = qs.filter(is_active=True)
    for word in text.split()[:5]:
        qs = qs.filter(Q(name__icontains=word) | Q(email__icontains=word)
                       | Q(domain_name__icontains=word))
    return qs.order_by("-is_active", "principal_type", "name")


def search(tenant: Tenant, text: str, limit: int = PICKER_LIMIT) -> QuerySet[CrmPrincipal]:
    """Active cached principals whose name, email or user name contains ``text``."""
    return matching(tenant, text)[:limit]


def find_active(tenant: Tenant, crm_id: uuid.UUID | str) -> CrmPrincipal | None:
    try:
        key = uuid.UUID(str(crm_id))
    except ValueError:
        return None
    return CrmPrincipal.objects.filter(tenant=tenant, crm_id=key, is_active=True).first()


@transaction.atomic
def replace_cache(tenant: Tenant, principals: Sequence[Principal]) -> dict[str, int]:
    """Make the cache what the CRM listed: upsert each, mark the rest inactive."""
    now = timezone.now()
    existing = {p.crm_id: p for p in CrmPrincipal.objects.select_for_update()
                .filter(tenant=tenant)}
    seen: set[uuid.UUID] = set()
    added = 0
    for principal in principals:
        key = uuid.UUID(principal.id)
        if key in seen:
            continue
        seen.add(key)
        values: dict[str, Any] = {
            "name": principal.name[:200] or principal.id,
            "principal_type": OwnerType(principal.kind).value,
            "email": principal.email[:200], "domain_name": principal.domain_name[:1024],
            "is_active": True, "refreshed_at": now,
        }
        row = existing.get(key)
        if row is None:
            CrmPrincipal.objects.create(tenant=tenant, crm_id=key, **values)
            added += 1
        else:
            for name, value in values.items():
                setattr(row, name, value)
            row.save()
    gone = [k for k, row in existing.items() if k not in seen and row.is_active]
    CrmPrincipal.objects.filter(tenant=tenant, crm_id__in=gone).update(
        is_active=False, refreshed_at=now)
    return {"added": added, "deactivated": len(gone)}


def run_owner_refresh(ctx: JobContext) -> dict[str, Any]:
    """Job body of ``owner_refresh``: read the CRM's active users and teams."""
    ctx.progress(0, 2, _("Reading users"))
    with client_for(ctx.tenant) as client:
        users = client.users()
        ctx.progress(1, 2, _("Reading teams"))
        teams = client.teams()
    changes = replace_cache(ctx.tenant, [*users, *teams])
    ctx.count("users", len(users))
    ctx.count("teams", len(teams))
    ctx.progress(2, 2, _("Done"))
    ctx.log(_("%(users)s active users and %(teams)s teams cached; %(added)s new, "
              "%(gone)s no longer active.")
            % {"users": len(users), "teams": len(teams), "added": changes["added"],
               "gone": changes["deactivated"]})
    return {"users": len(users), "teams": len(teams), **changes}
