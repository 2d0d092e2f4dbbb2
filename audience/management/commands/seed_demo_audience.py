"""Demo audience data for one tenant: subscribers (some sharing an address), groups (one
with a CRM sync setting), a campaign and its reactions. Deterministic (fixed seed)."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from audience import subscribers as svc
from audience.campaigns import create_campaign
from audience.groups import add_members, create_group, save_sync_setting
from audience.models import Campaign, Subscriber, SubscriberGroup, SuppressedAddress, SyncMode
from audience.reactions import record_reactions
from orgsettings.models import Deployment, OrgSettings
from tenants.models import Tenant

FIRST = ["Anna", "Ben", "Clara", "David", "Elena", "Felix", "Greta", "Hannes", "Ida", "Jonas",
         "Katharina", "Lukas", "Marie", "Niklas", "Olivia", "Paul", "Rosa", "Stefan", "Theresa",
         "Valentin"]
LAST = ["Schmidt", "Müller", "Huber", "Wagner", "Gruber", "Bauer", "Pichler", "Steiner",
        "Moser", "Mayer", "Hofer", "Leitner", "Berger", "Fuchs", "Eder"]
COMPANIES = ["Contoso GmbH", "Fabrikam AG", "Northwind KG", "Adventure Works", ""]
SENT_AT = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)


def _ascii(name: str) -> str:
    return name.lower().replace("ü", "ue").replace("ö", "oe").replace("ä", "ae")


class Command(BaseCommand):
    help = "Create demo subscribers, groups, a campaign and reactions for a tenant."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="slug of the tenant")
        parser.add_argument("--count", type=int, default=300)
        parser.add_argument("--if-empty", action="store_true",
                            help="do nothing when the tenant has subscribers already")
        parser.add_argument("--reset", action="store_true",
                            help="delete the tenant's subscribers, groups, campaigns and "
                                 "suppression list first")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant with slug {options['tenant']!r}.")
        with transaction.atomic():
            if options["reset"]:
                Campaign.objects.filter(tenant=tenant).delete()
                SubscriberGroup.objects.filter(tenant=tenant).delete()
                Subscriber.objects.filter(tenant=tenant).delete()
                # Demo data only: the seed's own bounces would keep its addresses out.
                SuppressedAddress.objects.filter(tenant=tenant).delete()
            elif Subscriber.objects.filter(tenant=tenant).exists():
                if options["if_empty"]:
                    return
                raise CommandError("The tenant has subscribers already; use --reset.")
            self._seed(tenant, options["count"])

    def _seed(self, tenant: Tenant, count: int) -> None:
        rng = random.Random(20260310)  # noqa: S311 - demo data, not security
        items, seen = [], set()
        for i in range(count):
            first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
            email = f"{_ascii(first)}.{_ascii(last)}@example.com"
            if email in seen:
                email = f"{_ascii(first)}.{_ascii(last)}{i}@example.com"
            seen.add(email)
            items.append({"email": email, "first_name": first, "last_name": last,
                          "company": rng.choice(COMPANIES),
                          "language": "de" if rng.random() < 0.7 else "en"})
        newsletter = create_group(tenant, "Newsletter", "Monthly newsletter; synced with the CRM")
        events = create_group(tenant, "Events", "Invitations to events")
        create_group(tenant, "VIP customers")
        results = svc.bulk_upsert(tenant, items, group=newsletter)
        ids = [r.subscriber_id for r in results if r.subscriber_id]
        add_members(events, rng.sample(ids, k=len(ids) // 3))
        # Mailworx allows two subscribers with one address (S9); the sync merges them.
        duplicates = []
        for item in rng.sample(items, k=max(1, count // 30)):
            dup = svc.create_subscriber(tenant, {**item, "email": item["email"].capitalize()})
            duplicates.append(dup.pk)
        add_members(newsletter, duplicates)

        deployment = (OrgSettings.objects.filter(tenant=tenant)
                      .values_list("deployment", flat=True).first())
        # Users of the demo CRM (the emulator's seed), so the group's new records get them.
        owner = "FABRIKAM\\crmadmin" if deployment == Deployment.ON_PREMISE \
            else "anna.berger@contoso.example"
        save_sync_setting(newsletter, enabled=True, future_owner=owner, entity_type="contact",
                          mode=SyncMode.BOTH)

        members = ids + duplicates
        campaign = create_campaign(tenant, "Spring newsletter 2026", subject="Spring news",
                                   group=newsletter, sent_at=SENT_AT, recipients=len(members))
        reactions: list[dict[str, Any]] = []
        for n, pk in enumerate(members):
            at = SENT_AT + dt.timedelta(minutes=rng.randint(5, 3000))
            base = {"subscriber_id": pk, "campaign_id": campaign.pk, "occurred_at": at}
            roll = rng.random()
            if roll < 0.04:
                reactions.append({**base, "kind": "bounce", "source_event_id": f"demo-{n}-b",
                                  "bounce_type": rng.choice(["hard", "soft"])})
            elif roll < 0.5:
                reactions.append({**base, "kind": "open", "source_event_id": f"demo-{n}-o"})
                if rng.random() < 0.35:
                    reactions.append({**base, "kind": "click", "source_event_id": f"demo-{n}-c",
                                      "occurred_at": at + dt.timedelta(seconds=40),
                                      "url": "https://www.example.com/spring-offer"})
        record_reactions(tenant, reactions)
        self.stdout.write(self.style.SUCCESS(
            f"{tenant.slug}: {len(members)} subscribers ({len(duplicates)} sharing an address), "
            f"3 groups, 1 campaign, {len(reactions)} reactions."))
