"""``manage.py load_crm_catalogue <tenant-slug> <file.json>``: load CRM attribute metadata
(the :class:`fieldmapping.catalogue.CatalogueData` shape) into a tenant's catalogue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from fieldmapping.catalogue import load_catalogue
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Load CRM attribute metadata from a JSON file into a tenant's attribute catalogue."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="slug of the tenant")
        parser.add_argument("file", type=Path, help="JSON file with the catalogue data")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant with slug {options['tenant']!r}.")
        try:
            data = json.loads(Path(options["file"]).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read {options['file']}: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("entities"), dict):
            raise CommandError('The file must hold {"entities": {...}}.')
        result = load_catalogue(tenant, data)  # type: ignore[arg-type]
        self.stdout.write(
            f"{len(result.added)} added, {len(result.changed)} changed, "
            f"{len(result.vanished)} vanished")
        for mapping in result.flagged_mappings:
            self.stdout.write(self.style.WARNING(
                f"check mapping {mapping} of business unit {mapping.business_unit}"))
