"""The JSON schema and defaults of a portal's assistant settings.

Structural rules live in the JSON schema; rules that span fields (system statuses present and in
place, `next` pointing at a known status) are checked in `settings_document_errors`. Every error
names the field by its JSON pointer, so an imported file can be fixed without guessing.

The options follow the seeds: the status ladder and its options (seed 001), forgotten and
released clients (seed 002), planned work and user-field dates (seed 000), the pool manager
(seed 003).
"""

from __future__ import annotations

import copy
from typing import Any

from jsonschema import Draft202012Validator

# Bumped only by a change that stored documents would fail; an added optional option (like
# activity.min_comment_chars, whose absence means its default) keeps every stored one valid.
SCHEMA_VERSION = 1
SYSTEM_STATUSES = ("empty", "new", "in_work", "lost")

_USER_ID = {"type": ["integer", "null"], "minimum": 1}
_DAYS = {"type": "integer", "minimum": 1, "maximum": 3650}
_MESSAGE = {"type": "string", "maxLength": 2000}

_CONDITION = {
    "type": "object",
    "additionalProperties": False,
    "required": ["field", "op"],
    "properties": {
        "field": {"type": "string", "pattern": "^UF_[A-Z0-9_]{1,60}$"},
        "op": {"enum": ["eq", "ne", "in", "not_in", "empty", "not_empty", "gt", "lt"]},
        "value": {},
    },
}

_SCOPE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "entities": {
            "type": "array",
            "uniqueItems": True,
            "items": {"enum": ["contact", "company", "deal"]},
        },
        "deal_categories": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "deal_stages": {"type": "array", "items": {"type": "string", "maxLength": 64}},
        "owners": {"type": "array", "items": {"type": "integer", "minimum": 1}},
        "conditions": {"type": "array", "maxItems": 20, "items": _CONDITION},
    },
}

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

_HANDOVER = {
    "type": "object",
    "additionalProperties": False,
    "required": ["policy"],
    "properties": {
        "policy": {"enum": ["none", "open", "named", "supervisor", "pool", "round_robin"]},
        "user_id": _USER_ID,
        "cap_per_manager": {"type": ["integer", "null"], "minimum": 1},
    },
}

SETTINGS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": [
        "schema_version",
        "entities",
        "calendar",
        "activity",
        "planned_work",
        "notifications",
        "ladder",
        "forgotten",
        "released",
        "deals",
        "safety",
    ],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "entities": {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "items": {"enum": ["contact", "company"]},
        },
        "calendar": {
            "type": "object",
            "additionalProperties": False,
            "required": ["working_days", "weekend", "holidays"],
            "properties": {
                "working_days": {"type": "boolean"},
                "weekend": {
                    "type": "array",
                    "uniqueItems": True,
                    "items": {"type": "integer", "minimum": 1, "maximum": 7},
                },
                "holidays": {"type": "array", "items": {"type": "string", "format": "date"}},
            },
        },
        "activity": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "calls",
                "min_call_seconds",
                "emails_incoming",
                "emails_outgoing",
                "meetings",
                "tasks",
                "todos",
                "comments",
                "invoices",
                "deals",
                "internal_notes",
            ],
            "properties": {
                "calls": {"type": "boolean"},
                "min_call_seconds": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 86400,
                    "description": "Calls count only when connected for at least this many "
                    "seconds (end minus start); 0 counts every completed call. Also applies to "
                    "the calls that reset the ladder clock and allow a raise.",
                },
                "emails_incoming": {"type": "boolean"},
                "emails_outgoing": {"type": "boolean"},
                "meetings": {"type": "boolean"},
                "tasks": {"type": "boolean"},
                "todos": {"type": "boolean"},
                "comments": {
                    "type": "boolean",
                    "description": "Timeline comments written on the client, its deals or (for "
                    "a company) its contacts count as contact. Keepwarm's own timeline posts "
                    "never count. Comments written before install count once the comments "
                    "backfill has read them.",
                },
                "min_comment_chars": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 10000,
                    "default": 15,
                    "description": "A timeline comment counts only when it has at least this "
                    'many characters (markup and surrounding spaces not counted), so an "ok" '
                    'or "." does not pass for work; 0 counts every comment. Optional: 15 '
                    "when left out.",
                },
                "invoices": {"type": "boolean"},
                "deals": {"type": "boolean"},
                "internal_notes": {
                    "type": "boolean",
                    "description": "Internal notes never count as contact (the default): they "
                    "are not mirrored, as Bitrix24 offers no list of them and no event. Setting "
                    "true has no effect until they are.",
                },
            },
        },
        "planned_work": {
            "type": "object",
            "additionalProperties": False,
            "required": ["future_activities", "open_tasks", "date_fields"],
            "properties": {
                "future_activities": {"type": "boolean"},
                "open_tasks": {"type": "boolean"},
                "date_fields": {
                    "type": "array",
                    "maxItems": 10,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["entity", "field"],
                        "properties": {
                            "entity": {"enum": ["contact", "company", "deal"]},
                            "field": {"type": "string", "pattern": "^UF_[A-Z0-9_]{1,60}$"},
                        },
                    },
                },
            },
        },
        "notifications": {
            "type": "object",
            "additionalProperties": False,
            "required": ["hour", "combine", "stream_digest", "timeline_posts"],
            "properties": {
                "hour": {"type": "integer", "minimum": 0, "maximum": 23},
                "combine": {"type": "boolean"},
                "stream_digest": {
                    "type": "boolean",
                    "description": "Also post, once a day at the notification hour, one "
                    "message to the activity stream for each manager (visible to that manager "
                    "only) listing the clients whose status changes soon: status, next status "
                    "and date; and one for each supervisor with their team's clients. Needs the "
                    "log scope; a portal that has not granted it gets the warnings as "
                    "notifications only, and each skipped post says why.",
                },
                "timeline_posts": {"type": "boolean"},
            },
        },
        "ladder": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "enabled",
                "statuses",
                "reset_on_calls",
                "warn_days_before",
                "warn_message",
                "loss_message_manager",
                "loss_message_supervisor",
                "on_loss",
                "raise_requires_call",
                "raise_call_lookback_days",
            ],
            "properties": {
                "enabled": {"type": "boolean"},
                "statuses": {"type": "array", "minItems": 4, "maxItems": 20, "items": _STATUS},
                "reset_on_calls": {"type": "boolean"},
                "warn_days_before": {"type": "integer", "minimum": 0, "maximum": 365},
                "warn_message": _MESSAGE,
                "loss_message_manager": _MESSAGE,
                "loss_message_supervisor": _MESSAGE,
                "on_loss": _HANDOVER,
                "raise_requires_call": {"type": "boolean"},
                "raise_call_lookback_days": _DAYS,
                "scope": {
                    **_SCOPE,
                    "description": "Which clients the ladder acts on (decay, warnings, In work, "
                    "Hot, reverts); statuses of the others are still read and kept.",
                },
            },
        },
        "forgotten": {
            "type": "object",
            "additionalProperties": False,
            "required": ["enabled", "days", "scope", "task_title", "task_days", "digest_task"],
            "properties": {
                "enabled": {"type": "boolean"},
                "days": _DAYS,
                "scope": _SCOPE,
                "task_title": {"type": "string", "minLength": 1, "maxLength": 255},
                "task_days": {"type": "integer", "minimum": 0, "maximum": 365},
                "digest_task": {"type": "boolean"},
            },
        },
        "released": {
            "type": "object",
            "additionalProperties": False,
            "required": ["enabled", "days_overdue", "handover", "move_deals", "move_tasks"],
            "properties": {
                "enabled": {"type": "boolean"},
                "days_overdue": _DAYS,
                "handover": _HANDOVER,
                "move_deals": {"type": "boolean"},
                "move_contacts": {"type": "boolean"},
                "move_tasks": {"type": "boolean"},
                "scope": {
                    **_SCOPE,
                    "description": "Which forgotten clients may be handed over (e.g. never "
                    "the key accounts); the others keep their owner and their reminder.",
                },
            },
        },
        "deals": {
            "type": "object",
            "additionalProperties": False,
            "required": ["enabled", "days", "scope", "task_title"],
            "properties": {
                "enabled": {"type": "boolean"},
                "days": _DAYS,
                "scope": _SCOPE,
                "task_title": {"type": "string", "minLength": 1, "maxLength": 255},
            },
        },
        "safety": {
            "type": "object",
            "additionalProperties": False,
            "required": ["mass_reassign_threshold", "undo_days"],
            "properties": {
                "mass_reassign_threshold": {"type": "integer", "minimum": 1},
                "undo_days": {"type": "integer", "minimum": 0, "maximum": 90},
            },
        },
    },
}

