from django.db import migrations, models


def owner_bindings_fill(apps, schema_editor):
    """A mirror synced before bindings were kept gets each activity's owner as its binding; the
    details backfill then reads the other bindings (and every deal's product rows) once."""
    Activity = apps.get_model("crm_sync", "Activity")
    ActivityBinding = apps.get_model("crm_sync", "ActivityBinding")
    activities = Activity._meta.db_table
    bindings = ActivityBinding._meta.db_table
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {bindings} (activity_id, entity_type_id, entity_id, synced_at)
            SELECT id, owner_type_id, owner_id, now() FROM {activities}
            WHERE owner_type_id > 0 AND owner_id > 0
            ON CONFLICT DO NOTHING
            """  # noqa: S608 - names from model metadata
        )


class Migration(migrations.Migration):
    dependencies = [
        ("crm_sync", "0004_activity_bindings"),
    ]

    operations = [
        migrations.AddField(
            model_name="syncstate",
            name="details_after_id",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="syncstate",
            name="details_done",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="syncstate",
            name="details_finished_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(owner_bindings_fill, migrations.RunPython.noop),
    ]
