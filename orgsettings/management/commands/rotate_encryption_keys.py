"""Re-encrypt every EncryptedTextField value under the newest FIELD_ENCRYPTION_KEYS key.

Put the new key first in FIELD_ENCRYPTION_KEYS (keep the old ones after it), run this
command, then drop the old keys.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import models, transaction

from mailworx_crm.encryption import EncryptedTextField


def encrypted_columns() -> list[tuple[type[models.Model], list[str]]]:
    found = []
    for model in apps.get_models():
        names = [f.attname for f in model._meta.concrete_fields
                 if isinstance(f, EncryptedTextField)]
        if names:
            found.append((model, names))
    return found


class Command(BaseCommand):
    help = "Re-encrypt every encrypted column under the newest key in FIELD_ENCRYPTION_KEYS."

    def handle(self, *args: Any, **options: Any) -> None:
        total = 0
        with transaction.atomic():
            for model, names in encrypted_columns():
                count = 0
                manager = model._base_manager
                # Reading decrypts with any key; update() encrypts with the newest. update()
                # sends no signals, so no history rows and no business effects.
                for row in manager.values("pk", *names).iterator(chunk_size=500):
                    values = {n: row[n] for n in names if row[n]}
                    if values:
                        manager.filter(pk=row["pk"]).update(**values)
                        count += len(values)
                label = f"{model._meta.label} ({', '.join(names)})"
                self.stdout.write(f"{label}: {count} value(s) re-encrypted")
                total += count
        self.stdout.write(self.style.SUCCESS(f"{total} value(s) re-encrypted in total."))
