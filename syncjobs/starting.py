"""Starting a job from a page and showing its latest run: what views of other apps use
(docs/architecture.md: views → syncjobs to start a job and read its progress)."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from syncjobs import runner
from syncjobs.models import JobRun
from tenants.access import TenantAccess
from tenants.models import Tenant


def latest_run(tenant: Tenant, kind: str) -> JobRun | None:
    return JobRun.objects.filter(tenant=tenant, kind=kind).select_related("tenant").first()


def next_url(request: HttpRequest, fallback: str) -> str:
    """``next`` of the POST when it is a local URL, else ``fallback``."""
    wanted = request.POST.get("next") or ""
    if wanted and url_has_allowed_host_and_scheme(
            wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return wanted
    return fallback


def start_from_request(request: HttpRequest, access: TenantAccess, kind: str,
                       start: Callable[[], JobRun] | None = None) -> HttpResponse:
    """POST handler body: enqueue ``kind`` for the tenant, or explain that one is running.

    ``start`` is the app's service that gates and queues the job (the API calls the same
    one); it may raise ``runner.NotReady``, which the caller explains.
    htmx requests get the run's progress partial (with the refusal, if any); others are
    redirected to ``next`` (a local URL) or to the run's page, with a message.
    """
    access.require_write()
    refused = False
    try:
        run = start() if start is not None else runner.enqueue(access.tenant, kind,
                                                               user=request.user)
    except runner.JobAlreadyActive as exc:
        run, refused = exc.run, True
    if getattr(request, "htmx", False):
        return render(request, "syncjobs/_started.html",
                      {"run": run, "refused": refused, "access": access})
    if refused:
        messages.warning(request, format_html(
            '{} <a href="{}">{}</a>',
            _("%(kind)s is already %(status)s; a second one was not started.")
            % {"kind": run.get_kind_display(), "status": run.get_status_display().lower()},
            run.get_absolute_url(), _("Show the running job")))
    else:
        messages.success(request, _("%(kind)s started.") % {"kind": run.get_kind_display()})
    return redirect(next_url(request, run.get_absolute_url()))
