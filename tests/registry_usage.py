"""Registry equals usage (issue 6): what the test suite actually sent to sandbox portals, as the
sandboxes themselves recorded it, must equal what Keepwarm's method registry declares.

An undeclared (method, field) means the data-use sheet under-states what we touch; a declared
entry nobody used means it over-states it (or the code path has no test). Either fails the run.
"""

from __future__ import annotations

import fnmatch


def registry_usage_problems(usage: list[dict], *, principal: str) -> list[str]:
    """Differences between the sandboxes' record of our calls and the registry, in words."""
    from crm_sync.bitrix.registry import declared_methods, method_spec

    used: dict[str, set[str]] = {}  # fields our calls named (select, filter, order, fields)
    returned: dict[str, set[str]] = {}  # fields the answers carried
    for entry in usage:
        if entry["principal"] != principal:
            continue  # the tests' own webhook calls and other apps' calls are not ours
        used.setdefault(entry["method"].lower(), set()).update(entry["fields"])
        returned.setdefault(entry["method"].lower(), set()).update(entry.get("returned", []))
    problems: list[str] = []
    for method, fields in sorted(used.items()):
        spec = method_spec(method)
        if spec is None:
            problems.append(f"{method}: called, but not in the registry")
            continue
        for field in sorted(fields):
            if not spec.allows_field(field):
                problems.append(f"{method}.{field}: sent, but not declared")
    for spec in declared_methods():
        fields = used.get(spec.name.lower())
        if fields is None:
            problems.append(f"{spec.name}: declared, but no test made Keepwarm call it")
            continue
        # A method that takes a field list is checked against what we named; one whose answer
        # is fixed (no `select`) declares what it keeps of the answer, which must have come.
        names_fields = {"select", "fields"} & set(spec.field_params)
        seen = fields if names_fields else fields | returned.get(spec.name.lower(), set())
        for pattern in spec.fields:
            if not any(fnmatch.fnmatchcase(field, pattern) for field in seen):
                problems.append(f"{spec.name}.{pattern}: declared, but never sent or received")
    return problems
