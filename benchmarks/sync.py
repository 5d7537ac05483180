"""Benchmark: Keepwarm's first full sync of a sandbox portal, and events reaching the mirror.

    python -m benchmarks.sync [--scale large] [--seed 1] [--events 1000] [--settle SECONDS]
                              [--state-dir DIR] [--keep] [--scheduler]

Everything runs as in production, each in its own process: a sandbox portal (standard plan),
Keepwarm's web app (gunicorn, 2 workers, which receives the install POST and the events) and a
Celery worker (prefork, concurrency 2), with the settings' defaults (set DATABASE_CONN_MAX_AGE and
the like in the environment to try others; the processes inherit it). The portal is connected
through the real install flow (`connect_portal --sandbox`), which schedules the first full sync;
the worker runs it. Then:

  full sync      wall time of the run (its own started_at → finished_at) next to the rate-limit
                 bound: the fewest batch requests that can carry the records,
                 R = Σ ceil(records of an entity / 2,500), of which the first 50 ride the burst and
                 every further one waits 1/2 s:  bound = (R − 50) / 2 s.  Target ≤ 1.15× bound.
  requests       REST requests per 1,000 records (the run's own count; the sandbox's count of
                 batches and of 503 refusals as a cross-check). The least possible is 0.4.
  events         first, before the install, a baseline: as many timeline comments delivered by
                 the same sandbox to a handler that answers at once. Then, after the sync and
                 --settle seconds (default: until the bucket has drained), --events records (40 %
                 contacts, 30 % companies, 30 % deals) are changed through the admin webhook in
                 batches of 50, sent back to back from another source address (people editing a
                 portal do not spend the app's request budget); the sandbox POSTs one event per
                 change to Keepwarm, one at a time, each after the previous one's answer.
                 Latency per record = first moment the mirror row shows the new value − the start
                 of the batch request that changed it. The sandbox's count of delivered events is
                 sampled too, which splits it into delivery (change → Keepwarm's endpoint has
                 answered) and Keepwarm's asynchronous part (→ Celery → re-read → mirror); the
                 endpoint's own service time comes from gunicorn's access log. Target p95 ≤ 2 s.
  memory         peak memory of the worker: each process's own peak RSS (VmHWM) and the largest
                 sampled PSS sum over the worker's process tree (PSS counts the pages the pool
                 shares with its parent once). Target < 500 MB.

With --scheduler, Celery beat runs too, so the periodic portal jobs (the details backfill every
minute, the sweep) compete with the burst as they would when deployed; without it only the full
sync and the events' flushes run.

Logs of the web app and the worker go to .data/bench/.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx

from benchmarks import _common as common

EVENT_MIX = (("contact", "LAST_NAME", "last_name", 0.4), ("company", "TITLE", "title", 0.3),
             ("deal", "TITLE", "title", 0.3))  # fmt: skip


# --- Keepwarm's processes -------------------------------------------------------------------------


@dataclass
class Keepwarm:
    """The web app (gunicorn) and a Celery worker, started like `make demo` starts them."""

    web_port: int
    concurrency: int = 2
    log_dir: Path = field(default_factory=lambda: common.ROOT / ".data" / "bench")
    web: subprocess.Popen | None = None
    worker: subprocess.Popen | None = None
    scheduler: bool = False  # also run Celery beat, so the periodic portal jobs run as deployed
    beat: subprocess.Popen | None = None
    hostname: str = ""

    def start(self) -> Keepwarm:
        from config.celery import app

        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        python = sys.executable
        self.hostname = f"bench-{uuid.uuid4().hex[:8]}@localhost"
        with (self.log_dir / "web.log").open("w") as log:
            self.web = subprocess.Popen(
                [python, "-m", "gunicorn", "config.wsgi:application",
                 "--bind", f"127.0.0.1:{self.web_port}", "--workers", "2",
                 "--access-logfile", str(self.access_log), "--access-logformat", "%(r)s %(D)s"],
                cwd=common.ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        with (self.log_dir / "worker.log").open("w") as log:
            self.worker = subprocess.Popen(
                [python, "-m", "celery", "-A", "config", "worker", "--pool=prefork",
                 f"--concurrency={self.concurrency}", "--loglevel=INFO", "--without-gossip",
                 "--without-mingle", "--without-heartbeat",
                 "-Q", os.environ["KEEPWARM_QUEUE"], "-n", self.hostname],
                cwd=common.ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        if self.scheduler:
            with (self.log_dir / "beat.log").open("w") as log:
                self.beat = subprocess.Popen(
                    [python, "-m", "celery", "-A", "config", "beat", "--loglevel=INFO",
                     "--schedule", str(self.log_dir / "beat-schedule")],
                    cwd=common.ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                )  # fmt: skip
        deadline = time.monotonic() + 90
        web_up = worker_up = False
        while time.monotonic() < deadline and not (web_up and worker_up):
            for name, process in (("web app", self.web), ("worker", self.worker)):
                if process.poll() is not None:
                    raise RuntimeError(f"Keepwarm's {name} exited; see {self.log_dir}")
            if not web_up:
                with contextlib.suppress(httpx.HTTPError):
                    url = f"http://127.0.0.1:{self.web_port}/security/"
                    web_up = httpx.get(url, timeout=2).status_code == 200
            if not worker_up:
                worker_up = bool(app.control.ping(destination=[self.hostname], timeout=0.5))
            time.sleep(0.2)
        if not (web_up and worker_up):
            raise RuntimeError(f"Keepwarm did not come up in 90 s; see {self.log_dir}")
        return self

    @property
    def access_log(self) -> Path:
        return self.log_dir / "access.log"

    def event_service_times(self, offset: int) -> list[float]:
        """Seconds gunicorn spent on each event POST logged after `offset` (%(D)s, in µs)."""
        with self.access_log.open() as log:
            log.seek(offset)
            return [
                int(line.rsplit(" ", 1)[1]) / 1e6
                for line in log
                if line.startswith("POST /b24/events/")
                and line.rstrip().rsplit(" ", 1)[1].isdigit()
            ]

    def stop(self) -> None:
        for process in (self.beat, self.web, self.worker):
            if process is not None and process.poll() is None:
                process.terminate()
        for process in (self.beat, self.web, self.worker):
            if process is not None:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()


class MemorySampler(threading.Thread):
    """Samples the worker's process tree every half second."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_total = 0.0
        self.peak_process = 0.0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(0.5)

    def sample(self) -> None:
        total, peak = common.process_tree_memory_mb(self.pid)
        self.peak_total = max(self.peak_total, total)
        self.peak_process = max(self.peak_process, peak)

    def stop(self) -> None:
        self._halt.set()
        self.join()
        self.sample()


