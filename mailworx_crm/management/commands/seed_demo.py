"""Create (idempotently) the demo administrator and the demo tenants for `make demo`.

With ``--crm-url`` the first tenant is really connected to the demo CRM (the emulator):
its settings are saved, mailworx is prepared, the integration check and the attribute pull
run (here, in this process: the worker is not up yet), a business unit with a CRM team as
reaction owner and the field mappings are saved, and syncing is started — every step of
the setup page done, as an admin would. The second tenant is left for the admin to set up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from audience.models import SubscriberField
from audience.services import create_tenant
from businessunits.models import BusinessUnit, CrmPrincipal, OwnerType
from businessunits.services import create_unit
from fieldmapping.models import CrmAttribute
from fieldmapping.services import MappingInput, catalogue_loaded, save_mapping
from mailworx_crm.demo import DEMO_EMAIL, DEMO_PASSWORD, DEMO_TENANT_SLUG
from orgsettings.integration_access import prepare_mailworx
from orgsettings.models import Deployment, OrgSettings, ReactionMode
from orgsettings.progress import mailworx_prepared
from orgsettings.services import (
    SETTINGS_FIELDS,
    StartSyncingRefused,
    save_org_settings,
    start_syncing,
)
from syncjobs import runner
from syncjobs.models import JobKind, JobStatus
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

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            tenant, user = self._create(options)
        if options.get("crm_url"):
            # Outside the transaction: the check and the pull call the CRM.
            self._set_up(tenant, user)

    def _create(self, options: dict[str, Any]) -> tuple[Tenant, Any]:
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
        return tenant, user

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


    def _set_up(self, tenant: Tenant, user: Any) -> None:
        """Every setup step that is not done yet (a restarted demo's emulator has a new CA,
        so the check runs again); a step that fails leaves the tenant in setup, said here."""
        if not mailworx_prepared(tenant):
            prepare_mailworx(tenant, user=user)  # the CRM side's credentials: not needed here
        org = OrgSettings.objects.get(tenant=tenant)
        if not org.integration_ready and not self._job(tenant, user, JobKind.INTEGRATION_CHECK):
            return
        if not catalogue_loaded(tenant) and not self._job(tenant, user, JobKind.ATTRIBUTE_PULL):
            return
        if not BusinessUnit.objects.filter(tenant=tenant).exists():
            if not self._job(tenant, user, JobKind.OWNER_REFRESH):
                return
            owner = (CrmPrincipal.objects.filter(tenant=tenant, is_active=True,
                                                 principal_type=OwnerType.TEAM)
                     .order_by("name").first())
            if owner is None:
                self.stderr.write("demo setup: the CRM lists no team to own reactions")
                return
            # No CRM attribute of the demo CRM holds the language: a fixed one (C14).
            unit = create_unit(tenant, name="Marketing", owner_id=owner.crm_id,
                               owner_name=owner.name, owner_type=owner.principal_type,
                               is_default=True, fixed_language="de")
            fields = {f.key: f for f in SubscriberField.objects.filter(tenant=tenant)}
            for entity, attribute, key in DEMO_MAPPINGS:
                attr = CrmAttribute.objects.filter(tenant=tenant, entity=entity,
                                                   logical_name=attribute, present=True).first()
                if attr is not None and key in fields:
                    save_mapping(unit, entity, MappingInput(attr, fields[key]))
        try:
            start_syncing(tenant, user=user)
        except StartSyncingRefused as exc:
            self.stderr.write(f"demo setup: syncing not started: {exc.explanation}")
            return
        self.stdout.write(f"demo tenant {tenant.slug} set up and syncing")

    def _job(self, tenant: Tenant, user: Any, kind: str) -> bool:
        run = runner.enqueue(tenant, kind, user=user)
        if runner.execute(run.pk) == JobStatus.SUCCEEDED:
            return True
        run.refresh_from_db()
        why = run.error or f"run {run.pk}"
        self.stderr.write(f"demo setup: {run.get_kind_display()} failed ({why}); "
                          f"{tenant.slug} stays in setup")
        return False


# (entity, CRM attribute, subscriber field) mapped in the demo's business unit.
DEMO_MAPPINGS = (
    ("contact", "firstname", "first_name"), ("contact", "lastname", "last_name"),
    ("lead", "firstname", "first_name"), ("lead", "lastname", "last_name"),
    ("lead", "companyname", "company"), ("account", "name", "company"),
)


def _create_tenant(name: str, slug: str) -> Tenant:
    return create_tenant(name=name, slug=slug, default_language="de")

