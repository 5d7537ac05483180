"""One assistants pass: facts → rules → decisions (→ executor).

`assistants_pass_run` evaluates every assistant for one portal as of a moment. With
`dry_run=True` the whole pass runs inside a transaction that is rolled back after the planned
decisions are read: the preview is computed by exactly the code that acts, and leaves nothing
behind.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from assistants import rules
from assistants.calendar import WorkCalendar
from assistants.facts import ActivityDefinition, PlannedDateField, client_facts_build
from assistants.handover import handover_targets_assign
from assistants.models import AssistantPass, Decision
from assistants.selectors import assistant_settings_current

logger = logging.getLogger(__name__)


@dataclass
class PassResult:
    pass_id: int | None
    as_of: datetime
    dry_run: bool
    clients: int
    counts: dict[str, int] = field(default_factory=dict)
    planned: list[dict] = field(default_factory=list)


class _Rollback(Exception):
    pass


def _evaluate(ctx: rules.PassContext) -> dict[str, int]:
    settings = ctx.settings
    planned = settings["planned_work"]
    clients = client_facts_build(
        as_of=ctx.as_of,
        definition=ActivityDefinition.from_settings(settings["activity"]),
        planned_dates=[PlannedDateField(**item) for item in planned["date_fields"]],
        open_tasks_are_planned=planned["open_tasks"],
        future_activities_are_planned=planned["future_activities"],
        uf_fields=rules.uf_fields_read(settings),
    )
    counts: dict[str, int] = {"clients": clients}
    # The decision table is not analysed during a pass: it is wide (JSONB), so sampling it cost
    # about a second, and every rule that reads it does so through a small temporary table with
    # its own statistics (kw_open_task_decisions, kw_pending_decay) or an index. The client state
    # table is analysed by the ladder once it has taken in new clients (cheap: narrow rows).
    if settings["ladder"]["enabled"]:
        for name, value in rules.ladder_states_refresh(ctx).items():
            counts[f"ladder.{name}"] = value
        for name, value in rules.ladder_decisions(ctx).items():
            counts[f"ladder.{name}"] = value
    if settings["notifications"]["stream_digest"]:
        counts["stream"] = rules.stream_digests_plan(ctx)
    rules.open_task_decisions_build()
    counts["forgotten"] = rules.forgotten_decisions(ctx)
    counts["deals"] = rules.deal_decisions(ctx)
    counts["released"] = rules.released_decisions(ctx)
    if ctx.pass_id is not None and any(action == "reassign" for _, action in ctx.tally):
        handover_targets_assign(
            decisions=list(Decision.objects.filter(pass_ref_id=ctx.pass_id, action="reassign")),
            as_of=ctx.as_of,
        )
    return counts


def assistants_pass_run(*, as_of: datetime | None = None, dry_run: bool = False) -> PassResult:
    """Evaluate every assistant over the mirror; returns counts and (dry run) the plan."""
    as_of = as_of or timezone.now()
    current = assistant_settings_current()
    calendar = WorkCalendar.from_settings(current.document["calendar"])
    result = PassResult(pass_id=None, as_of=as_of, dry_run=dry_run, clients=0)
    try:
        with transaction.atomic():
            _session_tune()
            run = AssistantPass.objects.create(as_of=as_of, settings_version=current.version)
            ctx = rules.PassContext(run.pk, as_of, current.document, current.version, calendar)
            counts = _evaluate(ctx)
            result.pass_id = run.pk
            result.clients = counts.pop("clients")
            result.counts = {
                f"{assistant}.{action}": n
                for (assistant, action), n in sorted(ctx.tally.items())
                if n
            }
            result.counts.update({f"rule.{k}": v for k, v in counts.items() if v})
            if dry_run:
                new = Decision.objects.filter(pass_ref_id=run.pk).order_by("id")
                result.planned = [_plan_row(d) for d in new]
                raise _Rollback
            AssistantPass.objects.filter(pk=run.pk).update(
                status=AssistantPass.Status.DONE, finished_at=timezone.now(), counts=result.counts
            )
    except _Rollback:
        result.pass_id = None
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS kw_client_facts")
            cursor.execute(f"DROP TABLE IF EXISTS {rules.OPEN_TASKS_TABLE}")
            cursor.execute("DROP TABLE IF EXISTS kw_ladder_states")
            cursor.execute(f"DROP TABLE IF EXISTS {rules.STATUS_CHANGES_TABLE}")
            cursor.execute(f"DROP TABLE IF EXISTS {rules.PENDING_DECAY_TABLE}")
    return result


# A pass aggregates ~100,000 groups and sorts wide rows a few times: with the server's default
# work_mem (4 MB) those spill to disk. The setting is local to the pass's transaction.
EVALUATION_WORK_MEM = "64MB"


def _session_tune() -> None:
    """Memory for the pass's sorts and hashes, and no JIT (see EVALUATION_WORK_MEM).

    Each statement of a pass runs once over a few hundred thousand rows: compiling it (JIT is
    chosen above a fixed cost) took longer than it saved.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('work_mem', %s, true)", [EVALUATION_WORK_MEM])
        cursor.execute("SELECT set_config('jit', 'off', true)")


def _plan_row(decision: Decision) -> dict:
    return {
        "assistant": decision.assistant,
        "rule": decision.rule,
        "action": decision.action,
        "entity_type_id": decision.entity_type_id,
        "client_id": decision.client_id,
        "owner_id": decision.owner_id,
        "params": decision.params,
        "facts": decision.facts,
        "status": decision.status,
    }
