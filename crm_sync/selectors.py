"""Reads of the CRM sync app, for other apps and the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q

from crm_sync.models import RestCallLog


@dataclass(frozen=True)
class MethodUsage:
    method: str
    calls: int
    errors: int


def rest_usage_by_method(*, since: datetime, until: datetime) -> list[MethodUsage]:
    """REST calls per method in a period, counted in one aggregate query."""
    rows = (
        RestCallLog.objects.filter(created_at__gte=since, created_at__lt=until)
        .values("method")
        .annotate(calls=Count("id"), errors=Count("id", filter=~Q(error_code="")))
        .order_by("-calls", "method")
    )
    return [MethodUsage(row["method"], row["calls"], row["errors"]) for row in rows]


@dataclass(frozen=True)
class EntityProgress:
    entity: str
    records: int
    full_done: bool
    records_done: int
    records_total: int | None
    swept_until: datetime | None
    # Records whose details (product rows, bindings) the backfill has still to read after the
    # full sync; None where the entity has none or its full export is not done.
    details_left: int | None = None
    # Records whose timeline comments the comments backfill has still to read (companies,
    # contacts, deals); None where it does not read any or has not started.
    comments_left: int | None = None


@dataclass(frozen=True)
class SyncStatus:
    running: object | None  # SyncRun
    last_finished: object | None
    eta_seconds: float | None
    entities: list[EntityProgress]

    @property
    def summary(self) -> str:
        run = self.running or self.last_finished
        if run is None:
            return "No synchronisation has run yet."
        total = run.records_total or 0
        if self.running is not None:
            eta = f", about {int(self.eta_seconds)}s left" if self.eta_seconds else ""
            return f"{run.get_kind_display()} sync running: {run.records_done}/{total}{eta}."
        finished = f"{run.finished_at:%Y-%m-%d %H:%M}"
        left = sum(entity.details_left or 0 for entity in self.entities)
        backfill = f" Details backfill: {left} records left." if left else ""
        comments = sum(entity.comments_left or 0 for entity in self.entities)
        if comments:
            backfill += f" Comments backfill: {comments} records left."
        return f"Last {run.get_kind_display().lower()} sync finished at {finished} UTC.{backfill}"


def sync_status() -> SyncStatus:
    """Where the portal's mirror stands: the running or last run and per-entity counts."""
    from crm_sync.models import SyncRun, SyncState
    from crm_sync.sync.backfill import details_remaining
    from crm_sync.sync.comments import comments_remaining
    from crm_sync.sync.engine import eta_seconds
    from crm_sync.sync.entities import MIRRORED

    running = SyncRun.objects.filter(status=SyncRun.Status.RUNNING).order_by("-created_at").first()
    last = SyncRun.objects.filter(status=SyncRun.Status.DONE).order_by("-finished_at").first()
    states = {state.entity: state for state in SyncState.objects.all()}
    details_left = details_remaining()
    comments_left = comments_remaining()
    entities = []
    for spec in MIRRORED:
        state = states.get(spec.key)
        entities.append(
            EntityProgress(
                entity=spec.key,
                records=spec.model.objects.count(),
                full_done=bool(state and state.full_done),
                records_done=state.records_done if state else 0,
                records_total=state.records_total if state else None,
                swept_until=state.swept_until if state else None,
                details_left=details_left.get(spec.key),
                comments_left=comments_left.get(spec.key),
            )
        )
    return SyncStatus(running, last, eta_seconds(running) if running else None, entities)


def sync_progress() -> dict | None:
    """The latest full sync in a few numbers (for `make demo` and other progress displays)."""
    from crm_sync.models import SyncRun
    from crm_sync.sync.engine import eta_seconds

    run = SyncRun.objects.filter(kind=SyncRun.Kind.FULL).order_by("-created_at").first()
    if run is None:
        return None
    return {
        "status": run.status,
        "records_done": run.records_done,
        "records_total": run.records_total,
        "requests": run.requests,
        "eta_seconds": eta_seconds(run) if run.status == SyncRun.Status.RUNNING else None,
        "error": run.error,
    }


def mirrored_task_ids(task_ids) -> set[int]:
    """Which of these Bitrix24 task ids the mirror holds."""
    from crm_sync.models import Task

    return set(Task.objects.filter(pk__in=list(task_ids)).values_list("pk", flat=True))


def rest_calls_search(*, query: str = "", limit: int = 200):
    """Recent REST calls, optionally only those whose method or error code contains `query`."""
    from crm_sync.models import RestCallLog

    calls = RestCallLog.objects.order_by("-created_at", "-id")
    if query:
        calls = calls.filter(Q(method__icontains=query) | Q(error_code__icontains=query))
    return list(calls[:limit])


