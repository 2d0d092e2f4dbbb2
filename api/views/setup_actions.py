"""The setup page's actions through the API (C8-C11), with the page's gating and refusals:
the same services, and a 409 with the page's words where the page refuses.

- ``setup/prepare/``: "prepare mailworx" — the credentials come back once, in the answer to
  the POST (``Cache-Control: no-store``); re-issue and revoke as on the page.
- ``setup/integration-checks/``: start the check (any member may, as on the page) and poll
  it: its steps and its verdict.
- ``setup/attribute-pulls/``: start the CRM attribute pull (administrators) and poll it.
- ``crm-attributes/``: the pulled catalogue, per table, with types, option values and
  whether an attribute is mappable; its ids are the ones field-mapping create takes.
- ``crm-owners/``: the cached CRM users and teams for reaction owners, searchable by name;
  ``crm-owners/refresh/`` reads them from the CRM again (a job).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from api.serializers.setup import (
    CredentialsSerializer,
    CrmAttributeSerializer,
    CrmPrincipalSerializer,
    IntegrationCheckSerializer,
    PreparedSerializer,
    RefusedSerializer,
    RevokedSerializer,
    prepared_state,
)
from api.serializers.syncjobs import JobRunSerializer
from api.views.base import TenantScopedMixin
from businessunits import owners
from businessunits import services as unit_services
from businessunits.models import CrmPrincipal, OwnerType
from fieldmapping import services as mapping_services
from fieldmapping.compat import is_mappable
from fieldmapping.models import AttributeType, CrmAttribute
from orgsettings import integration_access, services
from orgsettings.models import IntegrationAccess, OrgSettings
from syncjobs import runner
from syncjobs.models import JobKind, JobRun, Trigger


def refused(detail: str, run: JobRun | None = None) -> Response:
    return Response({"detail": detail, "active_run": run.pk if run is not None else None},
                    status=status.HTTP_409_CONFLICT)


def already_running(run: JobRun) -> str:
    """The page's words for a second start (syncjobs.starting.start_from_request)."""
    return _("%(kind)s is already %(status)s; a second one was not started.") % {
        "kind": run.get_kind_display(), "status": run.get_status_display().lower()}


# --- prepare mailworx (C8) ------------------------------------------------------------------


class PrepareView(TenantScopedMixin):
    """GET: whether mailworx is prepared (no secret). POST: prepare it — the answer is the
    only place the credentials are ever shown."""

    serializer_class = PreparedSerializer

    def _state(self) -> dict[str, Any]:
        access = (IntegrationAccess.objects.select_related("user", "created_by", "issued_by")
                  .filter(tenant=self.tenant).first())
        crm_url = (OrgSettings.objects.filter(tenant=self.tenant)
                   .values_list("web_api_url", flat=True).first() or "")
        return prepared_state(access, integration_access.webservice_url(), crm_url)

    @extend_schema(responses={200: PreparedSerializer})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(PreparedSerializer(self._state()).data)

    @extend_schema(request=None, responses={201: CredentialsSerializer, 409: RefusedSerializer},
                   description="Create the integration user and its credentials (C8). The "
                               "answer carries the password, the activation key and a token "
                               "once; nothing shows them again (re-issue for new ones). 409 "
                               "before the organisation settings are saved, or when mailworx "
                               "is prepared already.")
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return issue(request, self, integration_access.prepare_mailworx, status.HTTP_201_CREATED)


def issue(request: Request, view: TenantScopedMixin,
          issuer: Callable[..., integration_access.IssuedCredentials], code: int) -> Response:
    try:
        issued = issuer(view.tenant, user=request.user)
    except integration_access.PrepareError as exc:
        return refused(str(exc))
    response = Response(CredentialsSerializer({
        "username": issued.username, "password": issued.password,
        "activation_key": issued.activation_key, "token": issued.token,
        "webservice_url": issued.webservice_url,
        "crm_webservice_url": issued.crm_webservice_url,
        "issued_at": issued.access.issued_at,
    }).data, status=code)
    response["Cache-Control"] = "no-store"
    return response


