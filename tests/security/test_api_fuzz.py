"""Schemathesis over the whole OpenAPI schema: every operation, valid and invalid input, no 5xx.

The schema comes from our own /api/schema/ and the calls go in-process to the WSGI application,
authenticated with a real API token of a throwaway portal that holds a little data. Schemathesis'
own engine runs (what its CLI runs): explicit examples, the coverage phase (boundary and invalid
values of every parameter and body field), property-based fuzzing in positive and negative mode,
and stateful sequences. The one check is `not_a_server_error`: whatever is sent, the answer is a
response of ours, never a crash. Requests commit (transactional database), so a failed statement
cannot poison the next case.

`make security` runs more examples per operation (KEEPWARM_FUZZ_EXAMPLES) than `make test`.
"""

from __future__ import annotations

import gc
import json
import os
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import pytest
import schemathesis
from django.utils import timezone
from schemathesis import GenerationMode
from schemathesis.engine import Status, events
from schemathesis.engine import from_schema as engine_for

from tests.conftest import in_portal

EXAMPLES = int(os.environ.get("KEEPWARM_FUZZ_EXAMPLES", "10"))


@pytest.fixture
def fuzz_portal(live_portal_factory):
    from crm_sync.models import Contact, RestCallLog

    portal = live_portal_factory()
    with in_portal(portal):
        Contact.objects.create(
            id=10, name="<script>alert(1)</script>", assigned_by_id=5,
            created_at=timezone.now() - timedelta(days=90),
        )  # fmt: skip
        RestCallLog.objects.create(method="crm.contact.list", http_status=200)
    return portal


def _run(schema) -> tuple[set[str], dict[str, list[str]], list[str], dict[str, int]]:
    """Run the engine: the operations it tested, 5xx failures by operation, errors, counts."""
    tested: set[str] = set()
    failures: dict[str, list[str]] = defaultdict(list)
    errors: list[str] = []
    counts = {"requests": 0, "server_errors": 0}
    for event in engine_for(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            tested.add(event.recorder.label)
            for interaction in event.recorder.interactions.values():
                counts["requests"] += 1
                if interaction.response is not None and interaction.response.status_code >= 500:
                    counts["server_errors"] += 1
            if event.status != Status.FAILURE:
                continue
            for case_id, checks in event.recorder.checks.items():
                for check in checks:
                    if check.status != Status.FAILURE:
                        continue
                    interaction = event.recorder.interactions.get(case_id)
                    request = interaction.request if interaction else None
                    response = interaction.response if interaction else None
                    failures[event.recorder.label].append(
                        f"{check.name}: {request.method if request else '?'} "
                        f"{request.uri if request else '?'} -> "
                        f"{response.status_code if response else 'no response'}"
                    )
        elif isinstance(event, events.NonFatalError):
            errors.append(f"{event.label}: {event.value!r}"[:500])
        elif isinstance(event, events.FatalError):
            errors.append(f"fatal: {event.exception!r}"[:500])
    # The engine calls the application from its own thread; that thread's database connection
    # closes when it is collected, and must be closed before the test database is dropped.
    gc.collect()
    return tested, failures, errors, counts


@pytest.mark.django_db(transaction=True)
def test_no_input_makes_the_api_fail_with_a_server_error(fuzz_portal):
    from config.wsgi import application
    from tenants.services import portal_api_token_issue

    token = portal_api_token_issue(portal=fuzz_portal, bitrix_user_id=1, is_admin=True)
    schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
    schema.config.update(headers={"Authorization": f"Bearer {token}"}, continue_on_failure=True)
    schema.config.checks.update(included_check_names=["not_a_server_error"])
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=EXAMPLES,
        deterministic=True,
    )
    schema.config.phases.update(phases=["examples", "coverage", "fuzzing", "stateful"])
    operations = {
        f"{method.upper()} {path}"
        for path, items in schema.raw_schema["paths"].items()
        for method in items
        if method in {"get", "post", "put", "patch", "delete"}
    }

    tested, failures, errors, counts = _run(schema)

    if os.environ.get("KEEPWARM_FUZZ_STATS"):  # for the `make security` report
        Path(os.environ["KEEPWARM_FUZZ_STATS"]).write_text(
            json.dumps(
                {
                    "version": schemathesis.__version__,
                    "operations": len(operations),
                    "operations_tested": len(operations & tested),
                    **counts,
                }
            )
        )

    assert not failures, "5xx answers:\n" + "\n".join(
        f"{label}: {line}" for label, lines in sorted(failures.items()) for line in lines[:5]
    )
    assert not errors, "\n".join(errors)
    assert operations and operations <= tested, sorted(operations - tested)


# --- what schemathesis found, kept as plain regression tests ----------------------------------

LISTS = [
    "/api/v1/sync/rest-calls/",
    "/api/v1/assistants/decisions/",
    "/api/v1/assistants/snoozes/",
    "/api/v1/assistants/absences/",
    "/api/v1/audit/staff-access/",
]


@pytest.mark.parametrize("path", LISTS)
def test_a_page_size_beyond_any_integer_is_capped_not_a_crash(client, portal_factory, bearer, path):
    response = client.get(f"{path}?limit={10**30}&offset=-5", **bearer(portal_factory()))

    assert response.status_code == 200, response.content
    assert response.json()["results"] == [] or len(response.json()["results"]) <= 1000


@pytest.mark.parametrize(
    "moment",
    ["0471-04-28T19:45:50-17:12", "2024-05-01T10:00:00+23:59", "0001-01-01T00:00:00+05:00"],
)
def test_rest_call_filters_take_any_iso_offset(client, portal_factory, bearer, moment):
    portal = portal_factory()
    with in_portal(portal):
        from crm_sync.models import RestCallLog

        RestCallLog.objects.create(method="crm.contact.list", http_status=200)

    response = client.get(
        "/api/v1/sync/rest-calls/", {"since": moment, "until": moment}, **bearer(portal)
    )

    assert response.status_code in (200, 400), response.content
