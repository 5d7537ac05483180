"""Wire format: PHP-style nested parameters in, Bitrix24 envelopes and errors out."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

_KEY_PART = re.compile(r"\[([^\]]*)\]")


class RestError(Exception):
    """A Bitrix24 error answer: HTTP status, error code, description."""

    def __init__(self, status: int, code: str, description: str, extra: dict | None = None):
        super().__init__(f"{status} {code}: {description}")
        self.status = status
        self.code = code
        self.description = description
        self.extra = extra or {}

    def body(self) -> dict:
        return {"error": self.code, "error_description": self.description, **self.extra}


# The statuses of the docs' error tables (notes §3.3).
def query_limit() -> RestError:
    return RestError(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")


def expired_token() -> RestError:
    return RestError(401, "expired_token", "The access token provided has expired.")


def invalid_token() -> RestError:
    return RestError(401, "invalid_token", "The access token provided is invalid.")


def no_auth() -> RestError:
    return RestError(401, "NO_AUTH_FOUND", "Wrong authorization data")


def insufficient_scope() -> RestError:
    return RestError(
        403,
        "insufficient_scope",
        "The request requires higher privileges than provided by the access token",
    )


def access_denied(text: str = "Access denied.") -> RestError:
    return RestError(403, "ACCESS_DENIED", text)


def method_not_found() -> RestError:
    return RestError(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")


def bad_request(text: str) -> RestError:
    return RestError(400, "INVALID_REQUEST", text)


def crm_error(text: str, status: int = 400) -> RestError:
    """Legacy CRM methods answer with an empty error code."""
    return RestError(status, "", text)


def not_found(text: str = "Not found") -> RestError:
    return RestError(400, "NOT_FOUND", text)


def _assign(target: dict, parts: list[str], value: str) -> None:
    node = target
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "":  # key[] → append
            part = str(len(node))
        if last:
            node[part] = value
        else:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child


def _listify(value: Any) -> Any:
    """Dicts keyed 0..n-1 become lists, as PHP arrays would be read by clients."""
    if isinstance(value, dict):
        converted = {key: _listify(inner) for key, inner in value.items()}
        keys = list(converted)
        if (
            keys
            and all(key.isdigit() for key in keys)
            and sorted(map(int, keys)) == list(range(len(keys)))
        ):
            return [converted[str(i)] for i in range(len(keys))]
        return converted
    return value


def parse_pairs(pairs: list[tuple[str, str]]) -> dict:
    """`filter[>ID]=5&select[]=ID` → {"filter": {">ID": "5"}, "select": ["ID"]}."""
    result: dict = {}
    for key, value in pairs:
        head, _, rest = key.partition("[")
        parts = [head] + (_KEY_PART.findall("[" + rest) if rest else [])
        _assign(result, parts, value)
    return _listify(result)


def parse_query(text: str) -> dict:
    return parse_pairs(parse_qsl(text, keep_blank_values=True))


def parse_body(content_type: str, raw: bytes) -> dict:
    if not raw:
        return {}
    if "application/json" in content_type:
        try:
            value = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise bad_request("Malformed JSON body") from exc
        if not isinstance(value, dict):
            raise bad_request("JSON body must be an object")
        return value
    if "multipart/form-data" in content_type:
        raise bad_request("multipart bodies are not supported by the sandbox")
    return parse_query(raw.decode("utf-8", errors="replace"))


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).astimezone().isoformat(timespec="seconds")


def time_block(started: float, finished: float, operating: float, reset_at: float | None) -> dict:
    block = {
        "start": round(started, 6),
        "finish": round(finished, 6),
        "duration": round(finished - started, 6),
        "processing": round(finished - started, 6),
        "date_start": iso(started),
        "date_finish": iso(finished),
        "operating": round(operating, 6),
    }
    if reset_at is not None:
        block["operating_reset_at"] = int(reset_at)
    return block


def now() -> float:
    return time.time()
