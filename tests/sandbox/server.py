"""Start a real sandbox portal process for a test (python -m sandbox …) and talk to it."""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl

import httpx

ROOT = Path(__file__).resolve().parent.parent.parent
# What every sandbox of this test session saw callers name: method, fields, parameters.
SANDBOX_USAGE: list[dict] = []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class SandboxProcess:
    state_dir: Path
    scale: str = "small"
    seed: int = 1
    plan: str = "standard"
    https: bool = False
    extra: list[str] = field(default_factory=list)
    port: int = 0
    base: str = ""
    webhook: str = ""
    ca: str | None = None
    process: subprocess.Popen | None = None

    def start(self, timeout: float = 300) -> SandboxProcess:
        self.port = self.port or free_port()
        command = [
            sys.executable,
            "-m",
            "sandbox",
            "--port",
            str(self.port),
            "--scale",
            self.scale,
            "--seed",
            str(self.seed),
            "--plan",
            self.plan,
            "--state-dir",
            str(self.state_dir),
            *(["--https"] if self.https else []),
            *self.extra,
        ]
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        deadline = time.monotonic() + timeout
        lines = []
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("sandbox exited: " + "".join(lines))
            lines.append(line)
            if line.startswith("Sandbox portal: "):
                self.base = line.split(": ", 1)[1].strip()
            elif line.startswith("Webhook (admin): "):
                self.webhook = line.split(": ", 1)[1].strip()
            elif line.startswith("CA certificate (PEM): "):
                self.ca = line.split(": ", 1)[1].strip()
            elif line.strip() == "Ready.":
                threading.Thread(target=self._drain, daemon=True).start()
                return self
        raise RuntimeError("sandbox did not start: " + "".join(lines))

    def _drain(self) -> None:
        for _ in self.process.stdout:
            pass

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                SANDBOX_USAGE.extend(self.tool("usage"))  # for the registry-equals-usage check
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def client(self) -> httpx.Client:
        verify = ssl.create_default_context(cafile=self.ca) if self.ca else True
        return httpx.Client(base_url=self.base, timeout=30, verify=verify)

    def tool(self, path: str, payload: dict | None = None) -> dict | list:
        with self.client() as http:
            response = (
                http.post(f"/sandbox/{path}", json=payload)
                if payload is not None
                else http.get(f"/sandbox/{path}")
            )
            response.raise_for_status()
            return response.json()

    def hook(self, method: str, payload: dict | None = None) -> httpx.Response:
        with self.client() as http:
            return http.post(f"{self.webhook}{method}.json", json=payload or {})


class Receiver:
    """A tiny HTTP endpoint that records what the sandbox POSTs to an app (install, events)."""

    def __init__(self):
        self.received: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                return

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                receiver.received.append({"path": self.path, "form": dict(parse_qsl(body))})
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self, name: str | None = None) -> list[dict]:
        return [
            r["form"]
            for r in self.received
            if "event" in r["form"] and (name is None or r["form"]["event"] == name)
        ]

    def close(self) -> None:
        self.server.shutdown()
