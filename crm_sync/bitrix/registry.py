"""The method registry: every Bitrix24 method Keepwarm may call, declared once.

Each declaration names the scope, whether the call reads or writes, the exact fields it reads
(`select`, filters, order) or writes (`fields`), why, which feature needs it and where the data is
kept. The client refuses any call whose method or fields are not declared, before a byte is sent;
the published data-use sheet is rendered from the same declarations.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from crm_sync.bitrix.errors import UndeclaredCall

_OPERATOR_PREFIX = re.compile(r"^(>=|<=|!=|!@|!%|=%|%=|>|<|=|!|@|%)")


@dataclass(frozen=True)
class MethodSpec:
    name: str
    scope: str
    access: Literal["read", "write"]
    purpose: str
    feature: str
    # Field names this call may name in select/filter/order (reads) or in `fields` (writes).
    # Patterns like "UF_*" are allowed. Plain parameters (id, entityTypeId, …) are in `params`.
    fields: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    stored_in: str = ""  # table(s) where what we read is kept; "" = not stored
    select_required: bool = False  # reads must name their fields: no implicit "everything"
    field_params: tuple[str, ...] = field(default=("select", "filter", "order", "fields"))

    def allows_field(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.fields)


_REGISTRY: dict[str, MethodSpec] = {}


def method_declare(spec: MethodSpec) -> MethodSpec:
    key = spec.name.lower()
    if key in _REGISTRY and _REGISTRY[key] != spec:
        raise ValueError(f"method {spec.name} is declared twice with different contents")
    _REGISTRY[key] = spec
    return spec


def method_spec(name: str) -> MethodSpec | None:
    return _REGISTRY.get(name.lower())


def declared_methods() -> list[MethodSpec]:
    _load_declarations()
    return sorted(_REGISTRY.values(), key=lambda spec: spec.name)


def _load_declarations() -> None:
    from crm_sync.bitrix import methods  # noqa: F401 - declarations register on import


def _field_names(value: Any) -> Iterable[str]:
    """Field names in a select list or in the keys of a filter/order/fields mapping."""
    if isinstance(value, Mapping):
        for key, inner in value.items():
            key = str(key)
            if key.upper() == "LOGIC":
                continue
            if key.isdigit() and isinstance(inner, Mapping):  # nested filter groups
                yield from _field_names(inner)
                continue
            yield _OPERATOR_PREFIX.sub("", key)
    elif isinstance(value, list | tuple):
        for item in value:
            yield str(item)


def call_fields(method: str, params: Mapping[str, Any]) -> set[str]:
    """Every field name a call touches, as the registry counts them."""
    spec = method_spec(method)
    keys = spec.field_params if spec else ("select", "filter", "order", "fields")
    names: set[str] = set()
    for key, value in params.items():
        if key.lower() in keys:
            names.update(_field_names(value))
    return names


def call_check(method: str, params: Mapping[str, Any], *, member_id: str = "") -> MethodSpec:
    """Raise UndeclaredCall unless the method and every field it names are declared."""
    _load_declarations()
    spec = method_spec(method)
    if spec is None:
        raise UndeclaredCall(
            "method is not in Keepwarm's method registry; refusing to call it",
            member_id=member_id,
            method=method,
            code="UNDECLARED_METHOD",
        )
    lowered = {key.lower() for key in params}
    if spec.select_required and "select" not in lowered:
        raise UndeclaredCall(
            "reads must name their fields in `select`",
            member_id=member_id,
            method=method,
            code="UNDECLARED_FIELD",
        )
    undeclared_params = sorted(
        key
        for key in params
        if key.lower() not in spec.field_params
        and key.lower() not in {p.lower() for p in spec.params}
        and key.lower() not in {"start", "auth"}
    )
    if undeclared_params:
        raise UndeclaredCall(
            f"parameters not declared for this method: {', '.join(undeclared_params)}",
            member_id=member_id,
            method=method,
            code="UNDECLARED_PARAM",
        )
    undeclared = sorted(name for name in call_fields(method, params) if not spec.allows_field(name))
    if undeclared:
        raise UndeclaredCall(
            f"fields not declared for this method: {', '.join(undeclared)}",
            member_id=member_id,
            method=method,
            code="UNDECLARED_FIELD",
        )
    return spec
