""""Sync now" (S12): for the tenant (runs page), a group (group page) and one subscriber
(subscriber page). Administrators only; the run itself calls the CRM, never the request."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from audience.models import Subscriber, SubscriberGroup
from syncjobs import services
from syncjobs.starting import next_url
from tenants.access import TenantAccess, tenant_view

PAGE_MODES = (*services.TENANT_MODES, "group", "subscriber")
REACTIONS = "reactions"  # the runs page's "Export reactions now": a reaction export run


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


@require_POST
@tenant_view(write=True)
def sync_start(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    """POST ``mode`` (incremental, full, group, subscriber, or ``reactions`` for a reaction
    export), ``group`` / ``subscriber`` ids for those modes, ``dry_run`` (report only), and
    ``next`` (where to go back to; default: the run's page)."""
    mode = request.POST.get("mode", "incremental")
    dry_run = request.POST.get("dry_run") == "1"
    if (mode not in PAGE_MODES and mode != REACTIONS) or (mode == REACTIONS and dry_run):
        return HttpResponseBadRequest(_("Unknown sync mode."))
    group = subscriber = None
    if mode == "group":
        group = access.get(SubscriberGroup.objects.all(), pk=_int(request.POST.get("group")))
    if mode == "subscriber":
        subscriber = access.get(Subscriber.objects.all(),
                                pk=_int(request.POST.get("subscriber")))
    try:
        if mode == REACTIONS:
            run = services.start_manual_reaction_export(access.tenant, user=request.user,
                                                        language=get_language())
        else:
            run = services.start_manual_sync(access.tenant, mode, user=request.user,
                                             group=group, subscriber=subscriber,
                                             language=get_language(), dry_run=dry_run)
    except services.StartRefused as exc:
        if exc.run is not None:
            messages.warning(request, format_html(
                '{} <a href="{}">{}</a>', exc.explanation, exc.run.get_absolute_url(),
                _("Show the active run")))
        else:
            messages.error(request, exc.explanation)
        return redirect(next_url(request, reverse("syncjobs:list",
                                                  kwargs={"tenant": access.tenant.slug})))
    if mode == REACTIONS:
        messages.success(request, _("%(kind)s started.") % {"kind": run.get_kind_display()})
    elif dry_run:
        messages.success(request, _("Dry run (%(mode)s) started: it reports what a sync would "
                                    "do and changes nothing.") % {
                                        "mode": services.mode_label(mode)})
    else:
        messages.success(request, _("%(kind)s (%(mode)s) started.") % {
            "kind": run.get_kind_display(), "mode": services.mode_label(mode)})
    return redirect(next_url(request, run.get_absolute_url()))

