"""Compare Keepwarm's mirror with the sandbox portal, field by field."""

from __future__ import annotations

import time
from datetime import datetime
from decimal import Decimal
from urllib.parse import quote

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
    """Every record of an entity as the portal lists it, read through the admin webhook.

    Written independently of Keepwarm's client: 50 pages per batch request, each page filtering
    on the last id of the page before it (`$result[...]` references), so a `demo` portal's tens
    of thousands of records take a few dozen requests, not thousands.
    """
    rows: dict[int, dict] = {}
    if spec.method in ("user.get", "department.get"):
        while True:
            params = {"start": len(rows)}
            if spec.method == "user.get":
                params = {"FILTER": {">ID": max(rows, default=0)}, "sort": "ID", "order": "ASC"}
            result = patient_call(sandbox, spec.method, params)["result"]
            for row in result:
                rows[int(row[spec.row_id_field])] = row
            if len(result) < 50:
                return rows
    wrap = f"[{spec.wrapper}]" if spec.wrapper else ""
    last = 0
    while True:
        commands = {}
        for page in range(50):
            after = last if page == 0 else f"$result[p{page - 1}]{wrap}[49][{spec.row_id_field}]"
            query = {**spec.extra_params, "select": list(spec.select),
                     "filter": {f">{spec.id_field}": after}, "order": {spec.id_field: "ASC"},
                     "start": -1}  # fmt: skip
            commands[f"p{page}"] = f"{spec.method}?{_query(query)}"
        answer = patient_call(sandbox, "batch", {"halt": 0, "cmd": commands})["result"]
        for page in range(50):
            result = answer["result"].get(f"p{page}")
            if result is None:
                return rows
            if spec.wrapper:
                result = result[spec.wrapper]
            for row in result:
                rows[int(row[spec.row_id_field])] = row
            if len(result) < 50:
                return rows
            last = int(result[-1][spec.row_id_field])


def remote_details(sandbox, spec: EntitySpec, record_ids) -> dict[str, set[tuple]]:
    """Every detail row (product rows, bindings) of these records as the portal answers it,
    through the admin webhook, 50 records to a batch request; one set of row tuples per detail."""
    found: dict[str, set[tuple]] = {}
    record_ids = sorted(record_ids)
    for detail in spec.details:
        rows: set[tuple] = set()
        for index in range(0, len(record_ids), 50):
            part = record_ids[index : index + 50]
            commands = {f"r{i}": f"{detail.method}?{detail.param}={i}" for i in part}
            answer = patient_call(sandbox, "batch", {"halt": 0, "cmd": commands})["result"]
            assert not answer["result_error"], answer["result_error"]
            for record_id in part:
                result = answer["result"].get(f"r{record_id}")
                rows.update(_detail_key(detail, row) for row in detail.to_rows(record_id, result))
        found[detail.key] = rows
    return found


def local_details(spec: EntitySpec) -> dict[str, set[tuple]]:
    fields = {detail.key: _detail_fields(detail) for detail in spec.details}
    return {
        detail.key: {
            tuple(_normal(value) for value in row)
            for row in detail.model.objects.values_list(*fields[detail.key])
        }
        for detail in spec.details
    }


def _detail_fields(detail) -> list[str]:
    return [
        f.name for f in detail.model._meta.concrete_fields if f.name not in ("synced_at",)
        and not (f.primary_key and f.name not in detail.unique_fields)
    ]  # fmt: skip


def _detail_key(detail, row: dict) -> tuple:
    return tuple(_normal(row[name]) for name in _detail_fields(detail))


def _query(params: dict, prefix: str = "") -> str:
    """PHP-style nested query string, as batch commands carry their parameters."""
    parts = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, dict):
            parts.append(_query(value, name))
        elif isinstance(value, list | tuple):
            parts.extend(f"{name}[{index}]={quote(str(item))}" for index, item in enumerate(value))
        else:
            parts.append(f"{name}={quote(str(value), safe='$[]')}")
    return "&".join(part for part in parts if part)


def _normal(value):
    if isinstance(value, Decimal):
        return value.normalize()
    if isinstance(value, datetime):
        return value.timestamp()
    return value


def differences(portal, sandbox, specs=MIRRORED, *, details: bool = False) -> list[str]:
    """Every field that differs between the portal and the mirror (empty when they agree).

    `details` compares deals' product rows and activities' bindings too: one webhook command
    per deal and activity, so it is for small portals."""
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
            if details and spec.details:
                expected_details = remote_details(sandbox, spec, remote)
                for key, rows in local_details(spec).items():
                    for row in sorted(rows - expected_details[key])[:5]:
                        problems.append(f"{key} {row}: in the mirror but not on the portal")
                    for row in sorted(expected_details[key] - rows)[:5]:
                        problems.append(f"{key} {row}: missing from the mirror")
    return problems
