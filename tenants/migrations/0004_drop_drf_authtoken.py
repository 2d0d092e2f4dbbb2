"""DRF's authtoken app is gone (API tokens are django-rest-knox's, in tenants.ApiToken): its
table held every old token in plain text, so it is dropped, and its migration records with
it. The old tokens stopped working with the upgrade anyway."""

from django.db import migrations

OLD_TABLE = "authtoken_token"


def drop_old_tokens(apps, schema_editor):
    connection = schema_editor.connection
    if OLD_TABLE in connection.introspection.table_names():
        schema_editor.execute(f"DROP TABLE {schema_editor.quote_name(OLD_TABLE)}")
    schema_editor.execute("DELETE FROM django_migrations WHERE app = %s", ["authtoken"])


class Migration(migrations.Migration):

    dependencies = [
        ("tenants", "0003_api_tokens_and_invitations"),
    ]

    operations = [
        migrations.RunPython(drop_old_tokens, migrations.RunPython.noop, elidable=True),
    ]
