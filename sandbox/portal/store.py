"""The portal's state in one SQLite file: records as JSON documents, plus apps, tokens, events.

Every CRM record is a row (entity, id, data). `id` is a real column (the primary key with the
entity), so the fast-export pattern (`>ID` windows ordered by ID) is an index range scan; other
filters run on json_extract. One lock serialises writes (SQLite has one writer anyway); reads
run concurrently in WAL mode, one connection per thread.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    entity TEXT NOT NULL, id INTEGER NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (entity, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counters (entity TEXT PRIMARY KEY, next_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS objects (
    kind TEXT NOT NULL, key TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (kind, key)
);
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, data TEXT NOT NULL
);
"""


class Store:
    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self.write_lock = threading.RLock()
        with self.write_lock:
            self.conn().executescript(SCHEMA)

    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=60, isolation_level=None, check_same_thread=True
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute("PRAGMA cache_size=-65536")
            self._local.conn = conn
        return conn

    # --- meta and generic objects -------------------------------------------------------------

    def meta(self, key: str, default: Any = None) -> Any:
        row = self.conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_meta(self, key: str, value: Any) -> None:
        with self.write_lock:
            self.conn().execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )

    def obj(self, kind: str, key: str) -> dict | None:
        row = (
            self.conn()
            .execute("SELECT data FROM objects WHERE kind = ? AND key = ?", (kind, key))
            .fetchone()
        )
        return json.loads(row[0]) if row else None

    def put_obj(self, kind: str, key: str, data: dict) -> None:
        with self.write_lock:
            self.conn().execute(
                "INSERT INTO objects (kind, key, data) VALUES (?, ?, ?) "
                "ON CONFLICT(kind, key) DO UPDATE SET data = excluded.data",
                (kind, key, json.dumps(data)),
            )

    def del_obj(self, kind: str, key: str) -> None:
        with self.write_lock:
            self.conn().execute("DELETE FROM objects WHERE kind = ? AND key = ?", (kind, key))

    def objs(self, kind: str) -> list[tuple[str, dict]]:
        rows = (
            self.conn()
            .execute("SELECT key, data FROM objects WHERE kind = ? ORDER BY key", (kind,))
            .fetchall()
        )
        return [(key, json.loads(data)) for key, data in rows]

    def journal(self, kind: str, data: dict) -> None:
        with self.write_lock:
            self.conn().execute(
                "INSERT INTO journal (kind, data) VALUES (?, ?)", (kind, json.dumps(data))
            )

    def journal_read(self, kind: str, limit: int = 1000) -> list[dict]:
        rows = (
            self.conn()
            .execute(
                "SELECT data FROM journal WHERE kind = ? ORDER BY seq DESC LIMIT ?", (kind, limit)
            )
            .fetchall()
        )
        return [json.loads(row[0]) for row in rows]

    # --- records ------------------------------------------------------------------------------

    def get(self, entity: str, record_id: int) -> dict | None:
        row = (
            self.conn()
            .execute("SELECT data FROM records WHERE entity = ? AND id = ?", (entity, record_id))
            .fetchone()
        )
        return json.loads(row[0]) if row else None

    def next_id(self, entity: str) -> int:
        with self.write_lock:
            conn = self.conn()
            row = conn.execute(
                "SELECT next_id FROM counters WHERE entity = ?", (entity,)
            ).fetchone()
            value = row[0] if row else 1
            conn.execute(
                "INSERT INTO counters (entity, next_id) VALUES (?, ?) "
                "ON CONFLICT(entity) DO UPDATE SET next_id = excluded.next_id",
                (entity, value + 1),
            )
            return value

    def put(self, entity: str, record_id: int, data: dict) -> None:
        with self.write_lock:
            self.conn().execute(
                "INSERT INTO records (entity, id, data) VALUES (?, ?, ?) "
                "ON CONFLICT(entity, id) DO UPDATE SET data = excluded.data",
                (entity, record_id, json.dumps(data, ensure_ascii=False)),
            )

    def delete(self, entity: str, record_id: int) -> bool:
        with self.write_lock:
            cursor = self.conn().execute(
                "DELETE FROM records WHERE entity = ? AND id = ?", (entity, record_id)
            )
            return cursor.rowcount > 0

    def bulk_put(self, entity: str, rows: Iterable[tuple[int, dict]]) -> None:
        with self.write_lock:
            conn = self.conn()
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT OR REPLACE INTO records (entity, id, data) VALUES (?, ?, ?)",
                ((entity, rid, json.dumps(data, ensure_ascii=False)) for rid, data in rows),
            )
            conn.execute("COMMIT")

    def set_counter(self, entity: str, next_id: int) -> None:
        with self.write_lock:
            self.conn().execute(
                "INSERT INTO counters (entity, next_id) VALUES (?, ?) "
                "ON CONFLICT(entity) DO UPDATE SET next_id = excluded.next_id",
                (entity, next_id),
            )

    def select(
        self,
        entity: str,
        where: str,
        params: list,
        *,
        order: str = "id ASC",
        limit: int | None = 50,
        offset: int = 0,
    ) -> list[tuple[int, dict]]:
        sql = f"SELECT id, data FROM records WHERE entity = ? AND ({where}) ORDER BY {order}"
        args: list = [entity, *params]
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args += [limit, offset]
        rows = self.conn().execute(sql, args).fetchall()
        return [(rid, json.loads(data)) for rid, data in rows]

    def count(self, entity: str, where: str, params: list) -> int:
        sql = f"SELECT count(*) FROM records WHERE entity = ? AND ({where})"
        return self.conn().execute(sql, [entity, *params]).fetchone()[0]

    def ids(self, entity: str) -> list[int]:
        return [
            r[0]
            for r in self.conn().execute(
                "SELECT id FROM records WHERE entity = ? ORDER BY id", (entity,)
            )
        ]
