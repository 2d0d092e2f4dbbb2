from __future__ import annotations

from typing import Any

from django import template
from django.template.loader import select_template
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from syncjobs.counter_labels import counter_label, step_label
from syncjobs.models import JobRun
from syncjobs.services import mode_label
from tenants.models import Tenant

register = template.Library()

# Counter groups of a sync run in pipeline order; ``http`` is shown on its own.
STEP_ORDER = ("reconcile", "backfill", "pull", "match", "push", "lists", "campaigns",
              "reactions")


@register.simple_tag
def job_result_template(run: JobRun) -> str:
    """The kind's own result template (``syncjobs/results/<kind>.html``) or the default."""
    names = [f"syncjobs/results/{run.kind}.html", "syncjobs/results/default.html"]
    return str(select_template(names).template.name)


@register.simple_tag
def latest_run(tenant: Tenant, kind: str) -> JobRun | None:
    """The tenant's latest run of ``kind`` (for pages of other apps showing the state)."""
    return JobRun.objects.filter(tenant=tenant, kind=kind).select_related("tenant").first()


def _label(name: str) -> str:
    return counter_label(name)


@register.filter
def step_counters(run: JobRun) -> list[dict[str, Any]]:
    """Per step: its counters ``[(label, n)]`` and skipped reasons ``[(reason, n)]``."""
    counters = run.counters or {}
    steps = [s for s in STEP_ORDER if isinstance(counters.get(s), dict)]
    steps += sorted(k for k, v in counters.items() if isinstance(v, dict)
                    and k not in STEP_ORDER and k != "http" and not k.startswith("_"))
    out = []
    for step in steps:
        values = counters[step]
        out.append({
            "step": step,
            "label": step_label(step),
            # Sorted: PostgreSQL's jsonb does not keep the order the counters were written in.
            "counts": sorted((_label(k), v) for k, v in values.items() if k != "skipped"),
            "skipped": sorted((_label(k), v) for k, v in (values.get("skipped") or {}).items()),
        })
    return out


@register.filter
def counters_summary(run: JobRun) -> str:
    """One line for lists: ``push: 3 created, 1 failed · match: 4 linked``."""
    parts = []
    for step in step_counters(run):
        counts = [f"{n} {label}" for label, n in step["counts"] if n]
        skipped = sum(n for _label_, n in step["skipped"])
        if skipped:
            counts.append(_("%(n)s skipped") % {"n": skipped})
        if counts:
            parts.append(f"{step['label']}: {', '.join(counts)}")
    return " · ".join(parts)


@register.filter
def suppressed_summary(run: JobRun) -> str:
    """"12 suppressed addresses not re-added" over all steps of a run (N6), or ""."""
    counters = run.counters or {}
    total = sum(int(v.get("suppressed") or 0) for v in counters.values() if isinstance(v, dict))
    if not total:
        return ""
    return ngettext("%(count)s suppressed address not re-added (it opted out, bounced or "
                    "was erased).",
                    "%(count)s suppressed addresses not re-added (they opted out, bounced or "
                    "were erased).", total) % {"count": total}


@register.filter
def sync_mode(run: JobRun) -> str:
    mode = (run.params or {}).get("mode")
    return mode_label(str(mode)) if mode else ""
