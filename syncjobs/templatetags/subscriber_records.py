"""The CRM side of a subscriber's page (audience's template includes it: audience never
imports syncjobs, the page composes both)."""

from __future__ import annotations

from typing import Any

from django import template

from audience.models import Subscriber
from syncjobs.models import JobRun
from syncjobs.services import mode_label
from syncjobs.subscriber_records import linked_records, sync_history

register = template.Library()


@register.inclusion_tag("syncjobs/_subscriber_records.html", takes_context=True)
def subscriber_records(context: dict[str, Any], subscriber: Subscriber) -> dict[str, Any]:
    records = linked_records(subscriber)
    runs: list[JobRun] = sync_history(subscriber, records)
    return {
        "current_tenant": context.get("current_tenant"),
        "subscriber": subscriber,
        "records": records,
        "runs": [(run, mode_label(str(run.params.get("mode", "")))) for run in runs],
    }
