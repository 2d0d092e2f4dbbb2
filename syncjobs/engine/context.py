"""One sync run as the steps see it: tenant, settings, CRM client, counters, pause checks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from django.utils import timezone, translation
from django.utils.functional import Promise

from audience.groups import effective_business_unit
from audience.models import GroupSyncSetting, SubscriberField
from businessunits.models import BusinessUnit
from dynamics.crm_api import CrmApi
from mailworx_crm.texts import Deferred, deferred, render
from mailworx_crm.texts import deferred as _
from orgsettings.models import OrgSettings
from syncjobs.counter_labels import STEP_TITLES
from syncjobs.engine.fields import MappedField, load_mappings
from syncjobs.models import JobLogLine, LinkOrigin
from syncjobs.runner import JobCancelled, JobContext

HTTP_KEYS = ("round_trips", "operations", "throttled", "retries")
BATCH = 200  # records per batch: the unit of progress, transactions and pause checks


class SyncPaused(JobCancelled):
    """The tenant's sync was paused (C6); the run stops at a batch boundary."""


class Sync:
    def __init__(self, ctx: JobContext, client: CrmApi) -> None:
        self.ctx = ctx
        self.tenant = ctx.tenant
        self.client = client
        self.org = OrgSettings.objects.get(tenant=self.tenant)
        self.started = timezone.now()
        # A dry run (engine.dry_run): the CRM never receives this run's writes.
        self.dry_run = bool(ctx.params.get("dry_run"))
        self.done = 0
        self.total = 0  # grows as steps learn how much work they have
        self._mappings: dict[tuple[int | None, str], list[MappedField]] = {}
        self._units: dict[int | None, int | None] = {}
        self._languages: dict[int, str] = {}
        # Requests of earlier attempts of this run stay counted (N2: the run's real cost).
        earlier = ctx.counters.get("http") or {}
        self._http_base = {key: int(earlier.get(key, 0)) for key in HTTP_KEYS}
        self._users_base = {str(k): int(v) for k, v in (earlier.get("app_users") or {}).items()}
        # What earlier attempts observed, per (step, counter): a resumed step reads and
        # meets again what they already saw, which must not count twice (see ``observe``).
        self._observed_before = {
            (step, name): value
            for step, names in ctx.counters.items() if isinstance(names, dict)
            for name, value in _flat(names) if isinstance(value, int)}
        self._observed: dict[tuple[str, str], int] = {}

    def run_steps(self, plan: Sequence[tuple[str, Callable[[Sync], None]]]) -> None:
        """Run the steps in order, each opened at a batch boundary; the request counters
        are brought up to date however the run ends."""
        try:
            for name, step in plan:
                self.step_counters(name)
                self.checkpoint(name)
                step(self)
        finally:
            self.http_counters()

    # -- counters ------------------------------------------------------------------------

    def step_counters(self, step: str) -> dict[str, Any]:
        counters: dict[str, Any] = self.ctx.counters.setdefault(step, {})
        return counters

    # Counters describe the work of the whole run, once, across attempts (a resumed run
    # repeats only what its earlier attempt had not committed):
    # * ``count``: work done — records written, linked, merged. Counters are saved at every
    #   batch boundary, after the batch's transaction, so a resumed attempt starts from the
    #   figures of the work that was committed and counts the redone work once.
    # * ``observe`` and ``skip``: what a step read or met — rows read, activities found,
    #   records skipped or refused. A resumed step reads them again, so the figure is the
    #   larger of this attempt's and the earlier attempts', never their sum.

    def count(self, step: str, name: str, n: int = 1) -> None:
        if n:
            counters = self.step_counters(step)
            counters[name] = counters.get(name, 0) + n

    def observe(self, step: str, name: str, n: int = 1) -> None:
        counters = self.step_counters(step)
        counters[name] = self._observation(step, name, n)

    def skip(self, step: str, reason: str | Promise, n: int = 1) -> None:
        """Count ``n`` records held back for ``reason``: an English msgid (the counters'
        key, translated where pages show it), whatever language this run writes in."""
        reason = english(reason)
        skipped = self.step_counters(step).setdefault("skipped", {})
        skipped[reason] = self._observation(step, f"skipped/{reason}", n)

    def _observation(self, step: str, key: str, n: int) -> int:
        seen = self._observed[(step, key)] = self._observed.get((step, key), 0) + n
        return max(seen, self._observed_before.get((step, key), 0))

    def log(self, message: str, level: str = JobLogLine.Level.INFO, **data: Any) -> None:
        self.ctx.log(message, level, **data)

    def http_counters(self) -> None:
        """This attempt's requests added to what earlier attempts of the run reported."""
        totals = self.client.log.totals()
        http: dict[str, Any] = {
            **{key: self._http_base[key] + getattr(totals, key) for key in HTTP_KEYS},
            "wait_seconds": round(totals.wait_seconds, 3),
        }
        # With several application users (dynamics/lanes.py): whose budget served how many.
        users = dict(self._users_base)
        for user, n in self.client.log.by_app_user().items():
            users[user] = users.get(user, 0) + n
        if len(users) > 1:
            http["app_users"] = users
        self.ctx.counters["http"] = http

    # -- batch boundary --------------------------------------------------------------------

    def add_work(self, n: int) -> None:
        self.total += n

    def checkpoint(self, step: str, n: int = 0) -> None:
        """Between batches: report progress, honour cancel and pause requests."""
        self.done += n
        self.total = max(self.total, self.done)
        self.http_counters()
        title = deferred(STEP_TITLES[step]) if step in STEP_TITLES else step
        self.ctx.progress(self.done, self.total, _("Step: %(step)s") % {"step": title})
        if OrgSettings.objects.filter(tenant=self.tenant, sync_paused=True).exists():
            self.log(_("The sync was paused; the run stopped between two batches and "
                       "continues from there when it is started again."),
                     JobLogLine.Level.WARNING)
            raise SyncPaused

    # -- configuration ---------------------------------------------------------------------

    def default_unit_id(self) -> int | None:
        if None not in self._units:
            self._units[None] = (BusinessUnit.objects.filter(tenant=self.tenant, is_default=True)
                                 .values_list("pk", flat=True).first())
        return self._units[None]

    def unit_for_group(self, group_id: int | None) -> int | None:
        """The business unit whose mappings apply to records of a group (S5)."""
        if group_id is None:
            return self.default_unit_id()
        if group_id not in self._units:
            setting = (GroupSyncSetting.objects.filter(group_id=group_id)
                       .select_related("group", "business_unit").first())
            unit = effective_business_unit(setting) if setting else None
            self._units[group_id] = unit.pk if unit else self.default_unit_id()
        return self._units[group_id]

    def mappings(self, unit_id: int | None, entity_type: str) -> list[MappedField]:
        key = (unit_id, entity_type)
        if key not in self._mappings:
            self._mappings[key] = load_mappings(unit_id, entity_type)
        return self._mappings[key]

    def fixed_language(self, unit_id: int | None, entity_type: str) -> str:
        """The language a subscriber arriving from the CRM through the unit gets (C14): the
        unit's fixed language, unless the unit maps a CRM attribute to the language for
        this entity type ("" = the tenant's default language applies)."""
        if unit_id is None or any(mf.key == SubscriberField.LANGUAGE
                                  for mf in self.mappings(unit_id, entity_type)):
            return ""
        if unit_id not in self._languages:
            self._languages[unit_id] = str(BusinessUnit.objects.filter(pk=unit_id)
                                           .values_list("fixed_language", flat=True)
                                           .first() or "")
        return self._languages[unit_id]

    def all_mappings(self, entity_type: str) -> list[MappedField]:
        """Every mapping of the entity type over the tenant's units (for ``$select``)."""
        unit_ids = list(BusinessUnit.objects.filter(tenant=self.tenant)
                        .values_list("pk", flat=True))
        out: list[MappedField] = []
        for unit_id in unit_ids:
            out += self.mappings(unit_id, entity_type)
        return out

    def pull_allowed(self, origin: str) -> bool:
        """C6: list-origin records always flow back; group-origin ones only bidirectionally."""
        return origin == LinkOrigin.CRM_LIST or self.org.bidirectional_sync


def _flat(names: dict[str, Any]) -> list[tuple[str, Any]]:
    """A step's counters with the skip reasons as ``skipped/<reason>``."""
    out = [(name, value) for name, value in names.items() if name != "skipped"]
    skipped = names.get("skipped")
    if isinstance(skipped, dict):
        out += [(f"skipped/{reason}", value) for reason, value in skipped.items()]
    return out


def parse_time(value: Any) -> dt.datetime | None:
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def english(text: str | Promise) -> str:
    """The English words of a translatable text (its msgid: English is the source)."""
    with translation.override("en"):
        return render(text.stored()) if isinstance(text, Deferred) else str(text)
