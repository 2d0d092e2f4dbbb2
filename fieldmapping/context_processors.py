"""Warnings shown on every page of a tenant (C14)."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.translation import gettext as _

from fieldmapping.services import language_mapping_gaps


def tenant_warnings(request: HttpRequest) -> dict[str, list[str]]:
    access = getattr(request, "tenant_access", None)
    if access is None:
        return {}
    language = access.tenant.get_default_language_display()
    return {"tenant_warnings": [
        _("Business unit “%(unit)s” maps %(entity)s fields but not the subscriber's "
          "language. Until a CRM attribute is mapped to the field “Language” — or, when no "
          "CRM attribute holds it, the unit is given a fixed language — every record "
          "arrives with the tenant's default language (%(language)s).")
        % {"unit": unit.name, "entity": entity_type.label, "language": language}
        for unit, entity_type in language_mapping_gaps(access.tenant)
    ]}
