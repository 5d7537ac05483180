"""The CRM entities the sandbox keeps, their fields (as the docs list them) and their events."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Entity:
    key: str  # storage name
    entity_type_id: int
    fields: dict[str, str]  # name → type, as crm.*.fields reports it
    owner_field: str
    create_field: str
    modify_field: str
    events: tuple[str, str, str]  # add, update, delete
    uf_entity: str = ""
    multi: tuple[str, ...] = ()
    readonly: tuple[str, ...] = field(default=())
    camel: bool = False


_COMMON_READONLY = ("ID", "DATE_CREATE", "DATE_MODIFY", "CREATED_BY_ID", "MODIFY_BY_ID")

CONTACT = Entity(
    key="contact",
    entity_type_id=3,
    fields={
        "ID": "integer",
        "HONORIFIC": "crm_status",
        "NAME": "string",
        "SECOND_NAME": "string",
        "LAST_NAME": "string",
        "POST": "string",
        "COMMENTS": "string",
        "TYPE_ID": "crm_status",
        "SOURCE_ID": "crm_status",
        "COMPANY_ID": "crm_company",
        "ASSIGNED_BY_ID": "user",
        "CREATED_BY_ID": "user",
        "MODIFY_BY_ID": "user",
        "DATE_CREATE": "datetime",
        "DATE_MODIFY": "datetime",
        "OPENED": "char",
        "EXPORT": "char",
        "HAS_PHONE": "char",
        "HAS_EMAIL": "char",
        "LAST_ACTIVITY_TIME": "datetime",
        "PHONE": "crm_multifield",
        "EMAIL": "crm_multifield",
    },
    owner_field="ASSIGNED_BY_ID",
    create_field="DATE_CREATE",
    modify_field="DATE_MODIFY",
    events=("ONCRMCONTACTADD", "ONCRMCONTACTUPDATE", "ONCRMCONTACTDELETE"),
    uf_entity="CRM_CONTACT",
    multi=("PHONE", "EMAIL", "WEB", "IM", "LINK"),
    readonly=(*_COMMON_READONLY, "HAS_PHONE", "HAS_EMAIL", "LAST_ACTIVITY_TIME"),
)

COMPANY = Entity(
    key="company",
    entity_type_id=4,
    fields={
        "ID": "integer",
        "TITLE": "string",
        "COMPANY_TYPE": "crm_status",
        "INDUSTRY": "crm_status",
        "EMPLOYEES": "crm_status",
        "REVENUE": "double",
        "CURRENCY_ID": "crm_currency",
        "COMMENTS": "string",
        "IS_MY_COMPANY": "char",
        "ASSIGNED_BY_ID": "user",
        "CREATED_BY_ID": "user",
        "MODIFY_BY_ID": "user",
        "DATE_CREATE": "datetime",
        "DATE_MODIFY": "datetime",
        "OPENED": "char",
        "HAS_PHONE": "char",
        "HAS_EMAIL": "char",
        "LAST_ACTIVITY_TIME": "datetime",
        "PHONE": "crm_multifield",
        "EMAIL": "crm_multifield",
    },
    owner_field="ASSIGNED_BY_ID",
    create_field="DATE_CREATE",
    modify_field="DATE_MODIFY",
    events=("ONCRMCOMPANYADD", "ONCRMCOMPANYUPDATE", "ONCRMCOMPANYDELETE"),
    uf_entity="CRM_COMPANY",
    multi=("PHONE", "EMAIL", "WEB", "IM", "LINK"),
    readonly=(*_COMMON_READONLY, "HAS_PHONE", "HAS_EMAIL", "LAST_ACTIVITY_TIME"),
)

DEAL = Entity(
    key="deal",
    entity_type_id=2,
    fields={
        "ID": "integer",
        "TITLE": "string",
        "TYPE_ID": "crm_status",
        "CATEGORY_ID": "crm_category",
        "STAGE_ID": "crm_status",
        "STAGE_SEMANTIC_ID": "string",
        "IS_NEW": "char",
        "IS_RECURRING": "char",
        "IS_RETURN_CUSTOMER": "char",
        "PROBABILITY": "integer",
        "CURRENCY_ID": "crm_currency",
        "OPPORTUNITY": "double",
        "COMPANY_ID": "crm_company",
        "CONTACT_ID": "crm_contact",
        "BEGINDATE": "date",
        "CLOSEDATE": "date",
        "OPENED": "char",
        "CLOSED": "char",
        "COMMENTS": "string",
        "ASSIGNED_BY_ID": "user",
        "CREATED_BY_ID": "user",
        "MODIFY_BY_ID": "user",
        "DATE_CREATE": "datetime",
        "DATE_MODIFY": "datetime",
        "SOURCE_ID": "crm_status",
        "LEAD_ID": "crm_lead",
    },
    owner_field="ASSIGNED_BY_ID",
    create_field="DATE_CREATE",
    modify_field="DATE_MODIFY",
    events=("ONCRMDEALADD", "ONCRMDEALUPDATE", "ONCRMDEALDELETE"),
    uf_entity="CRM_DEAL",
    readonly=(*_COMMON_READONLY, "STAGE_SEMANTIC_ID", "IS_NEW", "CLOSED"),
)

LEAD = Entity(
    key="lead",
    entity_type_id=1,
    fields={
        "ID": "integer",
        "TITLE": "string",
        "NAME": "string",
        "LAST_NAME": "string",
        "STATUS_ID": "crm_status",
        "STATUS_SEMANTIC_ID": "string",
        "COMPANY_ID": "crm_company",
        "CONTACT_ID": "crm_contact",
        "OPPORTUNITY": "double",
        "CURRENCY_ID": "crm_currency",
        "SOURCE_ID": "crm_status",
        "ASSIGNED_BY_ID": "user",
        "CREATED_BY_ID": "user",
        "DATE_CREATE": "datetime",
        "DATE_MODIFY": "datetime",
        "OPENED": "char",
    },
    owner_field="ASSIGNED_BY_ID",
    create_field="DATE_CREATE",
    modify_field="DATE_MODIFY",
    events=("ONCRMLEADADD", "ONCRMLEADUPDATE", "ONCRMLEADDELETE"),
    uf_entity="CRM_LEAD",
    readonly=(*_COMMON_READONLY, "STATUS_SEMANTIC_ID"),
)

ACTIVITY = Entity(
    key="activity",
    entity_type_id=6,
    fields={
        "ID": "integer",
        "OWNER_ID": "integer",
        "OWNER_TYPE_ID": "integer",
        "TYPE_ID": "integer",
        "PROVIDER_ID": "string",
        "PROVIDER_TYPE_ID": "string",
        "SUBJECT": "string",
        "CREATED": "datetime",
        "LAST_UPDATED": "datetime",
        "START_TIME": "datetime",
        "END_TIME": "datetime",
        "DEADLINE": "datetime",
        "COMPLETED": "char",
        "STATUS": "integer",
        "RESPONSIBLE_ID": "user",
        "PRIORITY": "integer",
        "DESCRIPTION": "string",
        "DIRECTION": "integer",
        "ORIGIN_ID": "string",
        "AUTHOR_ID": "user",
        "SETTINGS": "object",
        "COMMUNICATIONS": "crm_multifield",
        "BINDINGS": "crm_activity_binding",
    },
    owner_field="RESPONSIBLE_ID",
    create_field="CREATED",
    modify_field="LAST_UPDATED",
    events=("ONCRMACTIVITYADD", "ONCRMACTIVITYUPDATE", "ONCRMACTIVITYDELETE"),
    # BINDINGS: every CRM record the activity shows on, the owner first; read-only, changed
    # through crm.activity.binding.*; not in `*` (crm.activity.binding.list reads them).
    multi=("COMMUNICATIONS", "FILES", "BINDINGS"),
    readonly=("ID", "CREATED", "LAST_UPDATED", "AUTHOR_ID", "BINDINGS"),
)

INVOICE = Entity(
    key="invoice",
    entity_type_id=31,
    fields={
        "id": "integer",
        "title": "string",
        "xmlId": "string",
        "categoryId": "crm_category",
        "stageId": "crm_status",
        "opportunity": "double",
        "currencyId": "crm_currency",
        "companyId": "crm_company",
        "contactId": "crm_contact",
        "contactIds": "crm_contact",
        "parentId2": "crm_entity",
        "assignedById": "user",
        "createdBy": "user",
        "begindate": "date",
        "closedate": "date",
        "createdTime": "datetime",
        "updatedTime": "datetime",
        "opened": "boolean",
        "entityTypeId": "integer",
    },
    owner_field="assignedById",
    create_field="createdTime",
    modify_field="updatedTime",
    events=("ONCRMDYNAMICITEMADD", "ONCRMDYNAMICITEMUPDATE", "ONCRMDYNAMICITEMDELETE"),
    uf_entity="CRM_SMART_INVOICE",
    readonly=("id", "createdTime", "updatedTime", "createdBy", "entityTypeId"),
    camel=True,
)

TASK = Entity(
    key="task",
    entity_type_id=0,
    fields={
        "ID": "integer",
        "TITLE": "string",
        "DESCRIPTION": "string",
        "STATUS": "integer",
        "PRIORITY": "integer",
        "RESPONSIBLE_ID": "user",
        "CREATED_BY": "user",
        "DEADLINE": "datetime",
        "CREATED_DATE": "datetime",
        "CHANGED_DATE": "datetime",
        "CLOSED_DATE": "datetime",
        "UF_CRM_TASK": "crm",
    },
    owner_field="RESPONSIBLE_ID",
    create_field="CREATED_DATE",
    modify_field="CHANGED_DATE",
    events=("ONTASKADD", "ONTASKUPDATE", "ONTASKDELETE"),
    readonly=("ID", "CREATED_DATE", "CHANGED_DATE", "CLOSED_DATE"),
)

LEGACY = {"contact": CONTACT, "company": COMPANY, "deal": DEAL, "lead": LEAD}
BY_TYPE_ID = {3: CONTACT, 4: COMPANY, 2: DEAL, 1: LEAD, 31: INVOICE}
ALL = (CONTACT, COMPANY, DEAL, LEAD, ACTIVITY, INVOICE, TASK)

# Task fields are sent in UPPER_CASE and answered in camelCase (tasks.task.*).
TASK_CAMEL = {
    "ID": "id",
    "TITLE": "title",
    "DESCRIPTION": "description",
    "STATUS": "status",
    "PRIORITY": "priority",
    "RESPONSIBLE_ID": "responsibleId",
    "CREATED_BY": "createdBy",
    "DEADLINE": "deadline",
    "CREATED_DATE": "createdDate",
    "CHANGED_DATE": "changedDate",
    "CLOSED_DATE": "closedDate",
    "UF_CRM_TASK": "ufCrmTask",
}
