"""Remove every PEM block that is not a certificate (private keys above all) from stored CA
bundles and from their history: a CA bundle never needs a key, and the stored text was
readable by every member of the tenant."""

import re

from django.db import migrations

PEM_BLOCK = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]+)-----(?P<body>.*?)-----END (?P=label)-----", re.S)


def certificates_only(text):
    blocks = [m.group(0) for m in PEM_BLOCK.finditer(text or "")
              if m.group("label") == "CERTIFICATE"]
    return "\n".join(blocks) + "\n" if blocks else ""


def strip_keys(apps, schema_editor):
    for name in ("OrgSettings", "HistoricalOrgSettings"):
        model = apps.get_model("orgsettings", name)
        for row in model.objects.exclude(ca_bundle="").only("pk", "ca_bundle").iterator():
            cleaned = certificates_only(row.ca_bundle)
            if cleaned != row.ca_bundle:
                model.objects.filter(pk=row.pk).update(ca_bundle=cleaned)


class Migration(migrations.Migration):

    dependencies = [
        ("orgsettings", "0004_reconcile_interval"),
    ]

    operations = [
        migrations.RunPython(strip_keys, migrations.RunPython.noop),
    ]