_DEFAULT: dict[str, Any] = {
    "schema_version": SCHEMA_VERSION,
    "entities": ["contact", "company"],
    "calendar": {"working_days": False, "weekend": [6, 7], "holidays": []},
    "activity": {
        "calls": True,
        "min_call_seconds": 0,
        "emails_incoming": True,
        "emails_outgoing": True,
        "meetings": True,
        "tasks": True,
        "todos": True,
        "comments": True,  # timeline comments of at least min_comment_chars count
        "min_comment_chars": 15,
        "invoices": True,
        "deals": True,
        "internal_notes": False,
    },
    "planned_work": {"future_activities": True, "open_tasks": True, "date_fields": []},
    "notifications": {
        "hour": 9,
        "combine": True,
        "stream_digest": False,
        "timeline_posts": True,
    },
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
        "reset_on_calls": True,
        "warn_days_before": 3,
        "warn_message": "Клиент скоро сменит статус: свяжитесь с ним.",
        "loss_message_manager": "Клиент перешёл в статус «Пропал».",
        "loss_message_supervisor": "У вашего сотрудника клиент перешёл в статус «Пропал».",
        "on_loss": {"policy": "none", "user_id": None, "cap_per_manager": None},
        "raise_requires_call": False,
        "raise_call_lookback_days": 3,
        "scope": {},
    },
    "forgotten": {
        "enabled": True,
        "days": 30,
        "scope": {},
        "task_title": "Свяжитесь с клиентом: нет контакта больше {days} дней",
        "task_days": 3,
        "digest_task": False,
    },
    "released": {
        "enabled": False,
        "days_overdue": 7,
        "handover": {"policy": "round_robin", "user_id": None, "cap_per_manager": None},
        "move_deals": True,
        "move_contacts": True,
        "move_tasks": True,
        "scope": {},
    },
    "deals": {
        "enabled": False,
        "days": 14,
        "scope": {},
        "task_title": "Сделка без движения {days} дней",
    },
    "safety": {"mass_reassign_threshold": 50, "undo_days": 7},
}

_VALIDATOR = Draft202012Validator(
    SETTINGS_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER
)


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
    for path, handover in (
        ("/ladder/on_loss", document["ladder"]["on_loss"]),
        ("/released/handover", document["released"]["handover"]),
    ):
        if handover["policy"] in {"named", "pool"} and not handover.get("user_id"):
            errors[f"{path}/user_id"] = f"policy {handover['policy']!r} needs a user_id"
    return errors