class ReissueView(TenantScopedMixin):
    serializer_class = CredentialsSerializer

    @extend_schema(request=None, responses={200: CredentialsSerializer, 409: RefusedSerializer},
                   description="New password, activation key and token for the integration "
                               "user (shown once); the old ones stop working at once. 409 "
                               "when mailworx is not prepared.")
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return issue(request, self, integration_access.reissue_credentials, status.HTTP_200_OK)


class RevokeView(TenantScopedMixin):
    serializer_class = RevokedSerializer

    @extend_schema(request=None, responses={200: RevokedSerializer, 409: RefusedSerializer},
                   description="End the CRM side's access: the integration user, its token "
                               "and the activation key. 409 when mailworx is not prepared.")
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not integration_access.revoke_integration(self.tenant):
            return refused(_("mailworx is not prepared; there is no access to revoke."))
        return Response({"revoked": True, "detail": _(
            "Integration access revoked: the CRM side can no longer call mailworx for this "
            "tenant. Prepare mailworx again to give it new credentials.")})


# --- jobs of the setup page: integration check, attribute pull ----------------------------


class _SetupJobViewSet(TenantScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                       viewsets.GenericViewSet):
    """Runs of one job kind, newest first; POST starts one (202 with the run to poll)."""

    kind: str
    lookup_value_converter = "int"

    def get_queryset(self) -> QuerySet[JobRun]:
        if self.is_schema:
            return JobRun.objects.none()
        return (JobRun.objects.filter(tenant=self.tenant, kind=self.kind)
                .select_related("requested_by"))

    def start(self, request: Request) -> JobRun:
        raise NotImplementedError

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            run = self.start(request)
        except runner.NotReady as exc:
            return refused(exc.explanation)
        except runner.JobAlreadyActive as exc:
            return refused(already_running(exc.run), exc.run)
        return Response(self.get_serializer(run).data, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(create=extend_schema(
    request=None, responses={202: IntegrationCheckSerializer, 409: RefusedSerializer},
    description="Start the integration check (C9); any member may, as on the page (it "
                "changes nothing in the CRM). 202 with the check to poll. 409 with the reason "
                "before the settings are saved or mailworx is prepared, or while a check is "
                "queued or running (`active_run`)."))
class IntegrationCheckViewSet(_SetupJobViewSet):
    """Integration checks with their steps and verdict, newest first."""

    serializer_class = IntegrationCheckSerializer
    kind = JobKind.INTEGRATION_CHECK
    member_may_write = True

    def start(self, request: Request) -> JobRun:
        return services.start_integration_check(self.tenant, user=request.user,
                                                language=get_language(), trigger=Trigger.API)


@extend_schema_view(create=extend_schema(
    request=None, responses={202: JobRunSerializer, 409: RefusedSerializer},
    description="Read the CRM's attribute catalogue again (C10); 202 with the run to poll "
                "(`result`: `added`, `changed`, `vanished`, `type_changed`, "
                "`flagged_mappings`). 409 before the organisation settings are saved, or "
                "while a pull is queued or running (`active_run`)."))
class AttributePullViewSet(_SetupJobViewSet):
    """CRM attribute pulls, newest first."""

    serializer_class = JobRunSerializer
    kind = JobKind.ATTRIBUTE_PULL

    def start(self, request: Request) -> JobRun:
        return mapping_services.start_attribute_pull(
            self.tenant, user=request.user, language=get_language(), trigger=Trigger.API)


# --- the catalogue (C10) and the owner directory (C11) -----------------------------------


def _flag(value: str | None) -> bool | None:
    if value is None or value == "":
        return None
    return value.lower() in ("1", "true", "yes")


@extend_schema_view(list=extend_schema(parameters=[
    OpenApiParameter("table", OpenApiTypes.STR, description=(
        "Only this table's attributes (contact, account, lead, or a table a lookup points "
        "to).")),
    OpenApiParameter("type", OpenApiTypes.STR, enum=AttributeType.values),
    OpenApiParameter("mappable", OpenApiTypes.BOOL, description=(
        "true: only attributes a field mapping may use; false: only the others.")),
    OpenApiParameter("search", OpenApiTypes.STR, description=(
        "Part of the logical or display name.")),
    OpenApiParameter("logical_name", OpenApiTypes.STR, description="The exact logical name."),
    OpenApiParameter("include_vanished", OpenApiTypes.BOOL, description=(
        "Also attributes the last pull no longer found (present: false); mappings cannot "
        "choose them.")),
]))
class CrmAttributeViewSet(TenantScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                          viewsets.GenericViewSet):
    """The CRM attribute catalogue the last attribute pull read (C10), by table and name."""

    serializer_class = CrmAttributeSerializer
    lookup_value_converter = "int"

    def get_queryset(self) -> QuerySet[CrmAttribute]:
        if self.is_schema:
            return CrmAttribute.objects.none()
        qs = (CrmAttribute.objects.filter(tenant=self.tenant).prefetch_related("options")
              .order_by("entity", "logical_name"))
        params = self.request.query_params
        if self.action == "list" and not _flag(params.get("include_vanished")):
            qs = qs.filter(present=True)
        if params.get("table"):
            qs = qs.filter(entity=params["table"])
        if params.get("type"):
            qs = qs.filter(attribute_type=params["type"])
        if params.get("logical_name"):
            qs = qs.filter(logical_name=params["logical_name"])
        if text := params.get("search", "").strip()[:100]:
            qs = qs.filter(Q(logical_name__icontains=text) | Q(display_name_en__icontains=text)
                           | Q(display_name_de__icontains=text))
        mappable = _flag(params.get("mappable"))
        if mappable is not None:
            # The rule is fieldmapping.compat's (per attribute), never a copy of it.
            ids = [a.pk for a in qs if is_mappable(a) is mappable]
            qs = qs.filter(pk__in=ids)
        return qs


@extend_schema_view(list=extend_schema(parameters=[
    OpenApiParameter("search", OpenApiTypes.STR, description=(
        "Words of the name, email or user name (every word must match), as the owner "
        "picker searches.")),
    OpenApiParameter("type", OpenApiTypes.STR, enum=OwnerType.values),
    OpenApiParameter("include_inactive", OpenApiTypes.BOOL, description=(
        "Also users and teams the CRM no longer lists as active.")),
]))
class CrmOwnerViewSet(TenantScopedMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """The cached CRM users and teams (C11): read from the cache only, never from the CRM;
    ``refresh/`` reads them again in a job."""

    serializer_class = CrmPrincipalSerializer

    def get_queryset(self) -> QuerySet[CrmPrincipal]:
        if self.is_schema:
            return CrmPrincipal.objects.none()
        params = self.request.query_params
        # The owner picker's search (without its limit of 20: this list has pages).
        qs = owners.matching(self.tenant, params.get("search", "").strip()[:100],
                             active_only=not _flag(params.get("include_inactive")))
        if params.get("type"):
            qs = qs.filter(principal_type=params["type"])
        return qs

    @extend_schema(request=None, responses={202: JobRunSerializer, 409: RefusedSerializer},
                   description="Read the CRM's active users and teams into the cache (a job; "
                               "poll `runs/<id>/`). 409 before the organisation settings are "
                               "saved, or while a refresh is queued or running.")
    @action(detail=False, methods=["post"])
    def refresh(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            run = unit_services.start_owner_refresh(
                self.tenant, user=request.user, language=get_language(), trigger=Trigger.API)
        except runner.NotReady as exc:
            return refused(exc.explanation)
        except runner.JobAlreadyActive as exc:
            return refused(already_running(exc.run), exc.run)
        return Response(JobRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)