def active_users_by_department() -> dict[int, list[int]]:
    """Active employees per department (from the mirrored users)."""
    from crm_sync.models import User

    members: dict[int, list[int]] = {}
    for user_id, departments in User.objects.filter(active=True).values_list(
        "id", "department_ids"
    ):
        for department in departments or []:
            members.setdefault(department, []).append(user_id)
    return members


@dataclass(frozen=True)
class OrgChart:
    heads: dict[int, int]  # department → head user
    parents: dict[int, int | None]  # department → parent department
    user_departments: dict[int, list[int]]

    def departments_of(self, user_id: int | None) -> list[int]:
        return self.user_departments.get(user_id or 0, []) or [0]

    def supervisor_of(self, user_id: int | None) -> int | None:
        """The head of the user's department; for a head, the head of the parent department."""
        department: int | None = self.departments_of(user_id)[0]
        for _ in range(50):  # the tree is finite; guard against cycles in bad data
            unknown = department not in self.heads and department not in self.parents
            if department is None or unknown:
                return None
            head = self.heads.get(department)
            if head and head != user_id:
                return head
            department = self.parents.get(department)
        return None


def department_heads() -> OrgChart:
    from crm_sync.models import Department, User

    heads = {}
    parents = {}
    for department_id, head_id, parent_id in Department.objects.values_list(
        "id", "head_id", "parent_id"
    ):
        if head_id:
            heads[department_id] = head_id
        parents[department_id] = parent_id
    user_departments = dict(User.objects.values_list("id", "department_ids"))
    return OrgChart(heads, parents, {k: list(v or []) for k, v in user_departments.items()})


def client_names(keys: set[tuple[int, int]]) -> dict[tuple[int, int], str]:
    """Display names of contacts (3), companies (4) and deals (2), for messages."""
    from crm_sync.models import Company, Contact, Deal

    names: dict[tuple[int, int], str] = {}
    by_type: dict[int, list[int]] = {}
    for entity_type_id, client_id in keys:
        by_type.setdefault(entity_type_id, []).append(client_id)
    for row in Contact.objects.filter(id__in=by_type.get(3, [])).values("id", "name", "last_name"):
        full = f"{row['name']} {row['last_name']}".strip()
        names[(3, row["id"])] = full or f"#{row['id']}"
    for row in Company.objects.filter(id__in=by_type.get(4, [])).values("id", "title"):
        names[(4, row["id"])] = row["title"] or f"#{row['id']}"
    for row in Deal.objects.filter(id__in=by_type.get(2, [])).values("id", "title"):
        names[(2, row["id"])] = row["title"] or f"#{row['id']}"
    for key in keys:
        names.setdefault(key, f"#{key[1]}")
    return names


def status_enum_values(field_name: str) -> dict[int, dict[str, str]]:
    """{entity type: {status code: enumeration id}} of our status field, from the mirror."""
    from crm_sync.models import UserFieldDefinition

    values: dict[int, dict[str, str]] = {}
    for entity, items in UserFieldDefinition.objects.filter(field_name=field_name).values_list(
        "entity", "enum_items"
    ):
        entity_type = {"CRM_CONTACT": 3, "CRM_COMPANY": 4}.get(entity)
        if entity_type:
            values[entity_type] = {
                str(item.get("xml_id")): str(item.get("id")) for item in items or []
            }
    return values


def activities_bound_to(*, entity_type_id: int, entity_ids):
    """Activities shown on these records through any binding, not only as their owner: a call
    logged on a deal that reached a contact is the contact's activity too. One join, no loop."""
    from crm_sync.models import Activity, ActivityBinding

    bound = ActivityBinding.objects.filter(
        entity_type_id=entity_type_id, entity_id__in=entity_ids
    ).values("activity_id")
    return Activity.objects.filter(id__in=bound)


def activity_bindings(*, activity_ids) -> dict[int, list[tuple[int, int]]]:
    """{activity id: [(entity type id, entity id), …]} for these activities, the owner included."""
    from crm_sync.models import ActivityBinding

    bindings: dict[int, list[tuple[int, int]]] = {}
    rows = (
        ActivityBinding.objects.filter(activity_id__in=activity_ids)
        .order_by("activity_id", "entity_type_id", "entity_id")
        .values_list("activity_id", "entity_type_id", "entity_id")
    )
    for activity_id, entity_type_id, entity_id in rows:
        bindings.setdefault(activity_id, []).append((entity_type_id, entity_id))
    return bindings


def deal_product_rows(*, deal_ids):
    """Product rows of these deals, in Bitrix24 row order."""
    from crm_sync.models import DealProductRow

    return DealProductRow.objects.filter(deal_id__in=deal_ids).order_by("deal_id", "id")
