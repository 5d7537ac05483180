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


# What the published data-use sheet (security_docs) says about a call. Each default claims the
# most, so a declaration that leaves them out never under-states what Keepwarm does with data.
Classification = Literal["personal", "business", "technical", "secret"]
# mirror: updated on every change, removed when deleted in Bitrix24; replaced: rewritten whole on
# every sync; window: only a window of days around today, rewritten whole on every refresh;
# portal_record: one row per portal in the public schema; not_stored: not kept.
Retention = Literal["mirror", "replaced", "window", "portal_record", "not_stored"]
# portal_users: users of the portal who open Keepwarm, and its Keepwarm administrators;
# bitrix24: people the portal's own Bitrix24 permissions allow (what we write lands there);
# vendor_staff: Keepwarm staff through the audited back office (REST log); vendor_registry:
# Keepwarm staff in the list of customers (domain, install state), not audited per look.
Audience = Literal["portal_users", "bitrix24", "vendor_staff", "vendor_registry"]


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
    stored_in: str = ""  # table(s) where what we read is kept, comma-separated; "" = not stored
    select_required: bool = False  # reads must name their fields: no implicit "everything"
    field_params: tuple[str, ...] = field(default=("select", "filter", "order", "fields"))
    # --- for the data-use sheet only; the client does not look at these ---
    classification: Classification = "personal"
    retention: Retention | None = None  # None: "mirror" when stored_in names a table, else none
    schema: Literal["portal", "public"] = "portal"  # where stored_in lives
    visible_to: tuple[Audience, ...] = ("portal_users", "vendor_staff")
    # False only for calls that bypass the client's per-portal REST log (the OAuth server's).
    logged: bool = True

    def allows_field(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.fields)

    @property
    def stored_tables(self) -> tuple[str, ...]:
        return tuple(table.strip() for table in self.stored_in.split(",") if table.strip())

    @property
    def retention_policy(self) -> Retention:
        if self.retention is not None:
            return self.retention
        return "mirror" if self.stored_tables else "not_stored"


@dataclass(frozen=True)
class ScopeSpec:
    """A Bitrix24 permission scope: requested at install (or always granted) and why."""

    name: str
    why: str
    requested: bool = True  # False for `basic`, which every application has without asking


_REGISTRY: dict[str, MethodSpec] = {}
_SCOPES: dict[str, ScopeSpec] = {}


def method_declare(spec: MethodSpec) -> MethodSpec:
    key = spec.name.lower()
    if key in _REGISTRY and _REGISTRY[key] != spec:
        raise ValueError(f"method {spec.name} is declared twice with different contents")
    _REGISTRY[key] = spec
    return spec


def scope_declare(spec: ScopeSpec) -> ScopeSpec:
    if spec.name in _SCOPES and _SCOPES[spec.name] != spec:
        raise ValueError(f"scope {spec.name} is declared twice with different contents")
    _SCOPES[spec.name] = spec
    return spec


def declared_scopes() -> list[ScopeSpec]:
    """Scopes in declaration order: the order the install asks for them and the sheet lists them."""
    _load_declarations()
    return list(_SCOPES.values())


def requested_scopes() -> list[str]:
    """The scope list the application asks Bitrix24 for at install."""
    return [spec.name for spec in declared_scopes() if spec.requested]


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