# --- full sync ------------------------------------------------------------------------------------


def sandbox_member_id(sandbox: common.Sandbox) -> str:
    """The sandbox portal's member_id (kept in its state), to drop a previous run's portal."""
    path = Path(sandbox.state_dir) / "portal.sqlite3"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        row = db.execute("SELECT value FROM meta WHERE key = 'member_id'").fetchone()
    return row[0].strip('"') if row else ""


def connect(sandbox: common.Sandbox):
    from django.conf import settings
    from django.core.management import call_command

    from tenants.models import Portal
    from tenants.services import portal_delete

    for stale in Portal.objects.filter(member_id=sandbox_member_id(sandbox)):
        portal_delete(portal=stale)  # a re-install would keep its finished checkpoints
    with contextlib.suppress(httpx.HTTPError):  # a reused sandbox: drop the old event bindings
        sandbox.tool(f"apps/{settings.BITRIX_CLIENT_ID}/uninstall", {"clean": True})
    out = io.StringIO()
    call_command("connect_portal", "--sandbox", sandbox.base, stdout=out)
    return Portal.objects.get(member_id=out.getvalue().strip().splitlines()[-1])


def full_sync_follow(portal, memory: MemorySampler, timeout: float = 7200):
    from crm_sync.models import SyncRun

    deadline = time.monotonic() + timeout
    shown = 0.0
    while time.monotonic() < deadline:
        with portal:
            run = SyncRun.objects.filter(kind=SyncRun.Kind.FULL).order_by("created_at").first()
        if run is not None and run.status == SyncRun.Status.DONE:
            return run
        if run is not None and run.status == SyncRun.Status.FAILED:
            raise RuntimeError(f"the full sync failed: {run.error}")
        if time.monotonic() - shown >= 30:
            shown = time.monotonic()
            done, total = (run.records_done, run.records_total) if run else (0, None)
            print(f"  … {run.status if run else 'waiting'}: {done:,} / "
                  f"{total or 0:,} records, {run.requests if run else 0} requests, worker PSS "
                  f"{common.process_tree_memory_mb(memory.pid)[0]:.0f} MB", flush=True)  # fmt: skip
        time.sleep(0.5)
    raise RuntimeError("the full sync did not finish in time")


