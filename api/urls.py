"""``/api/v1/``: the REST API (tenant-scoped under ``tenants/<slug>/``), its schema and docs."""

from __future__ import annotations

from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_update
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView
from rest_framework.routers import SimpleRouter

from api.views.account import (
    ObtainTokenView,
    RotateTokenView,
    TenantListView,
    TokenDetailView,
    TokenListView,
    token_page,
)
from api.views.businessunits import BusinessUnitViewSet, FieldMappingViewSet
from api.views.campaigns import CampaignViewSet, ReactionIngestView
from api.views.crmevents import ActivityDistributedView, ListMarkedView
from api.views.fields import SubscriberFieldViewSet
from api.views.groups import GroupViewSet
from api.views.health import SyncHealthView
from api.views.operator import OperatorInvitationViewSet, OperatorTenantViewSet
from api.views.orgsettings import OrgSettingsView
from api.views.privacy import (
    AccessExportView,
    ErasurePropagationViewSet,
    SubscriberAccessExportView,
    SubscriberEraseView,
)
from api.views.setup import SetupView, StartSyncingView
from api.views.setup_actions import (
    AttributePullViewSet,
    CrmAttributeViewSet,
    CrmOwnerViewSet,
    IntegrationCheckViewSet,
    PrepareView,
    ReissueView,
    RevokeView,
)
from api.views.subscribers import SubscriberViewSet
from api.views.syncjobs import IssueViewSet, RunViewSet

app_name = "api"

router = SimpleRouter(use_regex_path=False)
router.register("subscribers", SubscriberViewSet, basename="subscriber")
router.register("subscriber-fields", SubscriberFieldViewSet, basename="subscriber-field")
router.register("groups", GroupViewSet, basename="group")
router.register("campaigns", CampaignViewSet, basename="campaign")
router.register("runs", RunViewSet, basename="run")
router.register("sync-issues", IssueViewSet, basename="sync-issue")
router.register("erasures", ErasurePropagationViewSet, basename="erasure")
router.register("business-units", BusinessUnitViewSet, basename="business-unit")
router.register("business-units/<int:unit_pk>/field-mappings", FieldMappingViewSet,
                basename="field-mapping")
router.register("setup/integration-checks", IntegrationCheckViewSet,
                basename="integration-check")
router.register("setup/attribute-pulls", AttributePullViewSet, basename="attribute-pull")
router.register("crm-attributes", CrmAttributeViewSet, basename="crm-attribute")
router.register("crm-owners", CrmOwnerViewSet, basename="crm-owner")

# Operators (Django staff users): bootstrap tenants and invite their administrators.
operator_router = SimpleRouter(use_regex_path=False)
operator_router.register("operator/tenants", OperatorTenantViewSet, basename="operator-tenant")
operator_router.register("operator/tenants/<slug:slug>/invitations", OperatorInvitationViewSet,
                         basename="operator-invitation")

tenant_urls: list[URLPattern | URLResolver] = [
    path("", include(router.urls)),
    path("reactions/ingest/", ReactionIngestView.as_view(), name="reaction-ingest"),
    path("org-settings/", OrgSettingsView.as_view(), name="org-settings"),
    path("setup/", SetupView.as_view(), name="setup"),
    path("sync-health/", SyncHealthView.as_view(), name="sync-health"),
    path("setup/start-syncing/", StartSyncingView.as_view(), name="setup-start-syncing"),
    path("setup/prepare/", PrepareView.as_view(), name="setup-prepare"),
    path("setup/prepare/reissue/", ReissueView.as_view(), name="setup-prepare-reissue"),
    path("setup/prepare/revoke/", RevokeView.as_view(), name="setup-prepare-revoke"),
    path("crm-events/list-marked/", ListMarkedView.as_view(), name="crm-list-marked"),
    path("crm-events/activity-distributed/", ActivityDistributedView.as_view(),
         name="crm-activity-distributed"),
    path("subscribers/<int:pk>/erase/", SubscriberEraseView.as_view(), name="subscriber-erase"),
    path("subscribers/<int:pk>/personal-data/", SubscriberAccessExportView.as_view(),
         name="subscriber-personal-data"),
    path("personal-data/", AccessExportView.as_view(), name="personal-data"),
]

# The API documentation is Redoc, served from our static files. Redoc styles what it renders
# with <style> elements it creates and runs its search in a worker made from a blob, so this
# page alone allows inline styles and blob workers (never inline scripts). It shows the
# schema only, no tenant data (docs/security.md).
api_docs = csp_update({"style-src": [UNSAFE_INLINE], "worker-src": [SELF, "blob:"]})(
    SpectacularRedocView.as_view(url_name="api:schema", template_name="api/redoc.html"))

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", api_docs, name="docs"),
    path("auth/token/", ObtainTokenView.as_view(), name="token-obtain"),
    path("auth/token/rotate/", RotateTokenView.as_view(), name="token-rotate"),
    path("auth/tokens/", TokenListView.as_view(), name="token-list"),
    path("auth/tokens/<int:pk>/", TokenDetailView.as_view(), name="token-detail"),
    path("account/token/", token_page, name="token-page"),
    path("tenants/", TenantListView.as_view(), name="tenant-list"),
    path("", include(operator_router.urls)),
    path("tenants/<slug:tenant>/", include(tenant_urls)),
]
