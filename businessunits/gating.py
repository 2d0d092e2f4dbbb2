"""Step gating (C7): business-unit actions need saved organisation settings."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from orgsettings.progress import settings_saved

__all__ = ["NOT_READY_REASON", "settings_saved"]

NOT_READY_REASON = _("Business units become available once the organisation settings "
                     "are saved.")
