"""Create (idempotently) the demo administrator and the demo tenant for `make demo`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from audience.services import create_tenant
from mailworx_crm.demo import DEMO_EMAIL, DEMO_PASSWORD, DEMO_TENANT_SLUG
from orgsettings.models import Deployment, OrgSettings, ReactionMode
from orgsettings.services import SETTINGS_FIELDS, save_org_settings
from tenants.models import Membership, Role, Tenant


class Command(BaseCommand):
    help = "Create the demo administrator and demo tenant (safe to run repeatedly)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--crm-url", help="point the demo tenant at this CRM organisation")
        parser.add_argument("--authority", help="sign-in authority (the emulator's base URL)")
        parser.add_argument("--directory-tenant-id", default="")
        parser.add_argument("--client-id", default="")
        parser.add_argument("--client-secret-file", help="file holding the client secret")
        parser.add_argument("--ca-file", help="PEM file of the CA the CRM's certificate uses")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=DEMO_EMAIL, defaults={"email": DEMO_EMAIL, "first_name": "Demo",
                                           "last_name": "Admin"}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.is_staff = user.is_superuser = True
            user.save()
        tenant = Tenant.objects.filter(slug=DEMO_TENANT_SLUG).first()
        if tenant is None:
            tenant = _create_tenant("Demo Newsletter", DEMO_TENANT_SLUG)
        second = Tenant.objects.filter(slug="demo-shop").first() or _create_tenant(
            "Demo Shop Mailings", "demo-shop")
        for t in (tenant, second):
            Membership.objects.get_or_create(
                user=user, tenant=t, defaults={"role": Role.ADMINISTRATOR}
            )
        if options.get("crm_url"):
            self._connect(tenant, user, options)
        self.stdout.write(f"demo tenants ready: {tenant.slug}, {second.slug}")

    def _connect(self, tenant: Tenant, user: Any, options: dict[str, Any]) -> None:
        """Pre-fill the organisation settings so the demo needs no typing. The emulator makes
        a new CA at every start: settings that point at it get the new CA, nothing else."""
        ca = Path(options["ca_file"]).read_text() if options.get("ca_file") else ""
        existing = OrgSettings.objects.filter(tenant=tenant).first()
        if existing is not None:
            if existing.crm_url == options["crm_url"].rstrip("/") and existing.ca_bundle != ca:
                values = {name: getattr(existing, name) for name in SETTINGS_FIELDS}
                save_org_settings([tenant], {**values, "ca_bundle": ca}, {}, user=user)
            return
        secret = Path(options["client_secret_file"]).read_text().strip()
        save_org_settings([tenant], {
            "crm_url": options["crm_url"], "deployment": Deployment.ONLINE,
            "authority_url": options["authority"],
            "directory_tenant_id": options["directory_tenant_id"],
            "client_id": options["client_id"],
            "ca_bundle": ca,
            "reaction_mode": ReactionMode.ABSOLUTE,
        }, {"client_secret": secret}, user=user)
        self.stdout.write(f"demo tenant {tenant.slug} connected to the demo CRM")


def _create_tenant(name: str, slug: str) -> Tenant:
    return create_tenant(name=name, slug=slug, default_language="de")
