"""Pieces the Bitrix24 benchmarks share: services, Django, a sandbox portal process, the platform's
rate-limit arithmetic, and memory readings.

Nothing here is imported by the application; it sets up what a benchmark needs the way `make demo`
and the integration tests do (real PostgreSQL, Redis, sandbox portal, Keepwarm processes).
"""

from __future__ import annotations

import atexit
import math
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl

import httpx

ROOT = Path(__file__).resolve().parent.parent

# The standard plan (notes §6): a leaky bucket of 50 requests that drains 2 per second, per
# portal and source address; one batch request carries 50 pages of 50 rows.
BURST = 50
RATE = 2.0
RECORDS_PER_REQUEST = 50 * 50
CEILING = RATE * RECORDS_PER_REQUEST  # records per second once the burst is spent


def services_ensure() -> None:
    """Use DATABASE_URL / REDIS_URL from the environment, or start the embedded servers the way
    `make demo` does (config.devservices), stopping those we started when the process exits."""
    if os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"):
        return
    from config.devservices import start_services, stop_services

    env = dict(os.environ)
    started = start_services(env)
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "REDIS_URL")})
    atexit.register(stop_services, started)


def bench_env() -> dict[str, str]:
    """Environment shared by this process and the Keepwarm processes it starts.

    DEBUG off (Django would keep every query of a long sync in memory) and a Redis namespace and
    Celery queue of the benchmark's own, so no other worker takes its tasks and no other run
    shares its rate-limit buckets.
    """
    namespace = os.environ.get("KEEPWARM_REDIS_NAMESPACE") or f"keepwarm-bench-{os.getpid()}"
    env = {
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings.dev"),
        "DJANGO_DEBUG": os.environ.get("DJANGO_DEBUG", "false"),
        "KEEPWARM_REDIS_NAMESPACE": namespace,
        "KEEPWARM_QUEUE": os.environ.get("KEEPWARM_QUEUE") or namespace,
        "DJANGO_LOG_LEVEL": os.environ.get("DJANGO_LOG_LEVEL", "WARNING"),
    }
    os.environ.update(env)
    return env


def django_setup() -> None:
    services_ensure()
    bench_env()
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate_schemas", "--shared", interactive=False, verbosity=0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Sandbox:
    """A sandbox portal process (`python -m sandbox`), started and stopped by the benchmark."""

    scale: str
    seed: int = 1
    plan: str = "standard"
    state_dir: Path | None = None
    base: str = ""
    webhook: str = ""
    state_line: str = ""
    startup_seconds: float = 0.0
    process: subprocess.Popen | None = None
    _tmp: tempfile.TemporaryDirectory | None = field(default=None, repr=False)

    def start(self, timeout: float = 900) -> Sandbox:
        if self.state_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="keepwarm-bench-sandbox-")
            self.state_dir = Path(self._tmp.name)
        port = free_port()
        command = [
            sys.executable, "-m", "sandbox", "--port", str(port), "--scale", self.scale,
            "--seed", str(self.seed), "--plan", self.plan, "--state-dir", str(self.state_dir),
        ]  # fmt: skip
        started = time.monotonic()
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        atexit.register(self.stop)
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("the sandbox exited: " + "".join(lines))
            lines.append(line)
            if line.startswith("Sandbox portal: "):
                self.base = line.split(": ", 1)[1].strip()
            elif line.startswith("Webhook (admin): "):
                self.webhook = line.split(": ", 1)[1].strip()
            elif line.startswith("State: "):
                self.state_line = line.strip()
            elif line.strip() == "Ready.":
                self.startup_seconds = time.monotonic() - started
                threading.Thread(target=self._drain, daemon=True).start()
                return self
        raise RuntimeError("the sandbox did not start: " + "".join(lines))

    def _drain(self) -> None:
        for _ in self.process.stdout:
            pass

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def http(self, *, source: str | None = None) -> httpx.Client:
        """A client of the sandbox; `source` picks the local address (the sandbox's rate limit is
        per source address, so a client on 127.0.0.2 does not share the app's bucket)."""
        transport = httpx.HTTPTransport(local_address=source) if source else None
        return httpx.Client(base_url=self.base, timeout=120, transport=transport)

    def tool(self, path: str, payload: dict | None = None):
        with self.http() as http:
            response = (
                http.post(f"/sandbox/{path}", json=payload)
                if payload is not None
                else http.get(f"/sandbox/{path}")
            )
            response.raise_for_status()
            return response.json()

    def stats(self) -> dict:
        return self.tool("stats")

    def hook(self, method: str, payload: dict | None = None) -> dict:
        with self.http() as http:
            return http.post(f"{self.webhook}{method}.json", json=payload or {}).json()

    def total(self, method: str, params: dict | None = None) -> int:
        return int(self.hook(method, {"select": ["ID"], **(params or {})}).get("total") or 0)

    def rss_mb(self) -> float:
        return _status_kb(self.process.pid, "VmRSS") / 1024 if self.process else 0.0


