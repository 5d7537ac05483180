"""Bitrix24 values → Python values for the mirror.

Legacy list methods send every value as a string ("75", "Y", "1500.00", "" for empty); crm.item
and tasks send typed camelCase values. These helpers accept both.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any


def to_int(value: Any) -> int | None:
    if value in (None, "", False):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        try:
            number = int(float(value))
        except (TypeError, ValueError):
            return None
    return number


def to_int0(value: Any) -> int:
    return to_int(value) or 0


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().upper() in {"Y", "1", "TRUE"}


def to_decimal(value: Any) -> Decimal:
    if value in (None, ""):
        return Decimal(0)
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return Decimal(0)


def to_datetime(value: Any) -> datetime | None:
    if value in (None, "", False):
        return None
    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        for fmt in ("%d.%m.%Y %H:%M:%S", "%d.%m.%Y"):
            try:
                parsed = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        else:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def to_str(value: Any, limit: int = 255) -> str:
    if value in (None, False):
        return ""
    return str(value)[:limit]


def user_fields(row: dict) -> dict:
    """The UF_* values of a legacy row, or ufCrm* of a crm.item row, keyed by UF_ name."""
    values = {}
    for key, value in row.items():
        if key.startswith("UF_"):
            values[key] = value
        elif key.startswith("ufCrm"):
            values[uf_original_name(key)] = value
    return values


def uf_original_name(camel: str) -> str:
    """`ufCrm_1747309879` → `UF_CRM_1747309879`; `ufCrm3_17` → `UF_CRM_3_17` (notes §4)."""
    rest = camel[len("ufCrm") :]
    if rest.startswith("_"):
        return "UF_CRM" + rest.upper()
    head, _, tail = rest.partition("_")
    return f"UF_CRM_{head}_{tail}".upper() if tail else f"UF_CRM_{head}".upper()


def crm_binding(code: str) -> tuple[int, int] | None:
    """A task's UF_CRM_TASK value like `CO_12` → (entity type id, id)."""
    prefixes = {"L": 1, "D": 2, "C": 3, "CO": 4, "SI": 31}
    prefix, _, number = str(code).partition("_")
    if prefix not in prefixes or not number.isdigit():
        return None
    return prefixes[prefix], int(number)
