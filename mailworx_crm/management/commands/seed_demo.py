"""Create (idempotently) the demo administrator and the demo tenant for `make demo`."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from mailworx_crm.demo import DEMO_EMAIL, DEMO_PASSWORD, DEMO_TENANT_SLUG
from tenants.models import Membership, Role, Tenant


class Command(BaseCommand):
    help = "Create the demo administrator and demo tenant (safe to run repeatedly)."

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
        self.stdout.write(f"demo tenants ready: {tenant.slug}, {second.slug}")


def _create_tenant(name: str, slug: str) -> Tenant:
    from tenants import services

    create = getattr(services, "create_tenant", None)
    if create is not None:
        tenant: Tenant = create(name=name, slug=slug, default_language="de")
        return tenant
    return Tenant.objects.create(name=name, slug=slug, default_language="de")
