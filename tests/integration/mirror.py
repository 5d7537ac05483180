"""Compare Keepwarm's mirror with the sandbox portal, field by field."""

from __future__ import annotations

import time
from datetime import datetime
from decimal import Decimal

from crm_sync.sync.entities import MIRRORED, EntitySpec
from tests.conftest import in_portal


def patient_call(sandbox, method: str, params: dict) -> dict:
    """A webhook call that waits out the portal's rate limit (our own sync shares it)."""
    for _ in range(200):
        response = sandbox.hook(method, params)
        if response.status_code != 503:
            response.raise_for_status()
            return response.json()
        time.sleep(0.5)
    raise AssertionError(f"{method} stayed rate-limited")


def remote_rows(sandbox, spec: EntitySpec) -> dict[int, dict]:
    """Every record of an entity as the portal lists it (webhook, fast-export windows)."""
    rows: dict[int, dict] = {}
    last = 0
    while True:
        if spec.method == "user.get":
            params = {"FILTER": {">ID": last}, "sort": "ID", "order": "ASC"}
        elif spec.method == "department.get":
            params = {"start": len(rows)}
        else:
            params = {**spec.extra_params, "select": list(spec.select),
                      "filter": {f">{spec.id_field}": last}, "order": {spec.id_field: "ASC"},
                      "start": -1}  # fmt: skip
        result = patient_call(sandbox, spec.method, params)["result"]
        if spec.wrapper:
            result = result[spec.wrapper]
        for row in result:
            rows[int(row[spec.row_id_field])] = row
        if len(result) < 50:
            return rows
        last = int(result[-1][spec.row_id_field])


def _normal(value):
    if isinstance(value, Decimal):
        return value.normalize()
    if isinstance(value, datetime):
        return value.timestamp()
    return value


def differences(portal, sandbox, specs=MIRRORED) -> list[str]:
    """Every field that differs between the portal and the mirror (empty when they agree)."""
    problems: list[str] = []
    with in_portal(portal):
        for spec in specs:
            remote = remote_rows(sandbox, spec)
            local = {obj.pk: obj for obj in spec.model.objects.all()}
            for missing in sorted(set(remote) - set(local))[:5]:
                problems.append(f"{spec.key} {missing}: missing from the mirror")
            for extra in sorted(set(local) - set(remote))[:5]:
                problems.append(f"{spec.key} {extra}: in the mirror but not on the portal")
            for record_id in sorted(set(remote) & set(local)):
                expected = spec.to_row(remote[record_id])
                if spec.key == "invoice":
                    expected.pop("stage_semantic")
                for field, value in expected.items():
                    actual = getattr(local[record_id], field)
                    if _normal(actual) != _normal(value):
                        problems.append(f"{spec.key} {record_id}.{field}: {actual!r} != {value!r}")
                        break
    return problems
