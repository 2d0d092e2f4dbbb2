"""What a sync issue's CRM record is called, for people: a name and a link that opens the
record in Dynamics, instead of a table name and a GUID (#17)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from mailworx_crm.entity_types import EntityType
from orgsettings.crm_url import parse_crm_url
from orgsettings.models import OrgSettings
from syncjobs.models import RecordLink, SyncIssue
from syncjobs.models.lists import CrmList, ListLink

# Tables issues name besides contacts, accounts and leads (the engine's entity types).
OTHER_TABLES: dict[str, Promise] = {
    "list": _("Marketing list"),
    "campaign": _("Campaign"),
    "campaignactivity": _("Campaign activity"),
    "mwx_emailreaction": _("Email reaction"),
}


@dataclass(frozen=True)
class CrmRecord:
    table_label: str
    name: str  # empty when mailworx knows no name for it
    url: str  # opens the record in Dynamics; empty without a CRM URL


def table_label(table: str) -> str:
    if table in EntityType.values:
        return str(EntityType(table).label)
    return str(OTHER_TABLES.get(table, table))


def crm_record(issue: SyncIssue) -> CrmRecord | None:
    if issue.crm_id is None:
        return None
    return CrmRecord(table_label(issue.entity_type), _known_name(issue),
                     record_url(issue.tenant_id, issue.entity_type, str(issue.crm_id)))


def record_url(tenant_id: int, table: str, crm_id: str, *, crm_url: str | None = None) -> str:
    """Dynamics' own address of a record: ``<organisation URL>/main.aspx?etn=<table>&id=<id>
    &pagetype=entityrecord`` — the one place that builds it (issues, subscriber pages, API).

    The organisation URL is the CRM URL as parsed for the connection (C3): Online
    ``https://contoso.crm4.dynamics.com``; on-premise it carries the organisation as its
    path (``https://crm.example.com/contoso``), and main.aspx lives below it.
    ``crm_url``: the tenant's CRM URL when the caller has read it already (lists)."""
    if crm_url is None:
        crm_url = tenant_crm_url(tenant_id)
    base = organisation_url(crm_url)
    if not base or not table:
        return ""
    query = urlencode({"etn": table, "id": crm_id, "pagetype": "entityrecord"})
    return f"{base}/main.aspx?{query}"


def organisation_url(crm_url: str) -> str:
    """The normalised organisation URL (no trailing slash); as typed if it cannot be read."""
    if not crm_url.strip():
        return ""
    try:
        return parse_crm_url(crm_url).base_url
    except ValidationError:
        return crm_url.strip().rstrip("/")


def tenant_crm_url(tenant_id: int) -> str:
    return (OrgSettings.objects.filter(tenant_id=tenant_id).values_list("crm_url", flat=True)
            .first() or "")


def _known_name(issue: SyncIssue) -> str:
    crm_id = str(issue.crm_id)
    if issue.entity_type == "list":
        cached = CrmList.objects.filter(tenant_id=issue.tenant_id, list_id=crm_id)
        name = cached.values_list("name", flat=True).first()
        if name:
            return name
        return ListLink.objects.filter(tenant_id=issue.tenant_id, list_id=crm_id
                                       ).values_list("list_name", flat=True).first() or ""
    if issue.entity_type in EntityType.values:
        if issue.subscriber_id is not None:
            return issue.subscriber.email if issue.subscriber else ""
        email = (RecordLink.objects.filter(tenant_id=issue.tenant_id, crm_id=crm_id)
                 .values_list("subscriber__email", flat=True).first())
        return email or ""
    return ""
