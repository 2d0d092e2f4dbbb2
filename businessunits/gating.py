"""Step gating (C7): business-unit actions need saved organisation settings.

Placeholder for ``orgsettings.progress.settings_saved``; reconciled at merge.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from orgsettings.models import OrgSettings
from tenants.models import Tenant

NOT_READY_REASON = _("Business units become available once the organisation settings "
                     "are saved.")


def settings_saved(tenant: Tenant) -> bool:
    return OrgSettings.objects.filter(tenant=tenant).exists()
