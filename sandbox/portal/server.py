"""HTTP front of the sandbox portal: REST, batch, OAuth server, install flow, /sandbox/ tools."""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sandbox.portal import calendar
from sandbox.portal import protocol as p
from sandbox.portal.limits import call_cost
from sandbox.portal.methods import METHODS, Answer
from sandbox.portal.portal import Caller, Portal, json_dumps

logger = logging.getLogger("sandbox")

_WEBHOOK_PATH = re.compile(r"^/rest/(\d+)/([A-Za-z0-9]+)/([A-Za-z0-9_.]+?)(?:\.(json|xml))?/?$")
_APP_PATH = re.compile(r"^/rest/([A-Za-z0-9_.]+?)(?:\.(json|xml))?/?$")
_REF = re.compile(r"\$result\[([^\]]+)\]((?:\[[^\]]*\])*)")
_BATCH_FORBIDDEN = {"batch"}
MAX_BATCH = 50
REQUEST_CUT_SECONDS = 60


def _resolve(value: Any, results: dict) -> Any:
    """Substitute `$result[key][path…]` references in batch parameters."""
    if isinstance(value, dict):
        return {k: _resolve(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, results) for v in value]
    if not isinstance(value, str) or "$result[" not in value:
        return value

    def lookup(match: re.Match) -> str:
        node: Any = results.get(match.group(1))
        for part in re.findall(r"\[([^\]]*)\]", match.group(2)):
            if isinstance(node, dict):
                node = node.get(part)
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                node = None
            if node is None:
                break
        if isinstance(node, dict | list):
            return json.dumps(node)
        return "" if node is None else str(node)

    return _REF.sub(lookup, value)


