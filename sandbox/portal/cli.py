"""`python -m sandbox` / `manage.py sandbox_portal`: serve a sandbox Bitrix24 portal.

    --port PORT [--host 127.0.0.1] [--https] [--scale small|demo|large|N] [--seed N]
    [--plan standard|enterprise] [--backdating] [--state-dir DIR] [--operating-limit SECONDS]
    [--event-loss P] [--event-dup P] [--event-delay-ms A:B]

First lines printed: the base URL, an inbound webhook with admin rights, the CA certificate
(with --https), then "Ready.". The state (data, apps, tokens) lives in --state-dir and survives
restarts; the same scale and seed reuse it instead of generating again.
"""

from __future__ import annotations

import argparse
import hashlib
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from sandbox.portal.generate import SCALES, generate
from sandbox.portal.portal import Portal
from sandbox.portal.server import SandboxServer
from sandbox.portal.store import Store
from sandbox.portal.tls import ensure_certificates, server_context


def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(
        prog="sandbox_portal", description="Serve a sandbox Bitrix24 portal."
    )
    parse.add_argument("--port", type=int, default=9100)
    parse.add_argument("--host", default="127.0.0.1")
    parse.add_argument("--https", action="store_true")
    parse.add_argument(
        "--scale", default="small", help="small, demo, large, or a number of clients"
    )
    parse.add_argument("--seed", type=int, default=1)
    parse.add_argument("--plan", choices=["standard", "enterprise"], default="standard")
    parse.add_argument("--backdating", action="store_true")
    parse.add_argument("--state-dir", default=None)
    parse.add_argument("--operating-limit", type=float, default=480.0)
    parse.add_argument("--event-loss", type=float, default=0.0)
    parse.add_argument("--event-dup", type=float, default=0.0)
    parse.add_argument("--event-delay-ms", default="0:0")
    return parse


def _clients(scale: str) -> int:
    if scale in SCALES:
        return SCALES[scale]
    try:
        return max(10, int(scale))
    except ValueError:
        raise SystemExit(f"--scale must be small, demo, large or a number, not {scale!r}") from None


def build(args: argparse.Namespace) -> tuple[SandboxServer, dict]:
    clients = _clients(args.scale)
    state_dir = Path(args.state_dir or Path(".data") / "sandbox" / str(args.port)).resolve()
    store = Store(state_dir / "portal.sqlite3")
    signature = f"{clients}:{args.seed}"
    generated = False
    if store.meta("signature") != signature:
        if store.meta("signature") is not None:
            raise SystemExit(
                f"{state_dir} holds another portal ({store.meta('signature')}); "
                "use another --state-dir"
            )
        now = datetime.now(UTC)
        store.set_meta(
            "member_id", hashlib.sha256(f"sandbox:{args.seed}:{clients}".encode()).hexdigest()[:32]
        )
        store.set_meta("created_at", now.isoformat())
        generate(store, clients=clients, seed=args.seed, now=now)
        store.set_meta("signature", signature)
        generated = True
    scheme = "https" if args.https else "http"
    base = f"{scheme}://{args.host}:{args.port}"
    ca_file = None
    ssl_context = None
    if args.https:
        ca_path, cert_path, key_path = ensure_certificates(state_dir / "tls")
        ssl_context = server_context(cert_path, key_path)
        ca_file = str(ca_path)
    portal = Portal(
        store,
        base_url=base,
        plan=args.plan,
        operating_limit=args.operating_limit,
        seed=args.seed,
        backdating=args.backdating,
        ca_file=ca_file,
    )
    low, _, high = args.event_delay_ms.partition(":")
    portal.knobs.event_loss = args.event_loss
    portal.knobs.event_dup = args.event_dup
    portal.knobs.event_delay_ms = (int(low or 0), int(high or low or 0))
    code = portal.ensure_admin_webhook()
    server = SandboxServer(portal, args.host, args.port, ssl_context)
    info = {
        "base": base,
        "webhook": f"{base}/rest/1/{code}/",
        "ca": ca_file,
        "generated": generated,
        "state_dir": str(state_dir),
    }
    return server, info


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    started = time.monotonic()
    server, info = build(args)
    print(f"Sandbox portal: {info['base']}", flush=True)
    print(f"Webhook (admin): {info['webhook']}", flush=True)
    if info["ca"]:
        print(f"CA certificate (PEM): {info['ca']}", flush=True)
    print(
        f"State: {info['state_dir']} ({'generated' if info['generated'] else 'reused'} in "
        f"{time.monotonic() - started:.1f}s)",
        flush=True,
    )
    print("Ready.", flush=True)

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
