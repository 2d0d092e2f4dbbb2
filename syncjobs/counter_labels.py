"""Words for the engine's counter keys and step names on the run pages (C16).

The engine counts under stable keys (``created``, ``crm_members_added`` …) that the API
returns as they are; pages show these words instead. A key without a word is shown with
its underscores as spaces.
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

# msgids: a run stores a step's title untranslated ("Step: %(step)s"), pages translate it.
STEP_TITLES: dict[str, str] = {
    "pull": gettext_noop("CRM → mailworx"),
    "match": gettext_noop("matching"),
    "push": gettext_noop("mailworx → CRM"),
    "lists": gettext_noop("marketing lists"),
    "campaigns": gettext_noop("campaign activities"),
    "reactions": gettext_noop("reactions"),
    "backfill": gettext_noop("backfill"),
    "reconcile": gettext_noop("reconcile"),
}
STEPS: dict[str, Promise] = {key: _(title) for key, title in STEP_TITLES.items()}

COUNTERS: dict[str, Promise] = {
    "campaigns_created": _("CRM campaigns created"),
    "checked": _("checked"),
    "cleared": _("activities emptied"),
    "created": _("created"),
    "crm_members_added": _("added to CRM lists"),
    "crm_members_removed": _("removed from CRM lists"),
    "discovered": _("found"),
    "failed": _("failed"),
    "fields_updated": _("field values updated"),
    "figures_written": _("campaign figures written"),
    "group_members_added": _("added to groups"),
    "group_members_removed": _("removed from groups"),
    "linked": _("linked"),
    "lists_closed": _("lists closed"),
    "lists_created": _("lists created"),
    "lists_discovered": _("lists found"),
    "lists_failed": _("lists failed"),
    "lists_read": _("lists read"),
    "lists_synced": _("lists synced"),
    "members_read": _("members read"),
    "merged": _("merged"),
    "reactivated": _("reactivated"),
    "recipients": _("recipients"),
    "records": _("records"),
    "relinked": _("relinked"),
    "state_changed": _("state changed"),
    "subscribers_created": _("subscribers created"),
    "subscribers_linked": _("subscribers linked"),
    "subscribers_updated": _("subscribers updated"),
    "taken_over": _("taken over"),
    "tracked_rows": _("changed rows read"),
    "unchanged": _("unchanged"),
    "unlinked_deleted": _("unlinked (deleted in the CRM)"),
    "unsubscribed": _("unsubscribed"),
    "unsubscribes_written": _("unsubscribes written"),
    "subscriber_ids_written": _("subscriber ids written to linked records"),
    # Consent (N6, docs/consent.md).
    "suppressed": _("suppressed addresses not re-added"),
    "awaiting_confirmation": _("CRM re-opt-ins awaiting confirmation"),
    "resubscribed": _("re-subscribed by the CRM"),
    "updated": _("updated"),
    "watermark_rows": _("changed rows read"),
    "written": _("written"),
}


def counter_label(key: str) -> str:
    """A counter key's words; a skip reason is its own (English) msgid, translated here."""
    word = COUNTERS.get(key)
    if word is not None:
        return str(word)
    return gettext(key) if " " in key else key.replace("_", " ")


def step_label(step: str) -> str:
    word = STEPS.get(step)
    return str(word) if word is not None else step.replace("_", " ")
