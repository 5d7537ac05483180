"""Bitrix24 list parameters (filter, order, select, start) → SQL over the JSON records."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from sandbox.portal.protocol import RestError

# Longest prefixes first: ">=" before ">", "!@" before "!".
OPERATORS = ("!=%", "!%=", ">=", "<=", "!=", "!@", "!%", "=%", "%=", ">", "<", "=", "!", "@", "%")
_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2})?)?([+-]\d{2}:?\d{2}|Z)?$")
PORTAL_TZ = timezone(timedelta(hours=3))  # the sandbox portal lives in Moscow time


def invalid_arg(text: str) -> RestError:
    return RestError(400, "INVALID_ARG_VALUE", text)


def split_operator(key: str) -> tuple[str, str]:
    for op in OPERATORS:
        if key.startswith(op):
            return op, key[len(op) :]
    return "=", key


def portal_time(value: str) -> str:
    """Any ISO date or datetime → the portal's own representation, so strings compare right."""
    text = value.strip().replace(" ", "T")
    if len(text) == 10:
        moment = datetime.fromisoformat(text).replace(tzinfo=PORTAL_TZ)
    else:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=PORTAL_TZ)
    return moment.astimezone(PORTAL_TZ).isoformat(timespec="seconds")


def _column(field: str, id_field: str) -> str:
    if field.upper() == id_field.upper():
        return "id"
    if not _FIELD.match(field):
        raise invalid_arg(f"Invalid filter: field '{field}' is not allowed in filter")
    return f"json_extract(data, '$.\"{field}\"')"


def _scalar(value: Any) -> Any:
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, str) and _DATE.match(value.strip()) and len(value.strip()) >= 10:
        try:
            return portal_time(value)
        except ValueError:
            return value
    return value


def _numeric(value: Any) -> bool:
    try:
        float(str(value))
    except (TypeError, ValueError):
        return False
    return not (isinstance(value, str) and _DATE.match(value))


def compile_filter(
    flt: Any, *, id_field: str = "ID", skip: tuple[str, ...] = ()
) -> tuple[str, list]:
    """A Bitrix24 filter object as a SQL condition with parameters."""
    if flt in (None, "", []):
        return "1=1", []
    if not isinstance(flt, dict):
        raise RestError(400, "", "Parameter 'filter' must be array.")
    parts: list[str] = []
    params: list = []
    logic = str(flt.get("LOGIC", flt.get("logic", "AND"))).upper()
    for key, value in flt.items():
        if str(key).upper() == "LOGIC" or key in skip:
            continue
        if str(key).isdigit() and isinstance(value, dict):  # nested group
            sql, sub = compile_filter(value, id_field=id_field)
            parts.append(f"({sql})")
            params += sub
            continue
        op, field = split_operator(str(key))
        column = _column(field, id_field)
        is_id = column == "id"
        if op in ("@", "!@") or (isinstance(value, list) and op in ("=", "!", "!=")):
            values = value if isinstance(value, list) else [value]
            if not values:
                parts.append("0=1" if op in ("@", "=") else "1=1")
                continue
            marks = ", ".join("?" for _ in values)
            cast = [
                int(v) if is_id and str(v).lstrip("-").isdigit() else str(_scalar(v))
                for v in values
            ]
            negate = "NOT " if op in ("!@", "!", "!=") else ""
            if is_id:
                parts.append(f"{negate}id IN ({marks})")
            else:
                parts.append(f"{negate}(COALESCE(CAST({column} AS TEXT), '') IN ({marks}))")
            params += cast
            continue
        scalar = _scalar(value)
        if op in ("%", "!%"):
            negate = "NOT " if op == "!%" else ""
            parts.append(f"{negate}(COALESCE({column}, '') LIKE ?)")
            params.append(f"%{scalar}%")
            continue
        if op in ("=%", "%=", "!=%", "!%="):
            negate = "NOT " if op.startswith("!") else ""
            parts.append(f"{negate}(COALESCE({column}, '') LIKE ?)")
            params.append(str(scalar))
            continue
        if is_id:
            if not str(scalar).lstrip("-").isdigit():
                # An unresolved batch reference or garbage: Bitrix24 compares with 0.
                scalar = 0
            sql_op = {"=": "=", "!": "<>", "!=": "<>", ">": ">", ">=": ">=", "<": "<", "<=": "<="}[
                op
            ]
            parts.append(f"id {sql_op} ?")
            params.append(int(scalar))
            continue
        sql_op = {"=": "=", "!": "<>", "!=": "<>", ">": ">", ">=": ">=", "<": "<", "<=": "<="}[op]
        if op in ("=", "!", "!=") and scalar in ("", None, False):
            test = "= ''" if op == "=" else "<> ''"
            parts.append(f"(COALESCE(CAST({column} AS TEXT), '') {test})")
            continue
        if op in ("=", "!", "!="):
            array_test = (
                f"(json_type(data, '$.\"{field}\"') = 'array' AND "
                f"EXISTS (SELECT 1 FROM json_each(data, '$.\"{field}\"') "
                "WHERE CAST(value AS TEXT) = ?))"
            )
            if op == "=":
                parts.append(f"(CAST({column} AS TEXT) = ? OR {array_test})")
                params += [str(scalar), str(scalar)]
            else:
                parts.append(f"(COALESCE(CAST({column} AS TEXT), '') <> ? AND NOT {array_test})")
                params += [str(scalar), str(scalar)]
            continue
        if _numeric(scalar):
            parts.append(f"(CAST({column} AS REAL) {sql_op} ?)")
            params.append(float(scalar))
        else:
            parts.append(f"({column} IS NOT NULL AND {column} <> '' AND {column} {sql_op} ?)")
            params.append(str(scalar))
    if not parts:
        return "1=1", []
    joiner = " OR " if logic == "OR" else " AND "
    return "(" + joiner.join(parts) + ")", params


def compile_order(order: Any, *, id_field: str = "ID", default: str = "id ASC") -> str:
    if order in (None, "", []):
        return default
    if not isinstance(order, dict):
        raise RestError(400, "", "Parameter 'order' must be array.")
    terms = []
    for field, direction in order.items():
        column = _column(str(field), id_field)
        way = "DESC" if str(direction).upper() == "DESC" else "ASC"
        terms.append(f"{column} {way}")
    terms.append(f"id {(terms and terms[-1].split()[-1]) or 'ASC'}")
    return ", ".join(terms)


def project(record: dict, select: Any, *, default_fields: list[str], multi: tuple[str, ...] = ()):
    """`select` as Bitrix24 reads it: `*` = system fields, `UF_*` = user fields, or names."""
    if select in (None, "", []):
        select = ["*", "UF_*"]
    if isinstance(select, str):
        select = [select]
    if isinstance(select, dict):
        select = list(select.values())
    wanted: dict[str, Any] = {}
    for name in select:
        name = str(name)
        if name == "*":
            for key in default_fields:
                if key in record and key not in multi:
                    wanted[key] = record[key]
        elif name in ("UF_*", "uf*", "ufCrm*"):
            for key, value in record.items():
                if key.startswith(("UF_", "ufCrm")):
                    wanted[key] = value
        elif name in record:
            wanted[name] = record[name]
        elif name in default_fields or name.startswith("UF_"):
            wanted[name] = None
    return wanted
