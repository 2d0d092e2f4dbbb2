"""Consent as data (N6): the permission replaces the stored status, with its history and the
tenant's suppression list. Existing subscribers keep what is known — nothing invented:

- "active" becomes "unknown" (on the list, but how the permission was given is not known);
  "unsubscribed" becomes "opted out", "bounced" becomes "bounced";
- a first history entry "before consent tracking" at the subscription date (``created_at``),
  and for opted-out and bounced subscribers a second at the status change;
- opted-out and bounced addresses go on the suppression list.
"""

import hashlib
import hmac

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

_STATE = {"active": "unknown", "unsubscribed": "opted_out", "bounced": "bounced"}
_STATUS = {"unknown": "active", "opted_in": "active", "double_opt_in": "active",
           "awaiting_confirmation": "active", "opted_out": "unsubscribed",
           "bounced": "bounced"}
_REASON = {"opted_out": "opted_out", "bounced": "hard_bounce"}
_SOURCE = "before_consent_tracking"
_STATES = [("double_opt_in", "Opted in (double opt-in)"),
           ("opted_in", "Opted in (single opt-in)"), ("unknown", "Unknown"),
           ("awaiting_confirmation", "Awaiting confirmation"), ("opted_out", "Opted out"),
           ("bounced", "Bounced (undeliverable)")]
_SOURCES = [("form", "Sign-up form"), ("import", "CSV import"), ("api", "API"), ("crm", "CRM"),
            ("crm_consent_table", "CRM consent table (Customer Insights)"),
            ("bounce", "Bounce"), ("admin", "Administrator in mailworx"),
            ("merge", "Merge of duplicates"), ("erasure", "Erasure"),
            ("before_consent_tracking", "Before consent tracking")]
_REASONS = [("opted_out", "Opted out"), ("hard_bounce", "Hard bounce"), ("erased", "Erased")]


def _hash(normalised: str) -> str:
    # Frozen copy of audience.suppression_key.address_hash (migrations import no app code);
    # ``email_normalised`` is already normalise_email's form.
    return hmac.new(settings.CONSENT_HASH_KEY.encode(), normalised.encode(),
                    hashlib.sha256).hexdigest()


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    subscriber_model = apps.get_model("audience", "Subscriber")
    event_model = apps.get_model("audience", "ConsentEvent")
    suppressed_model = apps.get_model("audience", "SuppressedAddress")
    last = 0
    while True:
        chunk = list(subscriber_model.objects.filter(pk__gt=last).order_by("pk").values(
            "pk", "tenant_id", "status", "consent_changed_at", "created_at",
            "email_normalised")[:2000])
        if not chunk:
            break
        last = chunk[-1]["pk"]
        events, suppressed, by_state = [], {}, {}
        for row in chunk:
            state = _STATE.get(row["status"], "unknown")
            by_state.setdefault(state, []).append(row["pk"])
            detail = {"status": row["status"], "subscribed_at": row["created_at"].isoformat()}
            events.append(event_model(
                tenant_id=row["tenant_id"], subscriber_id=row["pk"], state="unknown",
                previous_state="", occurred_at=row["created_at"], source=_SOURCE,
                detail=detail, actor="system"))
            if state != "unknown":
                at = row["consent_changed_at"] or row["created_at"]
                events.append(event_model(
                    tenant_id=row["tenant_id"], subscriber_id=row["pk"], state=state,
                    previous_state="unknown", occurred_at=at, source=_SOURCE, detail=detail,
                    actor="system"))
                key = (row["tenant_id"], _hash(row["email_normalised"]))
                if key not in suppressed or _REASON[state] == "opted_out":
                    suppressed[key] = (_REASON[state], at)
        for state, ids in by_state.items():
            subscriber_model.objects.filter(pk__in=ids).update(consent=state)
        event_model.objects.bulk_create(events, batch_size=1000)
        existing = {(t, h) for t, h in suppressed_model.objects.filter(
            address_hash__in=[h for _t, h in suppressed]).values_list("tenant_id",
                                                                      "address_hash")}
        suppressed_model.objects.bulk_create([
            suppressed_model(tenant_id=t, address_hash=h, reason=reason, suppressed_at=at)
            for (t, h), (reason, at) in suppressed.items() if (t, h) not in existing],
            batch_size=1000)


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    subscriber_model = apps.get_model("audience", "Subscriber")
    for state, status in _STATUS.items():
        subscriber_model.objects.filter(consent=state).update(status=status)


class Migration(migrations.Migration):

    dependencies = [
        ("audience", "0006_pending_csv_import"),
        ("tenants", "0004_drop_drf_authtoken"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RenameField("subscriber", "status_changed_at", "consent_changed_at"),
        migrations.AlterField(
            model_name="subscriber", name="consent_changed_at",
            field=models.DateTimeField(blank=True, null=True,
                                       verbose_name="permission changed"),
        ),
        migrations.AddField(
            model_name="subscriber", name="consent",
            field=models.CharField(
                choices=_STATES,
                default="unknown", max_length=30, verbose_name="permission"),
        ),
        migrations.CreateModel(
            name="ConsentEvent",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True,
                                           serialize=False, verbose_name="ID")),
                ("state", models.CharField(choices=_STATES, max_length=30,
                                           verbose_name="permission")),
                ("previous_state", models.CharField(blank=True, choices=_STATES, max_length=30,
                                                    verbose_name="previous permission")),
                ("occurred_at", models.DateTimeField(verbose_name="when")),
                ("recorded_at", models.DateTimeField(auto_now_add=True,
                                                     verbose_name="recorded")),
                ("source", models.CharField(choices=_SOURCES, max_length=30,
                                            verbose_name="source")),
                ("detail", models.JSONField(blank=True, default=dict, verbose_name="detail")),
                ("actor", models.CharField(blank=True, max_length=200, verbose_name="who")),
                ("subscriber", models.ForeignKey(
                    on_delete=django.db.models.deletion.CASCADE, related_name="consent_events",
                    to="audience.subscriber")),
                ("tenant", models.ForeignKey(
                    on_delete=django.db.models.deletion.CASCADE, related_name="+",
                    to="tenants.tenant")),
                ("user", models.ForeignKey(
                    blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL,
                    related_name="+", to=settings.AUTH_USER_MODEL, verbose_name="user")),
            ],
            options={
                "verbose_name": "consent history entry",
                "verbose_name_plural": "consent history",
                "ordering": ["-occurred_at", "-id"],
                "indexes": [
                    models.Index(fields=["subscriber", "occurred_at"],
                                 name="consent_event_subscriber"),
                    models.Index(fields=["tenant", "recorded_at"], name="consent_event_tenant"),
                ],
            },
        ),
        migrations.CreateModel(
            name="SuppressedAddress",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True,
                                           serialize=False, verbose_name="ID")),
                ("address_hash", models.CharField(max_length=64)),
                ("reason", models.CharField(choices=_REASONS, max_length=20,
                                            verbose_name="reason")),
                ("suppressed_at", models.DateTimeField(verbose_name="suppressed")),
                ("tenant", models.ForeignKey(
                    on_delete=django.db.models.deletion.CASCADE, related_name="+",
                    to="tenants.tenant")),
            ],
            options={
                "verbose_name": "suppressed address",
                "verbose_name_plural": "suppression list",
                "constraints": [models.UniqueConstraint(fields=("tenant", "address_hash"),
                                                        name="one_suppression_per_address")],
            },
        ),
        migrations.RunPython(forwards, backwards),
        migrations.RemoveField("subscriber", "status"),
    ]
