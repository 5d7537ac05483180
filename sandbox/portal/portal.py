"""The sandbox portal's behaviour: clock, apps and tokens, scopes, permissions, events."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import queue
import random
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sandbox.portal import protocol as p
from sandbox.portal.limits import LeakyBucket, OperatingTime
from sandbox.portal.query import PORTAL_TZ, split_operator
from sandbox.portal.store import Store

logger = logging.getLogger("sandbox")

ACCESS_TTL = 3600
REFRESH_TTL = 180 * 24 * 3600
ALL_SCOPES = [
    "crm",
    "task",
    "user",
    "user_brief",
    "user_basic",
    "department",
    "im",
    "placement",
    "telephony",
    "log",
    "calendar",
]


def method_scope(method: str) -> str:
    """Which scope a method belongs to (notes §2.2); `basic` needs none."""
    name = method.lower()
    for prefix, scope in (
        ("crm.", "crm"),
        ("tasks.", "task"),
        ("task.", "task"),
        ("user.", "user"),
        ("department.", "department"),
        ("im.", "im"),
        ("placement.", "placement"),
        ("voximplant.", "telephony"),
        ("calendar.", "calendar"),
        ("log.", "log"),
    ):
        if name.startswith(prefix):
            return scope
    return "basic"


@dataclass
class Caller:
    """Who is calling: an app (OAuth) or an inbound webhook, acting as a portal user."""

    user_id: int
    scopes: list[str]
    principal: str  # app client_id or "webhook:<code>", for operating-time accounting
    client_id: str | None = None
    is_webhook: bool = False
    token: str = ""

    def allows(self, method: str) -> bool:
        scope = method_scope(method)
        if scope == "basic":
            return True
        if scope == "user":
            return bool({"user", "user_brief", "user_basic"} & set(self.scopes))
        return scope in self.scopes


@dataclass
class Knobs:
    event_loss: float = 0.0
    event_dup: float = 0.0
    event_delay_ms: tuple[int, int] = (0, 0)
    fault_mode: str = ""
    fault_count: int = 0
    fault_until: float = 0.0
    fault_timeout_seconds: float = 15.0
    fault_method: str = ""  # "" = every method; else only requests of this method (e.g. batch)
    stats: dict = field(
        default_factory=lambda: {
            "requests": {},
            "refresh_grants": 0,
            "events_sent": 0,
            "events_dropped": 0,
            "events_duplicated": 0,
            "events_failed": 0,
        }
    )


class Portal:
    def __init__(
        self,
        store: Store,
        *,
        base_url: str,
        plan: str,
        operating_limit: float,
        seed: int,
        backdating: bool,
        ca_file: str | None = None,
    ):
        self.store = store
        self.base_url = base_url.rstrip("/")
        self.plan = plan
        self.bucket = LeakyBucket(plan)
        self.operating = OperatingTime(operating_limit)
        self.backdating = backdating
        self.knobs = Knobs()
        self.rng = random.Random(seed * 7919 + 1)  # noqa: S311 - reproducible fault injection
        self.rng_lock = threading.Lock()
        self.member_id = store.meta("member_id")
        self.domain = urllib.parse.urlsplit(self.base_url).netloc
        self.ca_file = ca_file
        self._events: queue.Queue = queue.Queue()
        self._event_thread = threading.Thread(target=self._deliver_events, daemon=True)
        self._event_thread.start()
        self._stats_lock = threading.Lock()
        self.usage: dict[tuple[str, str], set[tuple[str, str]]] = {}

    # --- clock --------------------------------------------------------------------------------

    def now(self) -> float:
        return time.time() + float(self.store.meta("clock_offset", 0.0))

    def now_dt(self) -> datetime:
        return datetime.fromtimestamp(self.now(), UTC).astimezone(PORTAL_TZ).replace(microsecond=0)

    def now_iso(self) -> str:
        return self.now_dt().isoformat()

    def advance(self, seconds: float) -> float:
        self.store.set_meta("clock_offset", float(self.store.meta("clock_offset", 0.0)) + seconds)
        return self.now()

    # --- stats --------------------------------------------------------------------------------

    def usage_note(self, principal: str, method: str, params: dict) -> None:
        """Remember which fields and parameters each caller named, per method (never values):
        what an app's data-use declaration can be checked against."""
        names: set[tuple[str, str]] = set()
        for key, value in params.items():
            if key.lower() in ("select", "filter", "order", "fields") and not isinstance(
                value, str
            ):
                items = value if isinstance(value, list) else list(value or {})
                for item in items:
                    field_name = split_operator(str(item))[1] if key.lower() == "filter" else item
                    if str(field_name).upper() != "LOGIC" and not str(field_name).isdigit():
                        names.add(("field", str(field_name)))
            else:
                names.add(("param", key))
        with self._stats_lock:
            entry = self.usage.setdefault((principal, method), set())
            entry.update(names)

    def usage_note_answer(self, principal: str, method: str, result) -> None:
        """Remember the field names an answer carried (for methods that take no `select`)."""
        rows = result
        if (
            isinstance(rows, dict)
            and len(rows) == 1
            and isinstance(next(iter(rows.values())), list)
        ):
            rows = next(iter(rows.values()))  # {"tasks": [...]}, {"items": [...]}
        elif (
            isinstance(rows, dict)
            and rows
            and all(str(key).isdigit() and isinstance(v, list) for key, v in rows.items())
        ):
            rows = [row for inner in rows.values() for row in inner]  # keyed by user id
        if isinstance(rows, dict):
            rows = [rows]
        names: set[tuple[str, str]] = set()
        for row in (rows if isinstance(rows, list) else [])[:50]:
            if not isinstance(row, dict):
                continue
            for key, value in row.items():
                names.add(("returned", str(key)))
                if isinstance(value, dict):  # e.g. app.info's "install" block
                    names.update(("returned", str(inner)) for inner in value)
        if names:
            with self._stats_lock:
                self.usage.setdefault((principal, method), set()).update(names)

    def usage_report(self) -> list[dict]:
        with self._stats_lock:
            return [
                {
                    "principal": principal,
                    "method": method,
                    "fields": sorted(name for kind, name in names if kind == "field"),
                    "params": sorted(name for kind, name in names if kind == "param"),
                    "returned": sorted(name for kind, name in names if kind == "returned"),
                }
                for (principal, method), names in sorted(self.usage.items())
            ]

    def count(self, key: str, method: str | None = None) -> None:
        with self._stats_lock:
            stats = self.knobs.stats
            if method:
                stats["requests"][method] = stats["requests"].get(method, 0) + 1
            else:
                stats[key] = stats.get(key, 0) + 1

    # --- users and permissions ----------------------------------------------------------------

    def user(self, user_id: int) -> dict | None:
        return self.store.get("user", user_id)

    def is_admin(self, user_id: int) -> bool:
        user = self.user(user_id)
        return bool(user and user.get("ROLE") == "admin")

    # --- webhooks, apps, tokens ---------------------------------------------------------------

    def ensure_admin_webhook(self) -> str:
        code = self.store.meta("admin_webhook")
        if not code:
            code = secrets.token_hex(8)
            self.store.put_obj("webhook", code, {"user_id": 1, "scopes": ALL_SCOPES})
            self.store.set_meta("admin_webhook", code)
        return code

    def webhook_caller(self, user_id: int, code: str) -> Caller:
        hook = self.store.obj("webhook", code)
        if not hook or int(hook["user_id"]) != user_id:
            raise p.no_auth()
        return Caller(user_id, hook["scopes"], f"webhook:{code}", is_webhook=True)

    def token_caller(self, token: str) -> Caller:
        if not token:
            raise p.RestError(401, "NO_AUTH_FOUND", "Wrong authorization data")
        row = self.store.obj("access", hashlib.sha256(token.encode()).hexdigest())
        if row is None:
            raise p.invalid_token()
        if row["expires"] <= self.now():
            raise p.expired_token()
        app = self.store.obj("app", row["client_id"])
        if app is None or not app.get("installed"):
            raise p.invalid_token()
        return Caller(row["user_id"], app["scope"], row["client_id"], row["client_id"], token=token)

    def issue_tokens(self, client_id: str, user_id: int) -> dict:
        access = secrets.token_hex(16)
        refresh = secrets.token_hex(16)
        now = self.now()
        self.store.put_obj(
            "access",
            hashlib.sha256(access.encode()).hexdigest(),
            {"client_id": client_id, "user_id": user_id, "expires": now + ACCESS_TTL},
        )
        self.store.put_obj(
            "refresh",
            hashlib.sha256(refresh.encode()).hexdigest(),
            {
                "client_id": client_id,
                "user_id": user_id,
                "expires": now + REFRESH_TTL,
                "used": False,
            },
        )
        return {
            "access_token": access,
            "refresh_token": refresh,
            "expires": int(now + ACCESS_TTL),
            "expires_in": ACCESS_TTL,
        }

    def oauth_answer(self, client_id: str, user_id: int, tokens: dict) -> dict:
        app = self.store.obj("app", client_id) or {}
        return {
            **tokens,
            "scope": ",".join(app.get("scope", [])),
            "domain": "oauth.sandbox.local",
            "server_endpoint": f"{self.base_url}/rest/",
            "client_endpoint": f"{self.base_url}/rest/",
            "member_id": self.member_id,
            "status": "L",
            "user_id": user_id,
        }

    def refresh_grant(self, client_id: str, client_secret: str, refresh_token: str) -> dict:
        app = self.store.obj("app", client_id)
        if app is None or app["client_secret"] != client_secret:
            raise p.RestError(401, "invalid_client", "Invalid client")
        key = hashlib.sha256((refresh_token or "").encode()).hexdigest()
        with self.store.write_lock:
            row = self.store.obj("refresh", key)
            if row is None or row["used"] or row["client_id"] != client_id:
                raise p.RestError(400, "invalid_grant", "Invalid refresh token")
            if row["expires"] <= self.now():
                raise p.RestError(400, "invalid_grant", "Refresh token expired")
            if not app.get("installed"):
                raise p.RestError(400, "invalid_grant", "Application is not installed")
            row["used"] = True  # rotation: a spent refresh token is dead
            self.store.put_obj("refresh", key, row)
            tokens = self.issue_tokens(client_id, row["user_id"])
        self.count("refresh_grants")
        return self.oauth_answer(client_id, row["user_id"], tokens)

    # --- events -------------------------------------------------------------------------------

    def emit(self, event: str, data: dict, *, user_id: int = 1) -> None:
        """Queue the event for every app bound to it that finished its installation."""
        for _, binding in self.store.objs("binding"):
            if binding["event"] != event.upper():
                continue
            app = self.store.obj("app", binding["client_id"])
            if not app or not app.get("installed") or not app.get("finished"):
                continue
            form = self._event_form(event.upper(), data, app, binding, user_id)
            self._enqueue(binding["handler"], form)

    def _event_form(self, event: str, data: dict, app: dict, binding: dict, user_id: int) -> dict:
        form = {"event": event, "event_handler_id": str(binding["id"]), "ts": str(int(self.now()))}
        form.update(_flatten("data", data))
        if event != "ONAPPUNINSTALL":
            tokens = self._event_tokens(app["client_id"], user_id)
            form.update(
                {
                    "auth[access_token]": tokens["access_token"],
                    "auth[expires]": str(tokens["expires"]),
                    "auth[expires_in]": str(ACCESS_TTL),
                    "auth[scope]": ",".join(app["scope"]),
                    "auth[status]": "L",
                    "auth[user_id]": str(user_id),
                }
            )
        form.update(
            {
                "auth[domain]": self.domain,
                "auth[server_endpoint]": f"{self.base_url}/rest/",
                "auth[client_endpoint]": f"{self.base_url}/rest/",
                "auth[member_id]": self.member_id,
                "auth[application_token]": app["application_token"],
            }
        )
        return form

    def _event_tokens(self, client_id: str, user_id: int) -> dict:
        cache = getattr(self, "_token_cache", {})
        self._token_cache = cache
        cached = cache.get((client_id, user_id))
        if cached and cached["expires"] - 60 > self.now():
            return cached
        cached = self.issue_tokens(client_id, user_id)
        cache[(client_id, user_id)] = cached
        return cached

    def _enqueue(self, url: str, form: dict) -> None:
        with self.rng_lock:
            lost = self.rng.random() < self.knobs.event_loss
            dup = self.rng.random() < self.knobs.event_dup
            low, high = self.knobs.event_delay_ms
            delay = self.rng.uniform(low, high) / 1000 if high else 0.0
        if lost:
            self.count("events_dropped")
            return
        due = time.monotonic() + delay
        self._events.put((due, url, form))
        if dup:
            self.count("events_duplicated")
            self._events.put((due + 0.05, url, form))

    def _deliver_events(self) -> None:
        pending: list[tuple[float, str, dict]] = []
        while True:
            timeout = max(
                0.0,
                min((item[0] for item in pending), default=time.monotonic() + 0.2)
                - time.monotonic(),
            )
            with contextlib.suppress(queue.Empty):
                pending.append(self._events.get(timeout=min(timeout, 0.2) or 0.01))
            ready = [item for item in pending if item[0] <= time.monotonic()]
            pending = [item for item in pending if item[0] > time.monotonic()]
            for _, url, form in sorted(ready, key=lambda item: item[0]):
                self._post(url, form)

    def _post(self, url: str, form: dict) -> None:
        body = urllib.parse.urlencode(form).encode()
        request = urllib.request.Request(  # noqa: S310 - the app's own handler URL
            url, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                response.read()
            self.count("events_sent")
        except (urllib.error.URLError, OSError, ValueError):
            self.count("events_failed")  # Bitrix24 does not retry


def _flatten(prefix: str, value) -> dict:
    out = {}
    if isinstance(value, dict):
        for key, inner in value.items():
            out.update(_flatten(f"{prefix}[{key}]", inner))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            out.update(_flatten(f"{prefix}[{index}]", inner))
    else:
        out[prefix] = "" if value is None else str(value)
    return out


def json_dumps(value) -> bytes:
    return json.dumps(value, ensure_ascii=False, default=str).encode()
