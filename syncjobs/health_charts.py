"""The sync health page's charts (issue #20): the latest syncs (records changed, records
that failed, duration) and reactions per campaign per day. One query per chart; the
pictures are drawn by ``syncjobs.svg_charts``."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta

from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from audience.models import Campaign, Reaction
from syncjobs.models import JobKind, JobRun, JobStatus
from syncjobs.svg_charts import Chart, Series
from tenants.models import Tenant

RUNS = 30  # syncs shown, newest last
DAYS = 14  # days of reactions shown
CAMPAIGNS = 5  # campaigns with the most reactions in those days

# Step counters that count a record changed on one side or the other (syncjobs.engine).
CHANGE_KEYS = frozenset(
    {
        "created",
        "linked",
        "merged",
        "relinked",
        "updated",
        "written",
        "fields_updated",
        "subscribers_created",
        "subscribers_linked",
        "subscribers_updated",
        "taken_over",
        "crm_members_added",
        "crm_members_removed",
        "group_members_added",
        "group_members_removed",
        "opt_ins_written",
        "opt_outs_written",
        "opted_in",
        "reactivated",
        "resubscribed",
        "state_changed",
        "unsubscribed",
        "unsubscribes_written",
        "unlinked_deleted",
        "unsubscribed_deleted",
        "erased_deleted",
    }
)


def records_changed(run: JobRun) -> int:
    return sum(
        int(n or 0)
        for values in (run.counters or {}).values()
        if isinstance(values, dict)
        for key, n in values.items()
        if key in CHANGE_KEYS and isinstance(n, int)
    )


def recent_syncs(tenant: Tenant) -> list[JobRun]:
    """The tenant's latest ended syncs (no dry runs), oldest first."""
    runs = (
        JobRun.objects.filter(
            tenant=tenant,
            kind=JobKind.SYNC,
            status__in=[JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED],
        )
        .exclude(params__has_key="dry_run")
        .select_related("tenant")[:RUNS]
    )
    return list(reversed(runs))


def run_charts(runs: list[JobRun]) -> tuple[Chart, Chart]:
    labels = [f"#{run.pk}" for run in runs]
    changes = Chart(
        id="chart-sync-records",
        title=_("Records per sync"),
        desc=_(
            "Records each of the latest %(n)s syncs changed, and records it could not "
            "sync, oldest first."
        )
        % {"n": len(runs)},
        x_title=_("Sync run"),
        y_title=_("Records"),
        x_labels=labels,
        bars=True,
        series=[
            Series("changed", _("Records changed"), [float(records_changed(r)) for r in runs]),
            Series(
                "failed", _("Records that could not sync"), [float(r.issues_left) for r in runs]
            ),
        ],
    )
    duration = Chart(
        id="chart-sync-duration",
        title=_("Sync duration"),
        desc=_("How long each of the latest %(n)s syncs took, in seconds, oldest first.")
        % {"n": len(runs)},
        x_title=_("Sync run"),
        y_title=_("Seconds"),
        x_labels=labels,
        series=[
            Series(
                "duration",
                _("Duration (seconds)"),
                [round(r.duration_seconds or 0.0, 1) for r in runs],
            )
        ],
    )
    return changes, duration


def reactions_chart(tenant: Tenant, today: dt.date | None = None) -> Chart:
    """Reactions per day of the campaigns with the most reactions in the last days."""
    today = today or timezone.localdate()
    days = [today - timedelta(days=DAYS - 1 - i) for i in range(DAYS)]
    since = timezone.make_aware(dt.datetime.combine(days[0], dt.time.min))
    rows = (
        Reaction.objects.filter(tenant=tenant, occurred_at__gte=since)
        .annotate(day=TruncDate("occurred_at", tzinfo=timezone.get_current_timezone()))
        .values("campaign_id", "day")
        .annotate(n=Count("pk"))
        .order_by()
    )
    per_campaign: dict[int, dict[dt.date, int]] = {}
    for row in rows:
        per_campaign.setdefault(row["campaign_id"], {})[row["day"]] = row["n"]
    top = sorted(per_campaign, key=lambda c: -sum(per_campaign[c].values()))[:CAMPAIGNS]
    names = dict(Campaign.objects.filter(pk__in=top).values_list("pk", "name"))
    return Chart(
        id="chart-reactions",
        title=_("Reactions per campaign"),
        desc=_(
            "Opens, clicks and bounces per day over the last %(n)s days, for the "
            "campaigns with the most reactions."
        )
        % {"n": DAYS},
        x_title=_("Day"),
        y_title=_("Reactions"),
        x_labels=[formats.date_format(day, "SHORT_DATE_FORMAT") for day in days],
        series=[
            Series(
                f"campaign-{pk}",
                names.get(pk, f"#{pk}"),
                [float(per_campaign[pk].get(day, 0)) for day in days],
            )
            for pk in top
        ],
    )
