"""Creating a portal's schema: migrate once per process, replay the same SQL after that.

Migrating a fresh schema spends about two thirds of its time rebuilding Django's migration state
in Python (33 migrations, ~70 model renders) and one third running SQL. Every portal gets exactly
the same SQL, because tenant migrations name no schema (django-tenants points `search_path` at the
new schema), have no RunPython/RunSQL and read nothing back. So the first schema a process creates
is migrated for real while its DDL and its `django_migrations` rows are recorded; later schemas
run that recording in one transaction. A migration added later changes the recording's key and is
recorded afresh; a schema that fails to replay is dropped and migrated the ordinary way.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass

from django.core.management import call_command
from django.db import connection, transaction
from django.db.migrations.loader import MigrationLoader
from django_tenants.utils import schema_exists
from psycopg import sql

logger = logging.getLogger(__name__)

# What a migration run does that a replay must do again: schema changes and the record of which
# migrations are applied. Not SELECTs (introspection), SET/SAVEPOINT (session and transaction
# bookkeeping), nor the post-migrate content types and permissions (public tables, already there).
# Django drops a foreign key with "SET CONSTRAINTS … IMMEDIATE; ALTER TABLE … DROP CONSTRAINT":
# that statement is DDL too, and a replay without it re-adds a constraint that still exists.
_REPLAYABLE = re.compile(
    r'^\s*(?:(?:CREATE|ALTER|DROP|COMMENT)\b|SET CONSTRAINTS\b|INSERT INTO "django_migrations" )',
    re.I,
)


@dataclass(frozen=True)
class _Statement:
    sql: str
    params: object
    many: bool


_lock = threading.Lock()
_recordings: dict[frozenset, tuple[_Statement, ...]] = {}


def _migrations_key() -> frozenset:
    """The applied-migration set a schema ends up with: a new migration file changes it."""
    return frozenset(MigrationLoader(None, ignore_no_migrations=True).graph.leaf_nodes())


def _schema_sql(template: str, schema_name: str) -> sql.Composed:
    """A statement naming the schema, composed as an identifier (never pasted in as text)."""
    return sql.SQL(template).format(sql.Identifier(schema_name))


def _migrate_recording(schema_name: str, verbosity: int) -> tuple[_Statement, ...]:
    statements: list[_Statement] = []

    def record(execute, sql, params, many, context):
        if _REPLAYABLE.match(sql):
            statements.append(_Statement(sql, params, many))
        return execute(sql, params, many, context)

    with connection.cursor() as cursor:
        cursor.execute(_schema_sql("CREATE SCHEMA {}", schema_name))
    with connection.execute_wrapper(record):
        call_command(
            "migrate_schemas",
            tenant=True,
            schema_name=schema_name,
            interactive=False,
            verbosity=verbosity,
        )
    return tuple(statements)


def _replay(schema_name: str, statements: tuple[_Statement, ...]) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_schema_sql("CREATE SCHEMA {}", schema_name))
        cursor.execute(_schema_sql("SET LOCAL search_path = {}, public", schema_name))
        for statement in statements:
            if statement.many:
                cursor.executemany(statement.sql, statement.params)
            else:
                cursor.execute(statement.sql, statement.params)


def portal_schema_create(schema_name: str, *, verbosity: int = 0) -> None:
    """Create and migrate `schema_name` (it must not exist yet)."""
    key = _migrations_key()
    with _lock:
        recording = _recordings.get(key)
    if recording is None:
        recording = _migrate_recording(schema_name, verbosity)
        with _lock:
            _recordings[key] = recording
        connection.set_schema_to_public()
        return
    try:
        _replay(schema_name, recording)
    except Exception:
        logger.exception("replaying the schema recording failed; migrating %s instead", schema_name)
        with connection.cursor() as cursor:
            if schema_exists(schema_name):
                cursor.execute(_schema_sql("DROP SCHEMA {} CASCADE", schema_name))
        _migrate_recording(schema_name, verbosity)
    connection.set_schema_to_public()
