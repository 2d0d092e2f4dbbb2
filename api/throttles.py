"""Request rates the API enforces (DRF throttling, answers 429 with Retry-After)."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


class CrmEventThrottle(SimpleRateThrottle):
    """What the CRM side reports, per tenant (rate: ``CRM_EVENTS_RATE``). An event refused
    here is not recorded; the CRM side retries after ``Retry-After``, and the scheduled
    sync finds marked lists and distributed activities anyway (S12)."""

    scope = "crm_events"

    def get_rate(self) -> str | None:
        # Read when asked, not when the class was defined, so the setting can change.
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        return str(rate) if rate is not None else None

    def get_cache_key(self, request: Request, view: Any) -> str:
        return self.cache_format % {"scope": self.scope,
                                    "ident": str(view.kwargs.get("tenant", ""))}