# --- events ---------------------------------------------------------------------------------------


def _targets(portal, count: int) -> list[tuple[str, str, str, int]]:
    """(entity, Bitrix24 field, mirror column, id) for `count` records spread over each table."""
    from django.db import connection

    targets = []
    with portal, connection.cursor() as cursor:
        for index, (entity, b24_field, column, share) in enumerate(EVENT_MIX):
            wanted = count - len(targets) if index == len(EVENT_MIX) - 1 else int(count * share)
            cursor.execute(f"SELECT count(*) FROM crm_sync_{entity}")  # noqa: S608 - fixed names
            rows = cursor.fetchone()[0]
            step = max(1, rows // max(1, wanted))
            cursor.execute(
                f"SELECT id FROM crm_sync_{entity} ORDER BY id LIMIT %s",  # noqa: S608
                [wanted * step],
            )
            ids = [row[0] for row in cursor.fetchall()][::step][:wanted]
            targets.extend((entity, b24_field, column, record_id) for record_id in ids)
    return targets


BASELINE_APP = "bench.noop-receiver"


def delivery_baseline(sandbox: common.Sandbox, count: int) -> dict:
    """The sandbox's own event delivery, to a handler that answers at once: `count` timeline
    comments sent to a no-op receiver of a second app (before Keepwarm binds them too)."""
    receiver = common.Receiver()
    handler = f"{receiver.url}/events"
    changed_at: dict[str, float] = {}
    try:
        sandbox.tool(
            "apps",
            {"client_id": BASELINE_APP, "client_secret": "bench", "scope": "crm",
             "install_url": f"{receiver.url}/install"},
        )  # fmt: skip
        sandbox.tool(f"apps/{BASELINE_APP}/install", {"user_id": 1})
        token = receiver.forms("/install")[-1]["AUTH_ID"]
        sandbox.tool("install-finish", {"auth": token})
        event = {"auth": token, "event": "ONCRMTIMELINECOMMENTADD", "handler": handler}
        with sandbox.http(source="127.0.0.3") as http:
            http.post("/rest/event.bind.json", json=event).raise_for_status()
            started = time.time()
            for start in range(0, count, 50):
                commands = {
                    f"c{index}": "crm.timeline.comment.add?fields[ENTITY_TYPE]=contact"
                    "&fields[ENTITY_ID]=1&fields[COMMENT]=benchmark"
                    for index in range(start, min(start + 50, count))
                }
                began = time.time()
                body = http.post(
                    f"{sandbox.webhook}batch.json", json={"halt": 0, "cmd": commands}
                ).json()
                for comment_id in (body.get("result") or {}).get("result", {}).values():
                    changed_at[str(comment_id)] = began
            deadline = time.monotonic() + 120
            while len(receiver.forms("/events")) < len(changed_at) and time.monotonic() < deadline:
                time.sleep(0.1)
            # Not app uninstall: the sandbox sends ONAPPUNINSTALL to every app bound to it.
            http.post("/rest/event.unbind.json", json=event).raise_for_status()
    finally:
        receiver.close()
    arrivals = {
        form.get("data[ID]"): moment
        for moment, path, form in receiver.received
        if path.startswith("/events")
    }
    latency = [arrivals[key] - changed_at[key] for key in changed_at if key in arrivals]
    return {
        "count": len(changed_at),
        "arrived": len(latency),
        "latency": latency,
        "span": (max(arrivals.values()) - started) if arrivals else 0.0,
    }


def event_burst(sandbox: common.Sandbox, portal, count: int) -> dict:
    from django.db import connection

    tag = uuid.uuid4().hex[:6]
    targets = _targets(portal, count)
    values = [f"kwb-{tag}-{index}" for index in range(len(targets))]
    changed_at: list[float] = [0.0] * len(targets)
    delivered_samples: list[tuple[float, int]] = []
    seen_at: dict[int, float] = {}
    sent = threading.Event()
    change_errors: list[str] = []
    before = sandbox.stats()

    def change() -> None:
        with sandbox.http(source="127.0.0.2") as http:
            for start in range(0, len(targets), 50):
                commands = {}
                for index in range(start, min(start + 50, len(targets))):
                    entity, b24_field, _, record_id = targets[index]
                    commands[f"u{index}"] = (
                        f"crm.{entity}.update?id={record_id}"
                        f"&fields[{b24_field}]={quote(values[index])}"
                    )
                began = time.time()
                body = http.post(
                    f"{sandbox.webhook}batch.json", json={"halt": 0, "cmd": commands}
                ).json()
                for index in range(start, min(start + 50, len(targets))):
                    changed_at[index] = began
                errors = (body.get("result") or {}).get("result_error") or body.get("error")
                if errors:
                    change_errors.append(str(errors)[:300])
        sent.set()

    def deliveries() -> None:
        base = before.get("events_sent", 0) + before.get("events_failed", 0)
        with sandbox.http() as http:
            while True:
                stats = http.get("/sandbox/stats").json()
                now = time.time()
                done = stats.get("events_sent", 0) + stats.get("events_failed", 0) - base
                delivered_samples.append((now, done))
                if done >= len(targets) or (sent.is_set() and len(seen_at) == len(targets)):
                    return
                time.sleep(0.05)

    by_entity: dict[str, dict[int, int]] = {}
    for index, (entity, _, _, record_id) in enumerate(targets):
        by_entity.setdefault(entity, {})[record_id] = index
    columns = {entity: column for entity, _, column, _ in EVENT_MIX}
    sender = threading.Thread(target=change, daemon=True)
    counter = threading.Thread(target=deliveries, daemon=True)
    started = time.time()
    counter.start()
    sender.start()
    deadline = time.monotonic() + 180
    with portal, connection.cursor() as cursor:
        while len(seen_at) < len(targets) and time.monotonic() < deadline:
            polled = time.time()
            for entity, indexes in by_entity.items():
                cursor.execute(
                    f"SELECT id, {columns[entity]} FROM crm_sync_{entity} "  # noqa: S608
                    "WHERE id = ANY(%s)",
                    [list(indexes)],
                )
                for record_id, value in cursor.fetchall():
                    index = indexes[record_id]
                    if index not in seen_at and value == values[index]:
                        seen_at[index] = polled
            time.sleep(0.05)
    sender.join()
    counter.join(timeout=5)
    after = sandbox.stats()

    def delivered_at(position: int) -> float | None:
        for moment, done in delivered_samples:
            if done >= position + 1:
                return moment
        return None

    total, delivery, ours = [], [], []
    for index in sorted(seen_at):
        total.append(seen_at[index] - changed_at[index])
        moment = delivered_at(index)
        if moment is not None:
            delivery.append(moment - changed_at[index])
            ours.append(seen_at[index] - moment)
    delta = common.stats_delta(before, after)
    change_batches = -(-len(targets) // 50)
    return {
        "count": len(targets),
        "seen": len(seen_at),
        "total": total,
        "delivery": delivery,
        "ours": ours,
        "sending": max(changed_at) - started if changed_at else 0.0,
        "last_delivery": (delivered_samples[-1][0] - started) if delivered_samples else 0.0,
        "events_sent": after.get("events_sent", 0) - before.get("events_sent", 0),
        "events_failed": after.get("events_failed", 0) - before.get("events_failed", 0),
        "flush_requests": delta["batch"] - change_batches,
        "refused": delta["rate_limited"],
        "change_errors": change_errors,
    }


# --- report ---------------------------------------------------------------------------------------


def _ms(values: list[float], share: float) -> str:
    return f"{common.percentile(values, share) * 1000:,.0f} ms" if values else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="large", help="sandbox size: small, demo, large or N")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--events", type=int, default=1000, help="records changed in the burst")
    parser.add_argument(
        "--settle",
        type=float,
        default=common.bucket_drain_wait(),
        help="seconds between the sync and the burst (default: until a full bucket has drained)",
    )
    parser.add_argument("--state-dir", default=None, help="reuse a generated sandbox portal")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark portal")
    parser.add_argument(
        "--scheduler",
        action="store_true",
        help="also run Celery beat: the periodic jobs (details backfill, sweep) run meanwhile",
    )
    args = parser.parse_args()
    web_port = common.free_port()
    os.environ["KEEPWARM_PUBLIC_URL"] = f"http://127.0.0.1:{web_port}"
    common.django_setup()
    from crm_sync.models import SyncState
    from crm_sync.sync.entities import MIRRORED
    from tenants.services import portal_delete

    print(f"machine: {common.load_note()}")
    conn_max_age = os.environ.get("DATABASE_CONN_MAX_AGE", "60 (the default)")
    print(
        f"Keepwarm processes: gunicorn --workers 2, celery prefork --concurrency 2"
        f"{', celery beat (periodic jobs)' if args.scheduler else ''}, "
        f"DATABASE_CONN_MAX_AGE={conn_max_age}"
    )
    sandbox = common.Sandbox(
        scale=args.scale, seed=args.seed, state_dir=Path(args.state_dir) if args.state_dir else None
    ).start()
    keepwarm = None
    portal = None
    memory = None
    try:
        print(f"sandbox ({args.scale}, standard plan): {sandbox.state_line}; ready after "
              f"{sandbox.startup_seconds:.1f}s", flush=True)  # fmt: skip
        keepwarm = Keepwarm(web_port, scheduler=args.scheduler).start()
        memory = MemorySampler(keepwarm.worker.pid)
        memory.start()
        baseline = None
        if args.events:
            # Before the install: Keepwarm binds timeline comment events too, and the sandbox
            # delivers events one at a time, so afterwards its handler would be in the baseline.
            print(f"event delivery baseline: {args.events} events to a no-op handler …", flush=True)
            baseline = delivery_baseline(sandbox, args.events)
        before = sandbox.stats()
        connected = time.monotonic()
        portal = connect(sandbox)
        print(f"connected through the install flow in {time.monotonic() - connected:.1f}s; "
              "the worker runs the first full sync …", flush=True)  # fmt: skip
        run = full_sync_follow(portal, memory)
        observed = time.monotonic() - connected
        after = sandbox.stats()
        sync_memory = (memory.peak_process, memory.peak_total)
        with portal:
            totals = {s.entity: s.records_total or 0 for s in SyncState.objects.all()}
        states = {spec.key: totals[spec.key] for spec in MIRRORED if totals.get(spec.key)}
        wall = (run.finished_at - run.started_at).total_seconds()
        least = common.requests_least(states)
        bound = common.rate_bound_seconds(least)
        delta = common.stats_delta(before, after)
        records = run.records_done

        burst = None
        if args.events:
            time.sleep(args.settle)  # a burst comes some time after the sync
            print(f"event burst: {args.events} changes …", flush=True)
            offset = keepwarm.access_log.stat().st_size
            burst = event_burst(sandbox, portal, args.events)
            time.sleep(1)  # gunicorn writes its access log line after the answer
            burst["service"] = keepwarm.event_service_times(offset)
        memory.stop()

        print(f"\nfull sync of a '{args.scale}' sandbox portal (standard plan)")
        print("  records per entity: " + ", ".join(f"{k} {v:,}" for k, v in states.items()))
        print(
            f"  wall time {wall:.1f}s (run started → finished; {observed:.1f}s from the install "
            f"request to the benchmark seeing it done), {records:,} records, "
            f"{records / wall:,.0f} records/s"
        )
        ratio = wall / bound if bound else float("nan")
        print(
            f"  rate-limit bound: R = Σ ceil(records / 2,500) = {least} requests; "
            f"(R − {common.BURST}) / {common.RATE:g} per s = {bound:.1f}s → "
            f"wall / bound = {ratio:.3f} (target ≤ 1.15: "
            f"{'met' if bound and ratio <= 1.15 else 'MISSED' if bound else 'n/a'})"
        )
        print(
            f"  REST requests: {run.requests} by the run's count → "
            f"{1000 * run.requests / max(1, records):.3f} per 1,000 records (least possible "
            f"{1000 * least / max(1, records):.3f}); from the install to the end the sandbox "
            f"carried out {delta['batch']} batches and refused {delta['rate_limited']} requests "
            "with 503"
        )
        if burst is not None:
            per_event = 1000 * burst["last_delivery"] / max(1, burst["events_sent"])
            print(
                f"\nevent burst: {burst['count']} records changed in "
                f"{-(-burst['count'] // 50)} batch requests over {burst['sending']:.1f}s; "
                f"{burst['events_sent']} events delivered ({burst['events_failed']} failed), the "
                f"last {burst['last_delivery']:.1f}s after the first change "
                f"({per_event:.1f} ms per event); "
                f"{burst['seen']} of {burst['count']} reached the mirror; the sandbox delivers "
                "events one at a time, each after the previous one's answer"
            )
            print(
                f"  baseline, the same sandbox delivering {baseline['count']} events to a no-op "
                f"handler: the last arrived {baseline['span']:.1f}s after the first change "
                f"({1000 * baseline['span'] / max(1, baseline['arrived']):.1f} ms per event)"
            )
            for label, values in (
                ("baseline change → no-op handler", baseline["latency"]),
                ("change → mirror", burst["total"]),
                ("  change → event delivered (sandbox)", burst["delivery"]),
                ("  delivered → mirror (Keepwarm)", burst["ours"]),
                ("event endpoint service time", burst["service"]),
            ):
                print(
                    f"  {label:<38} p50 {_ms(values, 0.5):>9}  p95 {_ms(values, 0.95):>9}  "
                    f"max {_ms(values, 1.0):>9}"
                )
            p95 = common.percentile(burst["total"], 0.95) if burst["total"] else float("inf")
            complete = burst["seen"] == burst["count"]
            print(
                f"  Keepwarm re-read them with {burst['flush_requests']} batch requests "
                f"({burst['refused']} refused with 503); target p95 ≤ 2 s: "
                f"{'met' if complete and p95 <= 2 else 'MISSED'}"
            )
            for error in burst["change_errors"]:
                print(f"  change error: {error}")
        print(
            f"\nworker memory: peak RSS of one worker process {memory.peak_process:.0f} MB, "
            f"peak PSS of the whole worker (parent + pool processes) {memory.peak_total:.0f} MB "
            f"(during the full sync: {sync_memory[0]:.0f} / {sync_memory[1]:.0f} MB); "
            f"target < 500 MB: {'met' if max(*sync_memory, memory.peak_total) < 500 else 'MISSED'}"
        )
        if args.scheduler:
            from tenants.models import PortalJobSchedule

            jobs = PortalJobSchedule.objects.filter(portal=portal).order_by("job")
            print("periodic jobs, last outcome: " + ", ".join(
                f"{job.job} {job.last_outcome or '-'}" for job in jobs))  # fmt: skip
        print(f"sandbox process RSS at the end: {sandbox.rss_mb():.0f} MB")
        print(f"machine: {common.load_note()}")
    finally:
        if memory is not None and memory.is_alive():
            memory.stop()
        if keepwarm is not None:
            keepwarm.stop()
        if portal is not None and not args.keep:
            with contextlib.suppress(Exception):
                portal_delete(portal=portal)
        sandbox.stop()


if __name__ == "__main__":
    main()
