"""The embedded servers behind `make demo` / `make test` start, serve and stop cleanly."""

import socket

import psycopg
import redis

from config.devservices import EmbeddedPostgres, EmbeddedRedis, _port_open


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_embedded_redis_starts_serves_and_stops(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis", _free_port())

    assert server.start() is True
    try:
        client = redis.Redis(port=server.port)
        client.set("k", "v")
        assert client.get("k") == b"v"
        assert server.start() is False  # a second owner reuses the running server
    finally:
        server.stop()
    assert not _port_open(server.port)


def test_embedded_postgres_starts_serves_and_stops(tmp_path):
    server = EmbeddedPostgres(tmp_path / "pg", _free_port())

    assert server.start() is True
    try:
        dsn = f"host=127.0.0.1 port={server.port} user=postgres dbname=keepwarm"
        with psycopg.connect(dsn) as conn:
            version = conn.execute("SHOW server_version_num").fetchone()[0]
        assert int(version) >= 150000
    finally:
        server.stop()
    assert not _port_open(server.port)
