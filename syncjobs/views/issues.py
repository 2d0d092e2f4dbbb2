"""Records that could not sync (N3): the list with its filter, one issue's reason, and the
retry / ignore actions for one issue or all issues of one reason (administrators only)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from syncjobs import issue_groups, services
from syncjobs.models import SyncIssue
from syncjobs.record_names import crm_record
from syncjobs.starting import next_url
from tenants.access import TenantAccess, tenant_view

PAGE_SIZE = 50
HISTORY_SIZE = 100  # an issue's attempts shown, newest first


def _filters() -> list[tuple[str, str]]:
    return [("open", _("Open and retrying")), ("retrying", _("Retrying")),
            ("ignored", _("Ignored")), ("resolved", _("Resolved")), ("all", _("All"))]


def _list_url(access: TenantAccess) -> str:
    return reverse("syncjobs:issues", kwargs={"tenant": access.tenant.slug})


@tenant_view()
def issue_list(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    state = request.GET.get("state", "open")
    if state not in services.ISSUE_FILTERS:
        state = "open"
    page = Paginator(services.issues_for(access.tenant, state), PAGE_SIZE).get_page(
        request.GET.get("page"))
    return render(request, "syncjobs/issues.html", {
        "access": access, "page": page, "state": state, "filters": _filters(),
        "filter_query": urlencode({"state": state}),
        "open_count": services.issues_for(access.tenant, "open").count(),
    })


@tenant_view()
def issue_detail(request: HttpRequest, access: TenantAccess, pk: int) -> HttpResponse:
    issue = access.get(SyncIssue.objects.select_related("subscriber", "run__tenant"), pk=pk)
    return render(request, "syncjobs/issue_detail.html", {
        "access": access, "issue": issue, "record": crm_record(issue),
        "history": issue.history.select_related("run__tenant")[:HISTORY_SIZE]})


def _report(request: HttpRequest, outcome: services.RetryOutcome) -> None:
    if outcome.refused is not None:
        messages.warning(request, services.retry_message(outcome))
    else:
        messages.success(request, services.retry_message(outcome))


@require_POST
@tenant_view(write=True)
def issue_retry(request: HttpRequest, access: TenantAccess, pk: int) -> HttpResponse:
    issue = access.get(SyncIssue.objects.select_related("subscriber"), pk=pk)
    outcome = services.retry_issues(access.tenant, [issue], user=request.user,
                                    language=get_language())
    _report(request, outcome)
    return redirect(reverse("syncjobs:issue", kwargs={"tenant": access.tenant.slug,
                                                      "pk": issue.pk}))


@require_POST
@tenant_view(write=True)
def issue_retry_all(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    outcome = services.retry_all(access.tenant, user=request.user, language=get_language())
    if outcome.retried:
        _report(request, outcome)
    else:
        messages.info(request, _("There are no open issues to retry."))
    return redirect(_list_url(access))


@require_POST
@tenant_view(write=True)
def issue_ignore(request: HttpRequest, access: TenantAccess, pk: int) -> HttpResponse:
    issue = access.get(SyncIssue.objects.select_related("tenant"), pk=pk)
    services.ignore(issue, user=request.user)
    messages.info(request, _("The issue is ignored: it is no longer listed as open. A later "
                             "successful sync of the record resolves it."))
    return redirect(_list_url(access))


def _health_url(request: HttpRequest, access: TenantAccess) -> str:
    return next_url(request, reverse("syncjobs:health", kwargs={"tenant": access.tenant.slug}))


@require_POST
@tenant_view(write=True)
def issue_group_retry(request: HttpRequest, access: TenantAccess, key: str) -> HttpResponse:
    """Retry every open issue that has this reason (issue_groups: one step, code, text)."""
    outcome = issue_groups.retry_group(access.tenant, key, user=request.user)
    if outcome.retried:
        _report(request, outcome)
    else:
        messages.info(request, _("No open issue has this reason any more."))
    return redirect(_health_url(request, access))


@require_POST
@tenant_view(write=True)
def issue_group_ignore(request: HttpRequest, access: TenantAccess, key: str) -> HttpResponse:
    ignored = issue_groups.ignore_group(access.tenant, key)
    if ignored:
        messages.info(request, ngettext(
            "%(n)s issue is ignored: it is no longer listed as open. A later successful "
            "sync of the record resolves it.",
            "%(n)s issues are ignored: they are no longer listed as open. A later "
            "successful sync of a record resolves its issue.", ignored) % {"n": ignored})
    else:
        messages.info(request, _("No open issue has this reason any more."))
    return redirect(_health_url(request, access))
