from django.db import migrations, models


class Migration(migrations.Migration):
    """Links are found by CRM record id for every row a pull or a match reads."""

    dependencies = [
        ("syncjobs", "0013_erasure_propagation"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="recordlink",
            index=models.Index(fields=["tenant", "crm_id", "entity_type", "state"],
                               name="recordlink_crm_id"),
        ),
    ]
