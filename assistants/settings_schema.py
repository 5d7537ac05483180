"""The JSON schema and defaults of a portal's assistant settings.

Structural rules live in the JSON schema; rules that span fields (system statuses present, `next`
pointing at a known status) are checked in `settings_document_errors`. Every error names the field
by its JSON pointer, so an imported file can be fixed without guessing.
"""

from __future__ import annotations

import copy
from typing import Any

from jsonschema import Draft202012Validator

SCHEMA_VERSION = 1
SYSTEM_STATUSES = ("empty", "new", "in_work", "lost")

_STATUS = {
    "type": "object",
    "additionalProperties": False,
    "required": ["code", "name", "days", "next"],
    "properties": {
        "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,31}$"},
        "name": {"type": "string", "minLength": 1, "maxLength": 64},
        "days": {"type": ["integer", "null"], "minimum": 1, "maximum": 3650},
        "next": {"type": ["string", "null"]},
    },
}

SETTINGS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["schema_version", "entities", "ladder", "notifications"],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "entities": {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "items": {"enum": ["contact", "company"]},
        },
        "ladder": {
            "type": "object",
            "additionalProperties": False,
            "required": ["enabled", "statuses"],
            "properties": {
                "enabled": {"type": "boolean"},
                "statuses": {"type": "array", "minItems": 4, "maxItems": 20, "items": _STATUS},
            },
        },
        "notifications": {
            "type": "object",
            "additionalProperties": False,
            "required": ["hour", "combine"],
            "properties": {
                "hour": {"type": "integer", "minimum": 0, "maximum": 23},
                "combine": {"type": "boolean"},
            },
        },
    },
}

_DEFAULT: dict[str, Any] = {
    "schema_version": SCHEMA_VERSION,
    "entities": ["contact", "company"],
    "ladder": {
        "enabled": True,
        "statuses": [
            {"code": "empty", "name": "Пустое значение", "days": None, "next": None},
            {"code": "new", "name": "Новый", "days": 10, "next": "lost"},
            {"code": "in_work", "name": "В работе", "days": None, "next": None},
            {"code": "hot", "name": "Горячий", "days": 30, "next": "warm"},
            {"code": "warm", "name": "Тёплый", "days": 30, "next": "cold"},
            {"code": "cold", "name": "Холодный", "days": 30, "next": "lost"},
            {"code": "lost", "name": "Пропал", "days": None, "next": None},
        ],
    },
    "notifications": {"hour": 9, "combine": True},
}

_VALIDATOR = Draft202012Validator(SETTINGS_SCHEMA)


def settings_default() -> dict[str, Any]:
    return copy.deepcopy(_DEFAULT)


def _pointer(path) -> str:
    return "/" + "/".join(str(part) for part in path) if path else "/"


def settings_document_errors(document: Any) -> dict[str, str]:
    """Every problem of a settings document, keyed by JSON pointer; empty when valid."""
    errors = {
        _pointer(error.absolute_path): error.message
        for error in sorted(_VALIDATOR.iter_errors(document), key=lambda e: list(e.absolute_path))
    }
    if errors:
        return errors
    statuses = document["ladder"]["statuses"]
    codes = [status["code"] for status in statuses]
    for index, code in enumerate(codes):
        if codes.index(code) != index:
            errors[f"/ladder/statuses/{index}/code"] = f"status code {code!r} is used twice"
    for code in SYSTEM_STATUSES:
        if code not in codes:
            errors["/ladder/statuses"] = f"the system status {code!r} cannot be removed"
    # System statuses keep their places: Empty first, New second, In work third, Lost last.
    expected_positions = {"empty": 0, "new": 1, "in_work": 2, "lost": len(codes) - 1}
    for code, position in expected_positions.items():
        if code in codes and codes.index(code) != position:
            errors[f"/ladder/statuses/{codes.index(code)}/code"] = (
                f"the system status {code!r} cannot be moved"
            )
    for index, status in enumerate(statuses):
        if status["next"] is not None and status["next"] not in codes:
            errors[f"/ladder/statuses/{index}/next"] = f"unknown status {status['next']!r}"
        if status["next"] == status["code"]:
            errors[f"/ladder/statuses/{index}/next"] = "a status cannot decay into itself"
        if (status["days"] is None) != (status["next"] is None):
            errors[f"/ladder/statuses/{index}/days"] = (
                "days and next are set together or not at all"
            )
    return errors
