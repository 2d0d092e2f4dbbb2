"""The matching key of an email address now writes internationalised domains in Unicode
(``anna@xn--bcher-kva.example`` → ``anna@bücher.example``, see mailworx_crm/email_address.py):
recompute it where it changes. The rule is repeated here so the migration keeps meaning
what it meant when it was written."""

import unicodedata

import idna
from django.db import migrations


def key(email):
    text = unicodedata.normalize("NFC", email.strip())
    local, at, domain = text.rpartition("@")
    if at:
        try:
            domain = idna.decode(domain)
        except (idna.IDNAError, UnicodeError, ValueError):
            pass
        text = f"{local}@{domain}"
    return text.lower()


def recompute(apps, schema_editor):
    Subscriber = apps.get_model("audience", "Subscriber")
    changed = []
    for pk, email, current in Subscriber.objects.values_list(
            "pk", "email", "email_normalised").iterator(chunk_size=5000):
        new = key(email)
        if new != current:
            changed.append(Subscriber(pk=pk, email_normalised=new))
    Subscriber.objects.bulk_update(changed, ["email_normalised"], batch_size=1000)


class Migration(migrations.Migration):

    dependencies = [
        ("audience", "0004_campaign_takeover"),
    ]

    operations = [
        migrations.RunPython(recompute, migrations.RunPython.noop),
    ]
