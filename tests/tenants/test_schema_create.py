"""A portal schema replayed from the recording is the schema the migrations build."""

import pytest
from django.db import connection

from tenants import schema_create

SHAPE_QUERIES = {
    "columns": """
        SELECT table_name, column_name, data_type, is_nullable, is_identity,
               replace(coalesce(column_default, ''), %(schema)s, 'S'), ordinal_position
        FROM information_schema.columns WHERE table_schema = %(schema)s ORDER BY 1, 2""",
    "indexes": """
        SELECT indexname, replace(indexdef, %(schema)s, 'S')
        FROM pg_indexes WHERE schemaname = %(schema)s ORDER BY 1""",
    "constraints": """
        SELECT rel.relname, con.conname, con.contype,
               replace(pg_get_constraintdef(con.oid), %(schema)s, 'S')
        FROM pg_constraint con
        JOIN pg_class rel ON rel.oid = con.conrelid
        JOIN pg_namespace ns ON ns.oid = rel.relnamespace
        WHERE ns.nspname = %(schema)s ORDER BY 1, 2""",
    "sequences": """
        SELECT sequencename, data_type, start_value, increment_by
        FROM pg_sequences WHERE schemaname = %(schema)s ORDER BY 1""",
}


def _shape(schema: str) -> dict:
    shape = {}
    with connection.cursor() as cursor:
        for name, sql in SHAPE_QUERIES.items():
            cursor.execute(sql, {"schema": schema})
            shape[name] = cursor.fetchall()
        table = f"{connection.ops.quote_name(schema)}.django_migrations"
        cursor.execute(f"SELECT app, name FROM {table} ORDER BY app, name")  # noqa: S608
        shape["migrations"] = cursor.fetchall()
    return shape


@pytest.mark.django_db(transaction=True)
def test_a_replayed_schema_equals_a_migrated_one(live_portal_factory, caplog):
    schema_create._recordings.clear()  # the next schema is migrated for real and recorded

    migrated = live_portal_factory()
    caplog.clear()
    replayed = live_portal_factory()

    assert schema_create._recordings, "the first schema should have left a recording"
    # The replay itself worked: no fall-back to migrating (which would pass the comparison too).
    assert not [r for r in caplog.records if r.name == "tenants.schema_create"], caplog.text
    expected, got = _shape(migrated.schema_name), _shape(replayed.schema_name)
    assert len(expected["columns"]) > 100 and len(expected["migrations"]) > 5
    for part in SHAPE_QUERIES.keys() | {"migrations"}:
        assert got[part] == expected[part], part


@pytest.mark.django_db(transaction=True)
def test_a_recording_that_no_longer_applies_falls_back_to_migrating(live_portal_factory):
    schema_create._recordings.clear()
    live_portal_factory()
    key = next(iter(schema_create._recordings))
    broken = (schema_create._Statement('CREATE TABLE "no_such_schema"."x" (id int)', None, False),)
    schema_create._recordings[key] = schema_create._recordings[key] + broken

    portal = live_portal_factory()

    assert [m for m in _shape(portal.schema_name)["migrations"] if m[0] == "crm_sync"]
    schema_create._recordings.clear()