class SandboxServer:
    def __init__(self, portal: Portal, host: str, port: int, ssl_context=None):
        self.portal = portal
        handler = _make_handler(self)
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        if ssl_context is not None:
            self.httpd.socket = ssl_context.wrap_socket(self.httpd.socket, server_side=True)

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def shutdown(self) -> None:
        self.httpd.shutdown()

    # --- REST -----------------------------------------------------------------------------------

    def rest(self, path: str, params: dict, source: str) -> tuple[int, dict]:
        portal = self.portal
        webhook = _WEBHOOK_PATH.match(path)
        app = None if webhook else _APP_PATH.match(path)
        if not webhook and not app:
            raise p.method_not_found()
        method = (webhook.group(3) if webhook else app.group(1)).lower()
        answer_delay = self._fault(method)
        if not portal.bucket.take(source):
            raise p.query_limit()
        if webhook:
            caller = portal.webhook_caller(int(webhook.group(1)), webhook.group(2))
        else:
            caller = portal.token_caller(str(params.pop("auth", "") or ""))
        params.pop("auth", None)
        started = p.now()
        if method == "batch":
            portal.usage_note(caller.principal, "batch", params)
            result = self._batch(caller, params)
            portal.count("", "batch")
            finished = p.now()
            time.sleep(answer_delay)
            return 200, {"result": result, "time": p.time_block(started, finished, 0.0, None)}
        answer = self._call(caller, method, params)
        used, reset_at = portal.operating.charge(
            caller.principal, method, call_cost(answer.rows, answer.start)
        )
        finished = p.now()
        body: dict = {"result": answer.result}
        if answer.total is not None:
            body["total"] = answer.total
        if answer.next is not None:
            body["next"] = answer.next
        body["time"] = p.time_block(started, finished, used, reset_at)
        time.sleep(answer_delay)
        return 200, body

    def _call(self, caller: Caller, method: str, params: dict) -> Answer:
        portal = self.portal
        handler = METHODS.get(method)
        if handler is None:
            raise p.method_not_found()
        if not caller.allows(method):
            raise p.insufficient_scope()
        blocked = portal.operating.blocked(caller.principal, method)
        if blocked is not None:
            raise p.RestError(
                429,
                "OPERATION_TIME_LIMIT",
                "Method is blocked due to operation time limit.",
                extra={"operating_reset_at": int(blocked)},
            )
        portal.count("", method)
        portal.usage_note(caller.principal, method, params)
        portal.store.journal(
            "request",
            {
                "method": method,
                "params": _shape(params),
                "user": caller.user_id,
                "principal": caller.principal,
            },
        )
        answer = handler(portal, caller, params)
        portal.usage_note_answer(caller.principal, method, answer.result)
        return answer

    def _batch(self, caller: Caller, params: dict) -> dict:
        commands = params.get("cmd") or {}
        if isinstance(commands, list):
            commands = {str(i): c for i, c in enumerate(commands)}
        if not isinstance(commands, dict):
            raise p.bad_request("cmd must be an object")
        if len(commands) > MAX_BATCH:
            raise p.RestError(400, "ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded")
        halt = str(params.get("halt", "0")).lower() in ("1", "true", "y")
        results: dict = {}
        errors: dict = {}
        totals: dict = {}
        nexts: dict = {}
        times: dict = {}
        for key, command in commands.items():
            method, _, query = str(command).partition("?")
            method = method.strip().lower().removesuffix(".json")
            started = p.now()
            try:
                if method in _BATCH_FORBIDDEN:
                    raise p.RestError(
                        405,
                        "ERROR_BATCH_METHOD_NOT_ALLOWED",
                        "Method is not allowed for batch usage",
                    )
                sub = _resolve(p.parse_query(query), results)
                sub.pop("auth", None)
                answer = self._call(caller, method, sub)
                used, reset_at = self.portal.operating.charge(
                    caller.principal, method, call_cost(answer.rows, answer.start)
                )
                results[key] = answer.result
                if answer.total is not None:
                    totals[key] = answer.total
                if answer.next is not None:
                    nexts[key] = answer.next
                times[key] = p.time_block(started, p.now(), used, reset_at)
            except p.RestError as exc:
                errors[key] = {"error": exc.code, "error_description": exc.description}
                if halt:
                    break
        return {
            "result": results or [],
            "result_error": errors or [],
            "result_total": totals or [],
            "result_next": nexts or [],
            "result_time": times or [],
        }

    def _fault(self, method: str) -> float:
        """Apply the injected fault, if any; returns how long to hold back the answer."""
        knobs = self.portal.knobs
        active = knobs.fault_mode and (knobs.fault_count > 0 or knobs.fault_until > time.time())
        if not active or (knobs.fault_method and method != knobs.fault_method):
            return 0.0
        if knobs.fault_count > 0:
            knobs.fault_count -= 1
        mode = knobs.fault_mode
        if mode in ("503", "query_limit"):
            raise p.query_limit()
        if mode == "500":
            raise p.RestError(500, "INTERNAL_SERVER_ERROR", "Internal server error")
        if mode == "timeout":
            time.sleep(knobs.fault_timeout_seconds)
            raise p.RestError(504, "INTERNAL_SERVER_ERROR", "Gateway timeout")
        if mode == "expire_tokens":
            self.portal.advance(3601)
        if mode == "slow_answer":  # the call is carried out, its answer comes late (or never)
            return knobs.fault_timeout_seconds
        return 0.0

    # --- OAuth ----------------------------------------------------------------------------------

    def oauth_token(self, params: dict) -> tuple[int, dict]:
        grant = params.get("grant_type")
        client_id = str(params.get("client_id", ""))
        secret = str(params.get("client_secret", ""))
        try:
            if grant == "refresh_token":
                return 200, self.portal.refresh_grant(
                    client_id, secret, str(params.get("refresh_token", ""))
                )
            if grant == "authorization_code":
                code = self.portal.store.obj("code", str(params.get("code", "")))
                app = self.portal.store.obj("app", client_id)
                if (
                    not code
                    or not app
                    or app["client_secret"] != secret
                    or code["expires"] < self.portal.now()
                ):
                    raise p.RestError(400, "invalid_grant", "Invalid authorization code")
                self.portal.store.del_obj("code", str(params.get("code")))
                tokens = self.portal.issue_tokens(client_id, code["user_id"])
                return 200, self.portal.oauth_answer(client_id, code["user_id"], tokens)
        except p.RestError as exc:
            return exc.status, exc.body()
        return 400, {"error": "invalid_request", "error_description": "Unsupported grant_type"}

    # --- /sandbox/ tools ------------------------------------------------------------------------

    def tool(self, verb: str, path: str, params: dict) -> tuple[int, Any]:
        portal = self.portal
        parts = [part for part in path.split("/") if part][1:]
        name = parts[0] if parts else ""
        if name == "notifications":
            rows = sorted(
                (row for _, row in portal.store.objs("notification")), key=lambda r: r["id"]
            )
            return 200, rows
        if name == "clock":
            if verb == "POST":
                portal.advance(float(params.get("advance_seconds", 0)))
            return 200, {"now": portal.now(), "iso": portal.now_iso()}
        if name == "config":
            if verb == "POST":
                if "event_loss" in params:
                    portal.knobs.event_loss = float(params["event_loss"])
                if "event_dup" in params:
                    portal.knobs.event_dup = float(params["event_dup"])
                if "event_delay_ms" in params:
                    low, high = params["event_delay_ms"]
                    portal.knobs.event_delay_ms = (int(low), int(high))
                if "seed" in params:
                    portal.rng.seed(int(params["seed"]))
            knobs = portal.knobs
            return 200, {
                "event_loss": knobs.event_loss,
                "event_dup": knobs.event_dup,
                "event_delay_ms": list(knobs.event_delay_ms),
                "plan": portal.plan,
                "operating_limit": portal.operating.limit,
            }
        if name == "stats":
            stats = dict(portal.knobs.stats)
            stats["rate_limited"] = portal.bucket.rejected
            return 200, stats
        if name == "faults":
            portal.knobs.fault_mode = str(params.get("mode", ""))
            portal.knobs.fault_count = int(params.get("count", 0))
            portal.knobs.fault_until = time.time() + float(params.get("seconds", 0))
            portal.knobs.fault_timeout_seconds = float(params.get("timeout_seconds", 15))
            portal.knobs.fault_method = str(params.get("method", "")).lower()
            return 200, {"ok": True}
        if name == "calendar":  # an entry of the absence chart (or a meeting) for a user
            if verb == "POST":
                return 200, calendar.entry_add(portal, params)
            return 200, [
                data for _, data in portal.store.select(calendar.ENTITY, "1=1", [], limit=None)
            ]
        if name == "usage":
            return 200, portal.usage_report()
        if name == "requests":
            return 200, portal.store.journal_read("request", int(params.get("limit", 1000)))
        if name == "apps" and len(parts) == 1 and verb == "POST":
            return self._register(params)
        if name == "apps" and len(parts) == 3 and parts[2] == "install":
            return self._install(parts[1], int(params.get("user_id", 1)))
        if name == "apps" and len(parts) == 3 and parts[2] == "open":
            return self._open(parts[1], int(params.get("user_id", 1)))
        if name == "apps" and len(parts) == 3 and parts[2] == "uninstall":
            return self._uninstall(parts[1], bool(params.get("clean", True)))
        if name == "install-finish":
            caller = portal.token_caller(str(params.get("auth", "")))
            app = portal.store.obj("app", caller.client_id)
            app["finished"] = True
            portal.store.put_obj("app", caller.client_id, app)
            return 200, {"result": True}
        if name == "records" and len(parts) == 2:  # a read-only view for fidelity checks
            return 200, [data for _, data in portal.store.select(parts[1], "1=1", [], limit=None)]
        return 404, {"error": "not_found"}

    def _register(self, params: dict) -> tuple[int, dict]:
        client_id = str(params.get("client_id") or f"local.{secrets.token_hex(6)}")
        existing = self.portal.store.obj("app", client_id) or {}
        scope = params.get("scope", "crm")
        app = {
            **existing,
            "client_id": client_id,
            "client_secret": str(params.get("client_secret") or secrets.token_hex(16)),
            "scope": [
                s.strip()
                for s in (scope.split(",") if isinstance(scope, str) else scope)
                if s.strip()
            ],
            "install_url": params.get("install_url", ""),
            "app_url": params.get("app_url", ""),
            "oninstall_url": params.get("oninstall_url", ""),
        }
        app.setdefault("installed", False)
        app.setdefault("finished", False)
        self.portal.store.put_obj("app", client_id, app)
        return 200, {"client_id": client_id, "client_secret": app["client_secret"]}

    def _install(self, client_id: str, user_id: int) -> tuple[int, dict]:
        portal = self.portal
        app = portal.store.obj("app", client_id)
        if app is None:
            return 404, {"error": "app_not_found"}
        app.update(installed=True, finished=False, application_token=secrets.token_hex(16))
        portal.store.put_obj("app", client_id, app)
        tokens = portal.issue_tokens(client_id, user_id)
        form = {
            **self._page_form(tokens),
            "APPLICATION_TOKEN": app["application_token"],
            "APPLICATION_SCOPE": ",".join(app["scope"]),
        }
        status, body = _post(f"{app['install_url']}?{self._page_query()}", form)
        if app.get("oninstall_url"):
            event = {
                "event": "ONAPPINSTALL",
                "data[VERSION]": "1",
                "data[ACTIVE]": "Y",
                "data[INSTALLED]": "Y",
                "data[LANGUAGE_ID]": "ru",
                "ts": str(int(portal.now())),
                "auth[access_token]": tokens["access_token"],
                "auth[refresh_token]": tokens["refresh_token"],
                "auth[expires_in]": "3600",
                "auth[domain]": portal.domain,
                "auth[server_endpoint]": f"{portal.base_url}/rest/",
                "auth[client_endpoint]": f"{portal.base_url}/rest/",
                "auth[member_id]": portal.member_id,
                "auth[application_token]": app["application_token"],
                "auth[scope]": ",".join(app["scope"]),
                "auth[status]": "L",
            }
            _post(app["oninstall_url"], event)
        return 200, {
            "member_id": portal.member_id,
            "domain": portal.domain,
            "handler_status": status,
            "handler_body": body[:2000],
        }

    def _open(self, client_id: str, user_id: int) -> tuple[int, dict]:
        """A user opens the application: Bitrix24 POSTs a fresh token of theirs to its page."""
        portal = self.portal
        app = portal.store.obj("app", client_id)
        if app is None or not app.get("installed"):
            return 404, {"error": "app_not_found"}
        if portal.user(user_id) is None:
            return 404, {"error": "user_not_found"}
        tokens = portal.issue_tokens(client_id, user_id)
        status, body = _post(f"{app['app_url']}?{self._page_query()}", self._page_form(tokens))
        return 200, {"handler_status": status, "handler_body": body[:20000]}

    def _page_query(self) -> str:
        """The query string Bitrix24 puts on an application's page URL."""
        portal = self.portal
        return urllib.parse.urlencode(
            {
                "DOMAIN": portal.domain,
                "PROTOCOL": "1" if portal.base_url.startswith("https") else "0",
                "LANG": "ru",
                "APP_SID": secrets.token_hex(8),
            }
        )

    def _page_form(self, tokens: dict) -> dict:
        """What Bitrix24 POSTs to an application's page: the user's fresh token and context."""
        portal = self.portal
        return {
            "AUTH_ID": tokens["access_token"],
            "AUTH_EXPIRES": "3600",
            "REFRESH_ID": tokens["refresh_token"],
            "SERVER_ENDPOINT": f"{portal.base_url}/rest/",
            "member_id": portal.member_id,
            "status": "L",
            "PLACEMENT": "DEFAULT",
            "PLACEMENT_OPTIONS": "{}",
        }

    def _uninstall(self, client_id: str, clean: bool) -> tuple[int, dict]:
        portal = self.portal
        app = portal.store.obj("app", client_id)
        if app is None:
            return 404, {"error": "app_not_found"}
        portal.emit("ONAPPUNINSTALL", {"LANGUAGE_ID": "ru", "CLEAN": "1" if clean else "0"})
        time.sleep(0.2)  # let the event leave before the bindings go
        for kind in ("binding", "placement"):
            for key, row in portal.store.objs(kind):
                if row["client_id"] == client_id:
                    portal.store.del_obj(kind, key)
        for kind in ("access", "refresh"):
            for key, row in portal.store.objs(kind):
                if row["client_id"] == client_id:
                    portal.store.del_obj(kind, key)
        app.update(installed=False, finished=False)
        portal.store.put_obj("app", client_id, app)
        return 200, {"ok": True}


