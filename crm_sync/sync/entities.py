"""What the mirror reads from Bitrix24, entity by entity, and how a row becomes a mirror row.

Each EntitySpec names the list method, the fields selected (every one declared in the method
registry), how IDs are filtered and returned, the modification-date field the sweep filters on,
and `to_row`, which turns one Bitrix24 record into the model's field values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import models

from crm_sync import models as mirror
from crm_sync.sync.convert import (
    crm_binding,
    to_bool,
    to_datetime,
    to_decimal,
    to_int,
    to_int0,
    to_str,
    user_fields,
)


@dataclass(frozen=True)
class DetailSpec:
    """Rows that belong to one record and are read one record at a time, because no list method
    returns them across records (a deal's product rows, an activity's bindings).

    `method` is called with `{param: record id}`, 50 records to a batch request; `to_rows` turns
    one answer into model field values. A record's rows are replaced whole on every re-read.

    A full sync reads none of them: it stores what the record itself tells (`implied`, or
    nothing), and the details backfill (crm_sync.sync.backfill) reads the rest afterwards, for
    the records `backfill` selects (a Q over the record's model; None: every record).

    `implied` pairs each of the detail model's fields with the record model's field it is copied
    from; a record implies its row when none of those is 0. It is a column mapping, not a
    function of the Bitrix24 row, so a full sync writes the implied rows of a page with one
    INSERT … SELECT from the mirror rows it has just stored (crm_sync.sync.upsert.details_imply).
    """

    key: str
    model: type[models.Model]
    method: str
    param: str
    parent_field: str  # the model's column that holds the record's id
    to_rows: Callable[[int, Any], list[dict]]
    unique_fields: tuple[str, ...]  # the upsert's conflict target
    # For a full sync: the row a record's own fields already tell, as (detail field, record
    # field) pairs (empty: store nothing).
    implied: tuple[tuple[str, str], ...] = ()
    backfill: models.Q | None = None


@dataclass(frozen=True)
class EntitySpec:
    key: str
    model: type[models.Model]
    method: str
    select: tuple[str, ...]
    to_row: Callable[[dict], dict]
    id_field: str = "ID"  # in filters and order
    row_id_field: str = "ID"  # in returned rows
    wrapper: str | None = None  # key the rows sit under (crm.item.list: items)
    modified_field: str | None = "DATE_MODIFY"  # for the sweep; None = re-read everything
    extra_params: dict[str, Any] = field(default_factory=dict)
    events: tuple[str, ...] = ()  # Bitrix24 event names (add, update, delete)
    small: bool = False  # a short list read whole (users, departments, directories)
    details: tuple[DetailSpec, ...] = ()  # re-read with the record, in the same transaction


def _contact(row: dict) -> dict:
    return {
        "name": to_str(row.get("NAME")),
        "last_name": to_str(row.get("LAST_NAME")),
        "second_name": to_str(row.get("SECOND_NAME")),
        "company_id": to_int(row.get("COMPANY_ID")),
        "type_id": to_str(row.get("TYPE_ID"), 64),
        "source_id": to_str(row.get("SOURCE_ID"), 64),
        "assigned_by_id": to_int(row.get("ASSIGNED_BY_ID")),
        "opened": to_bool(row.get("OPENED")),
        "created_at": to_datetime(row.get("DATE_CREATE")),
        "modified_at": to_datetime(row.get("DATE_MODIFY")),
        "uf": user_fields(row),
    }


def _company(row: dict) -> dict:
    return {
        "title": to_str(row.get("TITLE")),
        "company_type": to_str(row.get("COMPANY_TYPE"), 64),
        "industry": to_str(row.get("INDUSTRY"), 64),
        "is_my_company": to_bool(row.get("IS_MY_COMPANY")),
        "assigned_by_id": to_int(row.get("ASSIGNED_BY_ID")),
        "opened": to_bool(row.get("OPENED")),
        "created_at": to_datetime(row.get("DATE_CREATE")),
        "modified_at": to_datetime(row.get("DATE_MODIFY")),
        "uf": user_fields(row),
    }


def _deal(row: dict) -> dict:
    return {
        "title": to_str(row.get("TITLE")),
        "category_id": to_int0(row.get("CATEGORY_ID")),
        "stage_id": to_str(row.get("STAGE_ID"), 64),
        "stage_semantic": to_str(row.get("STAGE_SEMANTIC_ID"), 1) or "P",
        "type_id": to_str(row.get("TYPE_ID"), 64),
        "opportunity": to_decimal(row.get("OPPORTUNITY")),
        "currency_id": to_str(row.get("CURRENCY_ID"), 8),
        "company_id": to_int(row.get("COMPANY_ID")),
        "contact_id": to_int(row.get("CONTACT_ID")),
        "assigned_by_id": to_int(row.get("ASSIGNED_BY_ID")),
        "closed": to_bool(row.get("CLOSED")),
        "begin_date": to_datetime(row.get("BEGINDATE")),
        "close_date": to_datetime(row.get("CLOSEDATE")),
        "created_at": to_datetime(row.get("DATE_CREATE")),
        "modified_at": to_datetime(row.get("DATE_MODIFY")),
        "uf": user_fields(row),
    }


def _lead(row: dict) -> dict:
    return {
        "title": to_str(row.get("TITLE")),
        "status_id": to_str(row.get("STATUS_ID"), 64),
        "status_semantic": to_str(row.get("STATUS_SEMANTIC_ID"), 1) or "P",
        "company_id": to_int(row.get("COMPANY_ID")),
        "contact_id": to_int(row.get("CONTACT_ID")),
        "assigned_by_id": to_int(row.get("ASSIGNED_BY_ID")),
        "opportunity": to_decimal(row.get("OPPORTUNITY")),
        "created_at": to_datetime(row.get("DATE_CREATE")),
        "modified_at": to_datetime(row.get("DATE_MODIFY")),
        "uf": user_fields(row),
    }


def _activity(row: dict) -> dict:
    return {
        "owner_type_id": to_int0(row.get("OWNER_TYPE_ID")),
        "owner_id": to_int0(row.get("OWNER_ID")),
        "type_id": to_int0(row.get("TYPE_ID")),
        "provider_id": to_str(row.get("PROVIDER_ID"), 64),
        "provider_type_id": to_str(row.get("PROVIDER_TYPE_ID"), 64),
        "direction": to_int0(row.get("DIRECTION")),
        "completed": to_bool(row.get("COMPLETED")),
        "status": to_int0(row.get("STATUS")),
        "responsible_id": to_int(row.get("RESPONSIBLE_ID")),
        "start_time": to_datetime(row.get("START_TIME")),
        "end_time": to_datetime(row.get("END_TIME")),
        "deadline": to_datetime(row.get("DEADLINE")),
        "created_at": to_datetime(row.get("CREATED")),
        "updated_at": to_datetime(row.get("LAST_UPDATED")),
    }


def _invoice(row: dict) -> dict:
    contact_ids = row.get("contactIds") or []
    contact_id = row.get("contactId") or (contact_ids[0] if contact_ids else None)
    return {
        "title": to_str(row.get("title")),
        "category_id": to_int0(row.get("categoryId")),
        "stage_id": to_str(row.get("stageId"), 64),
        "stage_semantic": "P",  # filled from the stage directory (crm_sync.upsert)
        "opportunity": to_decimal(row.get("opportunity")),
        "currency_id": to_str(row.get("currencyId"), 8),
        "company_id": to_int(row.get("companyId")),
        "contact_id": to_int(contact_id),
        "deal_id": to_int(row.get("parentId2")),
        "assigned_by_id": to_int(row.get("assignedById")),
        "begin_date": to_datetime(row.get("begindate")),
        "due_date": to_datetime(row.get("closedate")),
        "created_at": to_datetime(row.get("createdTime")),
        "updated_at": to_datetime(row.get("updatedTime")),
        "uf": user_fields(row),
    }


def _task(row: dict) -> dict:
    bindings = row.get("ufCrmTask") or row.get("UF_CRM_TASK") or []
    if isinstance(bindings, str):
        bindings = [bindings]
    return {
        "status": to_int0(row.get("status")),
        "responsible_id": to_int(row.get("responsibleId")),
        "created_by": to_int(row.get("createdBy")),
        "deadline": to_datetime(row.get("deadline")),
        "created_at": to_datetime(row.get("createdDate")),
        "changed_at": to_datetime(row.get("changedDate")),
        "closed_at": to_datetime(row.get("closedDate")),
        "crm_bindings": [str(code)[:32] for code in bindings if crm_binding(str(code))],
    }


def _user(row: dict) -> dict:
    departments = row.get("UF_DEPARTMENT") or []
    if not isinstance(departments, list):
        departments = [departments]
    return {
        "name": to_str(row.get("NAME")),
        "last_name": to_str(row.get("LAST_NAME")),
        "active": to_bool(row.get("ACTIVE")),
        "department_ids": [d for d in (to_int(x) for x in departments) if d is not None],
        "user_type": to_str(row.get("USER_TYPE"), 32),
    }


def _department(row: dict) -> dict:
    return {
        "name": to_str(row.get("NAME")),
        "parent_id": to_int(row.get("PARENT")),
        "head_id": to_int(row.get("UF_HEAD")),
        "sort": to_int0(row.get("SORT")) or 500,
    }


def _listed(result: Any) -> list[dict]:
    """Rows of an answer that is a list, or a map keyed by position (how batch may send it)."""
    if isinstance(result, dict):
        result = list(result.values())
    return [row for row in (result or []) if isinstance(row, dict)]


def _quantity(value: Any) -> Decimal:
    try:
        return Decimal(str(value or 0)).quantize(Decimal("0.0001"))
    except (InvalidOperation, ValueError):
        return Decimal(0)


def _deal_product_rows(deal_id: int, result: Any) -> list[dict]:
    return [
        {
            "id": int(row["ID"]),
            "deal_id": deal_id,
            "product_id": to_int(row.get("PRODUCT_ID")) or None,
            "product_name": to_str(row.get("PRODUCT_NAME")),
            "price": to_decimal(row.get("PRICE")),
            "quantity": _quantity(row.get("QUANTITY")),
        }
        for row in _listed(result)
        if to_int(row.get("ID"))
    ]


def _activity_bindings(activity_id: int, result: Any) -> list[dict]:
    return [
        {
            "activity_id": activity_id,
            "entity_type_id": to_int0(row.get("entityTypeId")),
            "entity_id": to_int0(row.get("entityId")),
        }
        for row in _listed(result)
        if to_int(row.get("entityTypeId")) and to_int(row.get("entityId"))
    ]


# The binding an activity row tells by itself: its owner. A full sync stores only this, so the
# first sync costs no request per activity; Bitrix24 binds a new activity to its owner and its
# communications' records, which for a contact's or company's own activity is the owner itself, so
# the details backfill reads crm.activity.binding.list only for the others (deals', leads'...). A
# binding added later moves LAST_UPDATED, so events and the sweep re-read every changed
# activity's bindings in full.
_OWNER_BINDING = (
    ("activity_id", "id"),
    ("entity_type_id", "owner_type_id"),
    ("entity_id", "owner_id"),
)


DEAL_PRODUCT_ROWS = DetailSpec(
    key="deal_product_row",
    model=mirror.DealProductRow,
    method="crm.deal.productrows.get",
    param="id",
    parent_field="deal_id",
    to_rows=_deal_product_rows,
    unique_fields=("id",),
)
ACTIVITY_BINDINGS = DetailSpec(
    key="activity_binding",
    model=mirror.ActivityBinding,
    method="crm.activity.binding.list",
    param="activityId",
    parent_field="activity_id",
    to_rows=_activity_bindings,
    unique_fields=("activity_id", "entity_type_id", "entity_id"),
    implied=_OWNER_BINDING,
    backfill=~models.Q(owner_type_id__in=(3, 4)),
)


def _product(row: dict) -> dict:
    return {"name": to_str(row.get("NAME")), "section_id": to_int(row.get("SECTION_ID"))}


CONTACT = EntitySpec(
    key="contact",
    model=mirror.Contact,
    method="crm.contact.list",
    select=(
        "ID",
        "NAME",
        "LAST_NAME",
        "SECOND_NAME",
        "COMPANY_ID",
        "TYPE_ID",
        "SOURCE_ID",
        "ASSIGNED_BY_ID",
        "OPENED",
        "DATE_CREATE",
        "DATE_MODIFY",
        "UF_*",
    ),
    to_row=_contact,
    events=("ONCRMCONTACTADD", "ONCRMCONTACTUPDATE", "ONCRMCONTACTDELETE"),
)
COMPANY = EntitySpec(
    key="company",
    model=mirror.Company,
    method="crm.company.list",
    select=(
        "ID",
        "TITLE",
        "COMPANY_TYPE",
        "INDUSTRY",
        "IS_MY_COMPANY",
        "ASSIGNED_BY_ID",
        "OPENED",
        "DATE_CREATE",
        "DATE_MODIFY",
        "UF_*",
    ),
    to_row=_company,
    events=("ONCRMCOMPANYADD", "ONCRMCOMPANYUPDATE", "ONCRMCOMPANYDELETE"),
)
DEAL = EntitySpec(
    key="deal",
    model=mirror.Deal,
    method="crm.deal.list",
    select=(
        "ID",
        "TITLE",
        "CATEGORY_ID",
        "STAGE_ID",
        "STAGE_SEMANTIC_ID",
        "TYPE_ID",
        "OPPORTUNITY",
        "CURRENCY_ID",
        "COMPANY_ID",
        "CONTACT_ID",
        "ASSIGNED_BY_ID",
        "CLOSED",
        "BEGINDATE",
        "CLOSEDATE",
        "DATE_CREATE",
        "DATE_MODIFY",
        "UF_*",
    ),
    to_row=_deal,
    events=("ONCRMDEALADD", "ONCRMDEALUPDATE", "ONCRMDEALDELETE"),
    details=(DEAL_PRODUCT_ROWS,),
)
LEAD = EntitySpec(
    key="lead",
    model=mirror.Lead,
    method="crm.lead.list",
    select=(
        "ID",
        "TITLE",
        "STATUS_ID",
        "STATUS_SEMANTIC_ID",
        "COMPANY_ID",
        "CONTACT_ID",
        "ASSIGNED_BY_ID",
        "OPPORTUNITY",
        "DATE_CREATE",
        "DATE_MODIFY",
        "UF_*",
    ),
    to_row=_lead,
    events=("ONCRMLEADADD", "ONCRMLEADUPDATE", "ONCRMLEADDELETE"),
)
ACTIVITY = EntitySpec(
    key="activity",
    model=mirror.Activity,
    method="crm.activity.list",
    select=(
        "ID",
        "OWNER_ID",
        "OWNER_TYPE_ID",
        "TYPE_ID",
        "PROVIDER_ID",
        "PROVIDER_TYPE_ID",
        "DIRECTION",
        "COMPLETED",
        "STATUS",
        "RESPONSIBLE_ID",
        "START_TIME",
        "END_TIME",
        "DEADLINE",
        "CREATED",
        "LAST_UPDATED",
    ),
    to_row=_activity,
    modified_field="LAST_UPDATED",
    events=("ONCRMACTIVITYADD", "ONCRMACTIVITYUPDATE", "ONCRMACTIVITYDELETE"),
    details=(ACTIVITY_BINDINGS,),
)
INVOICE = EntitySpec(
    key="invoice",
    model=mirror.SmartInvoice,
    method="crm.item.list",
    select=(
        "id",
        "title",
        "categoryId",
        "stageId",
        "opportunity",
        "currencyId",
        "companyId",
        "contactId",
        "parentId2",
        "assignedById",
        "begindate",
        "closedate",
        "createdTime",
        "updatedTime",
    ),
    to_row=_invoice,
    id_field="id",
    row_id_field="id",
    wrapper="items",
    modified_field="updatedTime",
    extra_params={"entityTypeId": 31},
    events=("ONCRMDYNAMICITEMADD", "ONCRMDYNAMICITEMUPDATE", "ONCRMDYNAMICITEMDELETE"),
)
TASK = EntitySpec(
    key="task",
    model=mirror.Task,
    method="tasks.task.list",
    select=(
        "ID",
        "STATUS",
        "RESPONSIBLE_ID",
        "CREATED_BY",
        "DEADLINE",
        "CREATED_DATE",
        "CHANGED_DATE",
        "CLOSED_DATE",
        "UF_CRM_TASK",
    ),
    to_row=_task,
    row_id_field="id",
    wrapper="tasks",
    modified_field="CHANGED_DATE",
    events=("ONTASKADD", "ONTASKUPDATE", "ONTASKDELETE"),
)
USER = EntitySpec(
    key="user",
    model=mirror.User,
    method="user.get",
    select=("ID", "NAME", "LAST_NAME", "ACTIVE", "UF_DEPARTMENT", "USER_TYPE"),
    to_row=_user,
    modified_field=None,
    small=True,
)
DEPARTMENT = EntitySpec(
    key="department",
    model=mirror.Department,
    method="department.get",
    select=("ID", "NAME", "PARENT", "UF_HEAD", "SORT"),
    to_row=_department,
    modified_field=None,
    small=True,
)
PRODUCT = EntitySpec(
    key="product",
    model=mirror.Product,
    method="crm.product.list",
    select=("ID", "NAME", "SECTION_ID"),
    to_row=_product,
    modified_field=None,
)

# Full sync order: people and directories first, so every later row can be explained.
MIRRORED: tuple[EntitySpec, ...] = (
    USER,
    DEPARTMENT,
    PRODUCT,
    COMPANY,
    CONTACT,
    DEAL,
    LEAD,
    ACTIVITY,
    INVOICE,
    TASK,
)
BY_KEY = {spec.key: spec for spec in MIRRORED}
BY_EVENT = {event: spec for spec in MIRRORED for event in spec.events}