class Receiver:
    """A stand-in for an application's handlers: answers every POST at once and records its path,
    form and arrival time (install POSTs, events)."""

    def __init__(self):
        self.received: list[tuple[float, str, dict]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                return

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                receiver.received.append((time.time(), self.path, form))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def forms(self, path: str) -> list[dict]:
        return [form for _, where, form in self.received if where.startswith(path)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def sandbox_quiet(sandbox: Sandbox, timeout: float = 900) -> None:
    """Wait until the sandbox has served no request for two seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        current = sandbox.stats()["requests"]
        if current == last:
            return
        last = current
        time.sleep(2)


def bucket_drain_wait() -> float:
    """Seconds after which a full bucket has drained completely."""
    return BURST / RATE + 1.0


def requests_least(records: dict[str, int]) -> int:
    """The fewest batch requests that can carry these records (2,500 per request, per entity)."""
    return sum(math.ceil(n / RECORDS_PER_REQUEST) for n in records.values() if n)


def rate_bound_seconds(requests: int) -> float:
    """The least wall time the leaky bucket allows for `requests` sequential requests: the first
    BURST go at once, every further one needs 1/RATE s of drain."""
    return max(0, requests - BURST) / RATE


def stats_delta(before: dict, after: dict) -> dict:
    """Requests the sandbox accepted (by method; batch sub-calls count under their own method,
    the batch itself under 'batch') and rejected with QUERY_LIMIT_EXCEEDED, between two reads."""
    methods = {
        method: after["requests"].get(method, 0) - before["requests"].get(method, 0)
        for method in after["requests"]
    }
    return {
        "methods": {m: n for m, n in methods.items() if n},
        "batch": methods.get("batch", 0),
        "rate_limited": after.get("rate_limited", 0) - before.get("rate_limited", 0),
        "events_sent": after.get("events_sent", 0) - before.get("events_sent", 0),
    }


def _status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return 0
    return 0


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(p) for p in handle.read().split()]
    except FileNotFoundError:
        return []


def process_tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo.extend(_children(current))
    return pids


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return 0
    return 0


def process_tree_memory_mb(pid: int) -> tuple[float, float]:
    """(proportional set size of the process and its descendants, the largest per-process peak
    RSS) in MB. PSS splits pages a forked pool shares with its parent instead of counting them
    once per process, as a sum of RSS would."""
    pids = process_tree(pid)
    total = sum(_pss_kb(p) for p in pids) / 1024
    peak = max((_status_kb(p, "VmHWM") for p in pids), default=0) / 1024
    return total, peak


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM)."""
    return _status_kb(os.getpid(), "VmHWM") / 1024


def load_note() -> str:
    """One line on how busy the machine is (other engineers' tests share its cores)."""
    one, five, _ = os.getloadavg()
    return f"{os.cpu_count()} CPUs, load average {one:.2f} (1 min) / {five:.2f} (5 min)"


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (p95 of 1,000 values is the 950th smallest)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]