def _post(url: str, form: dict) -> tuple[int, str]:
    request = urllib.request.Request(  # noqa: S310 - the app's own installer URL
        url,
        data=urllib.parse.urlencode(form).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(exc)


def _shape(params: dict) -> dict:
    """What a request named (keys and field names), never values: for usage audits."""
    shape = {}
    for key, value in params.items():
        if key.lower() in ("select",) and isinstance(value, list):
            shape[key] = [str(v) for v in value]
        elif isinstance(value, dict):
            shape[key] = sorted(str(k) for k in value)
        else:
            shape[key] = None
    return shape


def _make_handler(server: SandboxServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "Bitrix24Sandbox/1.0"

        def log_message(self, fmt, *args):  # quiet: the portal keeps its own journal
            return

        def _params(self) -> dict:
            split = urllib.parse.urlsplit(self.path)
            params = p.parse_query(split.query)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            params.update(p.parse_body(self.headers.get("Content-Type", ""), raw))
            return params

        def _send(self, status: int, body: Any) -> None:
            data = json_dumps(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _dispatch(self, verb: str) -> None:
            path = urllib.parse.urlsplit(self.path).path
            try:
                params = self._params()
                if path.startswith("/rest/"):
                    status, body = server.rest(path, params, self.client_address[0])
                elif path.rstrip("/") == "/oauth/token":
                    status, body = server.oauth_token(params)
                elif path.startswith("/sandbox/"):
                    status, body = server.tool(verb, path, params)
                else:
                    status, body = 404, {"error": "not_found"}
            except p.RestError as exc:
                status, body = exc.status, exc.body()
            except Exception as exc:
                logger.exception("sandbox error")
                status, body = (
                    500,
                    {"error": "INTERNAL_SERVER_ERROR", "error_description": str(exc)[:200]},
                )
            self._send(status, body)

        def do_GET(self):
            self._dispatch("GET")

        def do_POST(self):
            self._dispatch("POST")

    return Handler


def serve_in_thread(server: SandboxServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread
