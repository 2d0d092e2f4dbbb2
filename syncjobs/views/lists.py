"""CRM marketing lists (S1): the cached lists with their state, a refresh, and the
confirmation that marks a not-yet-synced list for sync. Pages read the cache the lists
step keeps; the CRM is only ever called by the queued run (never inside a request)."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from orgsettings.models import OrgSettings
from syncjobs import runner
from syncjobs.engine.start import SyncRefused, start_sync
from syncjobs.models import JobKind, JobRun
from syncjobs.models.lists import LIVE_LIST_STATES, CrmList, ListLink
from tenants.access import TenantAccess, tenant_view


def _links_by_list(access: TenantAccess) -> dict[str, ListLink]:
    links = (ListLink.objects.filter(tenant=access.tenant, state__in=LIVE_LIST_STATES)
             .select_related("group")
             .annotate(members=Count("group__memberships",
                                     filter=Q(group__memberships__subscriber__merged_into=None))))
    return {str(link.list_id): link for link in links}


@tenant_view()
def crm_lists(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    lists = list(CrmList.objects.filter(tenant=access.tenant, exists=True))
    links = _links_by_list(access)
    rows = [(crm, links.get(str(crm.list_id))) for crm in lists]
    latest = JobRun.objects.filter(tenant=access.tenant, kind=JobKind.SYNC).first()
    return render(request, "syncjobs/crm_lists.html", {
        "access": access, "rows": rows, "latest": latest,
        "refreshed": max((c.last_seen for c in lists if c.last_seen), default=None),
    })


def _queue(request: HttpRequest, access: TenantAccess, list_id: str | None = None,
           mark: bool = False) -> HttpResponse:
    try:
        run = start_sync(access.tenant, "lists", user=request.user, language=get_language(),
                         list_id=list_id, mark=mark)
    except SyncRefused as exc:
        messages.error(request, exc.explanation)
        return redirect("syncjobs:crm_lists", tenant=access.tenant.slug)
    except runner.JobAlreadyActive as exc:
        messages.info(request, _("A sync is already queued or running; start this one again "
                                 "after it has ended."))
        return redirect(exc.run)
    return redirect(run)


@require_POST
@tenant_view(write=True)
def crm_lists_refresh(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    return _queue(request, access)


@tenant_view(write=True)
def crm_list_sync(request: HttpRequest, access: TenantAccess, list_id: uuid.UUID) -> HttpResponse:
    """GET: what syncing the list will do. POST: queue the run that marks and imports it."""
    crm = access.get(CrmList.objects.all(), list_id=list_id, exists=True)
    link = _links_by_list(access).get(str(crm.list_id))
    if link is not None:
        messages.info(request, _("This list is synced already (group “%(group)s”).")
                      % {"group": link.group.name})
        return redirect("syncjobs:crm_lists", tenant=access.tenant.slug)
    if not crm.active or not crm.member_type:
        raise Http404
    if request.method == "POST":
        return _queue(request, access, list_id=str(crm.list_id), mark=True)
    org = OrgSettings.objects.filter(tenant=access.tenant).first()
    return render(request, "syncjobs/crm_list_confirm.html", {
        "access": access, "crm": crm,
        "bidirectional": bool(org and org.bidirectional_sync),
    })
