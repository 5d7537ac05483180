"""JSON Schemas of what the sheet reads (the `make security` report) and publishes (data-use.json).

The report schema is the contract with `make security`; the sheet schema is the contract with
whoever parses /security/data-use.json, so its keys only ever grow (bump SHEET_VERSION otherwise).
"""

from __future__ import annotations

from typing import Any

_COUNT = {"type": "integer", "minimum": 0}

REPORT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["generated_at", "commit", "passed", "checks"],
    "properties": {
        "generated_at": {"type": "string", "minLength": 10, "maxLength": 40},
        "commit": {"type": "string", "pattern": "^([0-9a-fA-F]{7,64}|unknown)$"},
        "passed": {"type": "boolean"},
        "checks": {
            "type": "array",
            "maxItems": 200,
            "items": {
                "type": "object",
                "required": ["name", "status", "summary", "findings"],
                "properties": {
                    "name": {"type": "string", "minLength": 1, "maxLength": 200},
                    "status": {"enum": ["passed", "failed", "skipped"]},
                    "summary": {"type": "string", "maxLength": 2000},
                    "findings": {
                        "type": "object",
                        "required": ["high", "medium", "low"],
                        "properties": {"high": _COUNT, "medium": _COUNT, "low": _COUNT},
                    },
                },
            },
        },
    },
}


def _strings() -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": list(properties),
        "properties": properties,
        "additionalProperties": False,
    }


_STR = {"type": "string"}

SHEET_SCHEMA: dict[str, Any] = _object(
    {
        "format": {"const": "keepwarm.data-use-sheet"},
        "version": {"const": 1},
        "language": {"enum": ["ru", "en"]},
        "title": _STR,
        "summary": _STR,
        "how_this_is_built": _STR,
        "token_ttl_minutes": _COUNT,
        "rest_log_retention_days": _COUNT,
        "uninstall_retention_days": _COUNT,
        "security_contact": _STR,
        "contact_text": _STR,
        "scopes_intro": _STR,
        "scopes": {
            "type": "array",
            "items": _object(
                {"name": _STR, "requested": {"type": "boolean"}, "why": _STR, "methods": _strings()}
            ),
        },
        "methods_intro": _STR,
        "methods": {
            "type": "array",
            "items": _object(
                {
                    "name": _STR,
                    "scope": _STR,
                    "access": {"enum": ["read", "write"]},
                    "access_label": _STR,
                    "purpose": _STR,
                    "feature": _STR,
                    "feature_label": _STR,
                    "fields": _strings(),
                    "field_notes": _strings(),
                    "params": _strings(),
                    "classification": {"enum": ["personal", "business", "technical", "secret"]},
                    "classification_label": _STR,
                    "stored": {"type": "boolean"},
                    "tables": _strings(),
                    "schema": {"enum": ["portal", "public", ""]},
                    "where": _STR,
                    "retention": _STR,
                    "kept_for": _STR,
                    "logged": {"type": "boolean"},
                    "visible_to": {
                        "type": "array",
                        "items": {
                            "enum": ["portal_users", "bitrix24", "vendor_staff", "vendor_registry"]
                        },
                    },
                    "visible_to_labels": _strings(),
                }
            ),
        },
        "not_read": _strings(),
        "not_read_text": _STR,
        "classifications": {
            "type": "array",
            "items": _object({"code": _STR, "label": _STR, "meaning": _STR}),
        },
        "inventory_intro": _STR,
        "data_inventory": {
            "type": "array",
            "items": _object(
                {
                    "table": _STR,
                    "schema": {"enum": ["portal", "public"]},
                    "where": _STR,
                    "contents": _STR,
                    "classification": {"enum": ["personal", "business", "technical", "secret"]},
                    "classification_label": _STR,
                    "retention": _STR,
                    "kept_for": _STR,
                }
            ),
        },
        "sections": {
            "type": "array",
            "items": _object({"key": _STR, "title": _STR, "paragraphs": _strings()}),
        },
        "subprocessors": {
            "type": "array",
            "items": _object({"name": _STR, "purpose": _STR, "location": _STR}),
        },
        "subprocessors_text": _STR,
        "security_report": _object(
            {
                "status": {"enum": ["ok", "missing", "invalid"]},
                "text": _STR,
                "generated_at": _STR,
                "generated_at_display": _STR,
                "commit": _STR,
                "passed": {"type": ["boolean", "null"]},
                "checks": {
                    "type": "array",
                    "items": _object(
                        {
                            "name": _STR,
                            "status": {"enum": ["passed", "failed", "skipped"]},
                            "status_label": _STR,
                            "summary": _STR,
                            "high": _COUNT,
                            "medium": _COUNT,
                            "low": _COUNT,
                        }
                    ),
                },
            }
        ),
    }
)
