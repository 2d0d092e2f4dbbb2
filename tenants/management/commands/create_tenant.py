"""Bootstrap a tenant without the demo seed: create it and invite its first administrators.

    manage.py create_tenant --name "Acme Newsletter" --slug acme --invite anna@acme.example

The invited people get the invitation email (links to ``PUBLIC_BASE_URL``); an address
without an account gets one without a password, and the email lets them set it. They
become administrators once they accept, logged in. ``--existing`` invites to a tenant that
exists already (e.g. to replace an administrator who left). The staff-only API endpoints
``operator/tenants/`` do the same (docs/api.md).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants import services
from tenants.models import Role, Tenant


class Command(BaseCommand):
    help = ("Create a tenant and invite its first administrators (they get the invitation "
            "email). With --existing, only invite people to an existing tenant.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--slug", required=True,
                            help="The tenant's short name in URLs, e.g. acme.")
        parser.add_argument("--name", default="", help="The tenant's name (to create it).")
        parser.add_argument("--language", default="",
                            choices=["", *(code for code, _name in settings.LANGUAGES)],
                            help="Language for subscribers whose CRM record has none "
                                 "(default: de).")
        parser.add_argument("--invite", action="append", default=[], metavar="EMAIL",
                            help="Invite this address (repeat for several).")
        parser.add_argument("--role", default=Role.ADMINISTRATOR,
                            choices=[r.value for r in Role.ui_roles()],
                            help="The role of the invited people (default: administrator).")
        parser.add_argument("--existing", action="store_true",
                            help="The tenant exists already: only invite.")

    def handle(self, *args: Any, **options: Any) -> None:
        slug = options["slug"]
        if options["existing"]:
            tenant = Tenant.objects.filter(slug=slug).first()
            if tenant is None:
                raise CommandError(f"There is no tenant {slug!r}.")
        else:
            if not options["name"]:
                raise CommandError("--name is required to create a tenant.")
            try:
                tenant = services.create_tenant(options["name"], slug, options["language"])
            except services.TenantError as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(f"Created tenant {tenant.name} ({tenant.slug}).")
        for email in options["invite"]:
            try:
                result = services.add_member(tenant, email, Role(options["role"]),
                                             send_without_request=True)
            except services.MembershipError as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(f"Invited {result.email} as {options['role']} (valid until "
                              f"{result.invitation.expires_at:%Y-%m-%d %H:%M} UTC).")
        if not options["invite"] and not tenant.memberships.filter(
                role=Role.ADMINISTRATOR).exists():
            self.stdout.write(self.style.WARNING(
                "The tenant has no administrator yet: invite one with --existing --invite."))
