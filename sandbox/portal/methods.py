"""REST methods of the sandbox portal (read the official docs for each: shapes follow them)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.portal import protocol as p
from sandbox.portal.entities import (
    ACTIVITY,
    BY_TYPE_ID,
    INVOICE,
    LEGACY,
    TASK,
    TASK_CAMEL,
    Entity,
)
from sandbox.portal.portal import ALL_SCOPES, Caller, Portal, method_scope
from sandbox.portal.query import compile_filter, compile_order, portal_time, project

PAGE = 50


@dataclass
class Answer:
    result: Any
    total: int | None = None
    next: int | None = None
    rows: int = 0
    start: int = 0


Handler = Callable[[Portal, Caller, dict], Answer]
METHODS: dict[str, Handler] = {}


def method(*names: str):
    def register(func: Handler) -> Handler:
        for name in names:
            METHODS[name.lower()] = func
        return func

    return register


# --- shared list machinery -----------------------------------------------------------------


def _int(value, name: str = "id") -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise p.RestError(400, "", f"Parameter '{name}' is invalid or not defined.") from exc


def _start(params: dict) -> int:
    raw = params.get("start", 0)
    try:
        return int(raw)
    except (TypeError, ValueError):
        return 0


def _owner_filter(portal: Portal, caller: Caller, entity: Entity) -> tuple[str, list]:
    """Records a manager may not read are silently left out (CRM permissions, not scopes)."""
    if portal.is_admin(caller.user_id):
        return "1=1", []
    column = f"json_extract(data, '$.\"{entity.owner_field}\"')"
    return f"CAST({column} AS TEXT) = ?", [str(caller.user_id)]


def _list(
    portal: Portal,
    caller: Caller,
    entity: Entity,
    params: dict,
    *,
    id_field: str,
    transform=None,
    wrap: str | None = None,
) -> Answer:
    start = _start(params)
    where, args = compile_filter(params.get("filter") or params.get("FILTER"), id_field=id_field)
    perm, perm_args = _owner_filter(portal, caller, entity)
    where = f"{where} AND {perm}"
    args += perm_args
    order = compile_order(params.get("order") or params.get("ORDER"), id_field=id_field)
    offset = max(start, 0)
    rows = portal.store.select(entity.key, where, args, order=order, limit=PAGE + 1, offset=offset)
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    fields = list(entity.fields)
    items = [
        project(data, params.get("select"), default_fields=fields, multi=entity.multi)
        for _, data in rows
    ]
    if transform:
        items = [transform(item) for item in items]
    total = None
    next_start = None
    if start >= 0:
        total = portal.store.count(entity.key, where, args)
        if more:
            next_start = offset + PAGE
    else:
        total = 0
    result: Any = {wrap: items} if wrap else items
    return Answer(result, total=total, next=next_start, rows=len(items), start=max(start, 0))


def _get_record(
    portal: Portal, caller: Caller, entity: Entity, record_id: int, *, legacy=True
) -> dict:
    record = portal.store.get(entity.key, record_id)
    if record is None:
        raise (
            p.crm_error("Not found")
            if legacy
            else p.not_found(f"Element with ID {record_id} not found")
        )
    if not portal.is_admin(caller.user_id) and str(record.get(entity.owner_field)) != str(
        caller.user_id
    ):
        raise p.crm_error("Access denied.", 403) if legacy else p.access_denied()
    return record


def _writable(portal: Portal, entity: Entity, fields: dict) -> dict:
    if not isinstance(fields, dict):
        raise p.RestError(400, "", "Parameter 'fields' must be array.")
    clean = {}
    for key, value in fields.items():
        if key in entity.readonly and not (
            portal.backdating and key in (entity.create_field, entity.modify_field)
        ):
            continue
        if (
            key in entity.fields
            or key.startswith(("UF_", "ufCrm"))
            or (
                portal.backdating
                and key in ("START_TIME", "END_TIME", "CLOSED_DATE", "CREATED_DATE", "CHANGED_DATE")
            )
        ):
            clean[key] = value
    return clean


def _normalise_dates(entity: Entity, record: dict) -> None:
    for key, kind in entity.fields.items():
        value = record.get(key)
        if kind in ("datetime", "date") and isinstance(value, str) and value:
            with contextlib.suppress(ValueError):
                record[key] = portal_time(value) if kind == "datetime" else value[:10]


def _stamp(portal: Portal, entity: Entity, record: dict, fields: dict, *, creating: bool) -> None:
    now = portal.now_iso()
    if creating:
        record[entity.create_field] = (
            fields.get(entity.create_field)
            if portal.backdating and fields.get(entity.create_field)
            else now
        )
    record[entity.modify_field] = (
        fields.get(entity.modify_field)
        if portal.backdating and fields.get(entity.modify_field)
        else now
    )
    _normalise_dates(entity, record)


# --- legacy CRM: crm.contact/company/deal/lead.* -------------------------------------------


def _stage_semantic(portal: Portal, stage_id: str) -> str:
    rows = portal.store.select(
        "status", "json_extract(data, '$.STATUS_ID') = ?", [stage_id], limit=5
    )
    for _, row in rows:
        if row.get("ENTITY_ID", "").startswith(("DEAL_STAGE", "STATUS")):
            return {"S": "S", "F": "F"}.get(row.get("SEMANTICS") or "", "P")
    return "P"


def _legacy_handlers(entity: Entity) -> None:
    prefix = f"crm.{entity.key}"

    def do_list(portal, caller, params):
        return _list(portal, caller, entity, params, id_field="ID")

    def do_get(portal, caller, params):
        record_id = _int(params.get("id", params.get("ID")))
        return Answer(_get_record(portal, caller, entity, record_id))

    def do_add(portal, caller, params):
        fields = _writable(portal, entity, params.get("fields") or params.get("FIELDS") or {})
        record_id = portal.store.next_id(entity.key)
        record = {
            "ID": str(record_id),
            "CREATED_BY_ID": str(caller.user_id),
            "MODIFY_BY_ID": str(caller.user_id),
            "ASSIGNED_BY_ID": str(caller.user_id),
            "OPENED": "N",
        }
        record.update({k: _legacy_value(v) for k, v in fields.items()})
        _stamp(portal, entity, record, fields, creating=True)
        if entity.key == "deal":
            record.setdefault("CATEGORY_ID", "0")
            record.setdefault("STAGE_ID", "NEW")
            record["STAGE_SEMANTIC_ID"] = _stage_semantic(portal, record["STAGE_ID"])
            record["CLOSED"] = "N" if record["STAGE_SEMANTIC_ID"] == "P" else "Y"
        if entity.key == "lead":
            record.setdefault("STATUS_ID", "NEW")
            record["STATUS_SEMANTIC_ID"] = _stage_semantic(portal, record["STATUS_ID"])
        portal.store.put(entity.key, record_id, record)
        portal.emit(entity.events[0], {"FIELDS": {"ID": record_id}}, user_id=caller.user_id)
        return Answer(record_id)

    def do_update(portal, caller, params):
        record_id = _int(params.get("id", params.get("ID")))
        record = _get_record(portal, caller, entity, record_id)
        fields = _writable(portal, entity, params.get("fields") or params.get("FIELDS") or {})
        record.update({k: _legacy_value(v) for k, v in fields.items()})
        record["MODIFY_BY_ID"] = str(caller.user_id)
        _stamp(portal, entity, record, fields, creating=False)
        if entity.key == "deal" and "STAGE_ID" in fields:
            record["STAGE_SEMANTIC_ID"] = _stage_semantic(portal, record["STAGE_ID"])
            record["CLOSED"] = "N" if record["STAGE_SEMANTIC_ID"] == "P" else "Y"
        portal.store.put(entity.key, record_id, record)
        portal.emit(entity.events[1], {"FIELDS": {"ID": record_id}}, user_id=caller.user_id)
        return Answer(True)

    def do_delete(portal, caller, params):
        record_id = _int(params.get("id", params.get("ID")))
        _get_record(portal, caller, entity, record_id)
        portal.store.delete(entity.key, record_id)
        portal.emit(entity.events[2], {"FIELDS": {"ID": record_id}}, user_id=caller.user_id)
        return Answer(True)

    def do_fields(portal, caller, params):
        return Answer(_field_descriptions(portal, entity))

    method(f"{prefix}.list")(do_list)
    method(f"{prefix}.get")(do_get)
    method(f"{prefix}.add")(do_add)
    method(f"{prefix}.update")(do_update)
    method(f"{prefix}.delete")(do_delete)
    method(f"{prefix}.fields")(do_fields)


def _legacy_value(value):
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _field_descriptions(portal: Portal, entity: Entity) -> dict:
    described = {
        name: {
            "type": kind,
            "isRequired": False,
            "isReadOnly": name in entity.readonly,
            "isImmutable": False,
            "isMultiple": name in entity.multi,
            "isDynamic": False,
            "title": name,
        }
        for name, kind in entity.fields.items()
    }
    for _, uf in portal.store.select(
        "userfield", "json_extract(data, '$.ENTITY_ID') = ?", [entity.uf_entity], limit=None
    ):
        described[uf["FIELD_NAME"]] = {
            "type": uf["USER_TYPE_ID"],
            "isRequired": uf["MANDATORY"] == "Y",
            "isReadOnly": False,
            "isImmutable": False,
            "isMultiple": uf["MULTIPLE"] == "Y",
            "isDynamic": True,
            "title": uf["FIELD_NAME"],
            "listLabel": uf["LIST_COLUMN_LABEL"].get("ru"),
            **(
                {"items": [{"ID": i["ID"], "VALUE": i["VALUE"]} for i in uf["LIST"]]}
                if "LIST" in uf
                else {}
            ),
        }
    return described


for _entity in LEGACY.values():
    _legacy_handlers(_entity)


# --- universal crm.item.* ------------------------------------------------------------------

_CAMEL = {
    "ID": "id",
    "TITLE": "title",
    "NAME": "name",
    "LAST_NAME": "lastName",
    "SECOND_NAME": "secondName",
    "ASSIGNED_BY_ID": "assignedById",
    "DATE_CREATE": "createdTime",
    "DATE_MODIFY": "updatedTime",
    "COMPANY_ID": "companyId",
    "CONTACT_ID": "contactId",
    "STAGE_ID": "stageId",
    "CATEGORY_ID": "categoryId",
    "OPPORTUNITY": "opportunity",
    "CURRENCY_ID": "currencyId",
    "TYPE_ID": "typeId",
    "SOURCE_ID": "sourceId",
    "OPENED": "opened",
    "CLOSED": "closed",
    "BEGINDATE": "begindate",
    "CLOSEDATE": "closedate",
    "STATUS_ID": "statusId",
    "STAGE_SEMANTIC_ID": "stageSemanticId",
    "CREATED_BY_ID": "createdBy",
    "MODIFY_BY_ID": "updatedBy",
    "IS_MY_COMPANY": "isMyCompany",
    "COMPANY_TYPE": "companyType",
    "INDUSTRY": "industry",
}


def _uf_camel(name: str) -> str:
    rest = name[len("UF_CRM_") :] if name.startswith("UF_CRM_") else name[3:]
    head, _, tail = rest.partition("_")
    if head.isdigit() and tail:
        return f"ufCrm{head}_{tail}"
    return "ufCrm_" + rest


def _as_item(record: dict, original_uf: bool) -> dict:
    item = {}
    for key, value in record.items():
        if key.startswith("UF_"):
            item[key if original_uf else _uf_camel(key)] = value
        elif key in _CAMEL:
            camel = _CAMEL[key]
            if key.endswith("_ID") or key == "ID":
                item[camel] = int(value) if str(value or "").isdigit() else value
            elif value in ("Y", "N"):
                item[camel] = value == "Y"
            elif key == "OPPORTUNITY":
                item[camel] = float(value or 0)
            else:
                item[camel] = value
    return item


def _item_entity(params: dict) -> Entity:
    type_id = _int(params.get("entityTypeId", params.get("ENTITY_TYPE_ID")), "entityTypeId")
    if type_id == 5:
        raise p.RestError(400, "ENTITY_TYPE_NOT_SUPPORTED", "Entity type 5 is not supported")
    entity = BY_TYPE_ID.get(type_id)
    if entity is None:
        raise p.not_found("Smart process not found")
    return entity


@method("crm.item.list")
def item_list(portal, caller, params):
    entity = _item_entity(params)
    original = str(params.get("useOriginalUfNames", "N")).upper() == "Y"
    if entity.camel:
        return _list(portal, caller, entity, params, id_field="id", wrap="items")
    legacy_params = {**params, "select": ["*", "UF_*"]}
    flt = params.get("filter") or {}
    legacy_params["filter"] = (
        {_to_legacy(k): v for k, v in flt.items()} if isinstance(flt, dict) else flt
    )
    order = params.get("order") or {}
    legacy_params["order"] = (
        {_to_legacy(k): v for k, v in order.items()} if isinstance(order, dict) else order
    )
    answer = _list(portal, caller, entity, legacy_params, id_field="ID")
    select = params.get("select") or ["*"]
    items = []
    for record in answer.result:
        item = _as_item(record, original)
        if "*" not in select:
            item = {k: v for k, v in item.items() if k in select or k == "id"}
        items.append(item)
    answer.result = {"items": items}
    return answer


def _to_legacy(key: str) -> str:
    reverse = {v: k for k, v in _CAMEL.items()}
    prefix = ""
    for op in (">=", "<=", "!=", "!@", ">", "<", "=", "!", "@", "%"):
        if key.startswith(op):
            prefix, key = op, key[len(op) :]
            break
    return prefix + reverse.get(key, key)


@method("crm.item.get")
def item_get(portal, caller, params):
    entity = _item_entity(params)
    record = _get_record(portal, caller, entity, _int(params.get("id")), legacy=False)
    item = record if entity.camel else _as_item(record, False)
    return Answer({"item": item})


@method("crm.item.add")
def item_add(portal, caller, params):
    entity = _item_entity(params)
    if not entity.camel:
        handler = METHODS[f"crm.{entity.key}.add"]
        legacy = {_to_legacy(k): v for k, v in (params.get("fields") or {}).items()}
        record_id = handler(portal, caller, {"fields": legacy}).result
        return item_get(portal, caller, {"entityTypeId": entity.entity_type_id, "id": record_id})
    fields = _writable(portal, entity, params.get("fields") or {})
    record_id = portal.store.next_id(entity.key)
    record = {
        "id": record_id,
        "entityTypeId": entity.entity_type_id,
        "assignedById": caller.user_id,
        "createdBy": caller.user_id,
        "categoryId": 1,
        "stageId": "DT31_1:N",
        "opened": True,
        "contactIds": [],
    }
    record.update(fields)
    if record.get("contactId") and not record.get("contactIds"):
        record["contactIds"] = [record["contactId"]]
    _stamp(portal, entity, record, fields, creating=True)
    portal.store.put(entity.key, record_id, record)
    portal.emit(
        entity.events[0],
        {"FIELDS": {"ID": record_id, "ENTITY_TYPE_ID": entity.entity_type_id}},
        user_id=caller.user_id,
    )
    return Answer({"item": record})


@method("crm.item.update")
def item_update(portal, caller, params):
    entity = _item_entity(params)
    if not entity.camel:
        handler = METHODS[f"crm.{entity.key}.update"]
        legacy = {_to_legacy(k): v for k, v in (params.get("fields") or {}).items()}
        handler(portal, caller, {"id": params.get("id"), "fields": legacy})
        return item_get(portal, caller, params)
    record = _get_record(portal, caller, entity, _int(params.get("id")), legacy=False)
    fields = _writable(portal, entity, params.get("fields") or {})
    record.update(fields)
    _stamp(portal, entity, record, fields, creating=False)
    portal.store.put(entity.key, record["id"], record)
    portal.emit(
        entity.events[1],
        {"FIELDS": {"ID": record["id"], "ENTITY_TYPE_ID": entity.entity_type_id}},
        user_id=caller.user_id,
    )
    return Answer({"item": record})


@method("crm.item.delete")
def item_delete(portal, caller, params):
    entity = _item_entity(params)
    record_id = _int(params.get("id"))
    _get_record(portal, caller, entity, record_id, legacy=False)
    portal.store.delete(entity.key, record_id)
    portal.emit(
        entity.events[2],
        {"FIELDS": {"ID": record_id, "ENTITY_TYPE_ID": entity.entity_type_id}},
        user_id=caller.user_id,
    )
    return Answer([])


@method("crm.item.fields")
def item_fields(portal, caller, params):
    entity = _item_entity(params)
    return Answer({"fields": _field_descriptions(portal, entity)})


# --- activities -----------------------------------------------------------------------------


@method("crm.activity.list")
def activity_list(portal, caller, params):
    if params.get("select") in (None, [], ""):
        params = {**params, "select": ["*"]}
    return _list(portal, caller, ACTIVITY, params, id_field="ID")


@method("crm.activity.get")
def activity_get(portal, caller, params):
    return Answer(_get_record(portal, caller, ACTIVITY, _int(params.get("id", params.get("ID")))))


def _activity_create(portal, caller, fields: dict) -> int:
    for required in ("OWNER_ID", "OWNER_TYPE_ID", "TYPE_ID"):
        if not fields.get(required):
            raise p.RestError(400, "", f"The field '{required}' is required.")
    record_id = portal.store.next_id("activity")
    record = {
        "ID": str(record_id),
        "COMPLETED": "N",
        "STATUS": "1",
        "DIRECTION": "0",
        "PRIORITY": "2",
        "RESPONSIBLE_ID": str(caller.user_id),
        "AUTHOR_ID": str(caller.user_id),
        "ORIGIN_ID": "",
        "PROVIDER_ID": "CRM_TODO",
        "PROVIDER_TYPE_ID": "TODO",
        "SUBJECT": "",
        "DESCRIPTION": "",
    }
    record.update({k: _legacy_value(v) for k, v in _writable(portal, ACTIVITY, fields).items()})
    record.setdefault("START_TIME", portal.now_iso())
    record.setdefault("END_TIME", record["START_TIME"])
    record["DEADLINE"] = record.get("DEADLINE") or record["START_TIME"]
    if record.get("COMPLETED") == "Y":
        record["STATUS"] = "2"
    record["BINDINGS"] = [_binding(record["OWNER_TYPE_ID"], record["OWNER_ID"])]
    _stamp(portal, ACTIVITY, record, fields, creating=True)
    portal.store.put("activity", record_id, record)
    portal.emit(ACTIVITY.events[0], {"FIELDS": {"ID": record_id}}, user_id=caller.user_id)
    return record_id


@method("crm.activity.add")
def activity_add(portal, caller, params):
    return Answer(
        _activity_create(portal, caller, params.get("fields") or params.get("FIELDS") or {})
    )


@method("crm.activity.todo.add")
def activity_todo_add(portal, caller, params):
    fields = {
        "OWNER_TYPE_ID": params.get("ownerTypeId"),
        "OWNER_ID": params.get("ownerId"),
        "TYPE_ID": "6",
        "SUBJECT": params.get("title", ""),
        "DESCRIPTION": params.get("description", ""),
        "RESPONSIBLE_ID": params.get("responsibleId") or caller.user_id,
        "DEADLINE": params.get("deadline"),
        "START_TIME": params.get("deadline"),
        "PROVIDER_ID": "CRM_TODO",
        "PROVIDER_TYPE_ID": "TODO",
    }
    if not fields["DEADLINE"]:
        raise p.RestError(400, "100", "Required fields: deadline")
    return Answer({"id": _activity_create(portal, caller, fields)})


@method("crm.activity.update")
def activity_update(portal, caller, params):
    record_id = _int(params.get("id", params.get("ID")))
    record = _get_record(portal, caller, ACTIVITY, record_id)
    fields = params.get("fields") or params.get("FIELDS") or {}
    owner_before = _binding(record.get("OWNER_TYPE_ID"), record.get("OWNER_ID"))
    record.update({k: _legacy_value(v) for k, v in _writable(portal, ACTIVITY, fields).items()})
    if record.get("COMPLETED") == "Y":
        record["STATUS"] = "2"
    owner_after = _binding(record.get("OWNER_TYPE_ID"), record.get("OWNER_ID"))
    if owner_after != owner_before:  # a new owner replaces the old one among the bindings
        others = [b for b in _bindings(record) if b not in (owner_before, owner_after)]
        record["BINDINGS"] = [owner_after, *others]
    _stamp(portal, ACTIVITY, record, fields, creating=False)
    portal.store.put("activity", record_id, record)
    portal.emit(ACTIVITY.events[1], {"FIELDS": {"ID": record_id}}, user_id=caller.user_id)
    return Answer(True)


@method("crm.activity.delete")
def activity_delete(portal, caller, params):
    record_id = _int(params.get("id", params.get("ID")))
    _get_record(portal, caller, ACTIVITY, record_id)
    portal.store.delete("activity", record_id)
    portal.emit(ACTIVITY.events[2], {"FIELDS": {"ID": record_id}}, user_id=caller.user_id)
    return Answer(True)


@method("crm.activity.fields")
def activity_fields(portal, caller, params):
    return Answer(_field_descriptions(portal, ACTIVITY))


def _binding(entity_type_id, entity_id) -> dict:
    return {"OWNER_TYPE_ID": str(entity_type_id), "OWNER_ID": str(entity_id)}


def _bindings(record: dict) -> list[dict]:
    """An activity's bindings; records made before bindings were kept have only their owner."""
    return list(record.get("BINDINGS") or [_binding(record["OWNER_TYPE_ID"], record["OWNER_ID"])])


def _binding_params(portal, caller, params) -> tuple[int, dict, dict]:
    activity_id = _int(params.get("activityId"), "activityId")
    record = portal.store.get("activity", activity_id)
    if record is None:
        raise p.not_found("Activity not found")
    if not portal.is_admin(caller.user_id) and str(record.get("RESPONSIBLE_ID")) != str(
        caller.user_id
    ):
        raise p.access_denied()
    if "entityTypeId" not in params and "entityId" not in params:
        return activity_id, record, {}
    type_id = _int(params.get("entityTypeId"), "entityTypeId")
    entity_id = _int(params.get("entityId"), "entityId")
    entity = BY_TYPE_ID.get(type_id)
    if entity is None or portal.store.get(entity.key, entity_id) is None:
        raise p.not_found("Entity not found")
    return activity_id, record, _binding(type_id, entity_id)


def _bindings_save(portal, caller, activity_id: int, record: dict, bindings: list[dict]) -> None:
    """Bindings change through the activity itself: LAST_UPDATED moves and the update event
    fires, as for any other change of the activity."""
    record["BINDINGS"] = bindings
    _stamp(portal, ACTIVITY, record, {}, creating=False)
    portal.store.put("activity", activity_id, record)
    portal.emit(ACTIVITY.events[1], {"FIELDS": {"ID": activity_id}}, user_id=caller.user_id)


@method("crm.activity.binding.list")
def activity_binding_list(portal, caller, params):
    _, record, _ = _binding_params(portal, caller, params)
    return Answer(
        [
            {"entityTypeId": int(b["OWNER_TYPE_ID"]), "entityId": int(b["OWNER_ID"])}
            for b in _bindings(record)
        ]
    )


@method("crm.activity.binding.add")
def activity_binding_add(portal, caller, params):
    activity_id, record, binding = _binding_params(portal, caller, params)
    if not binding:
        raise p.RestError(400, "100", "Required fields: entityTypeId, entityId")
    bindings = _bindings(record)
    if binding in bindings:
        raise p.RestError(400, "ACTIVITY_IS_ALREADY_BOUND", "Activity is already bound")
    if len(bindings) >= 100:
        raise p.RestError(400, "ERROR_CORE", "An activity may have at most 100 bindings")
    _bindings_save(portal, caller, activity_id, record, [*bindings, binding])
    return Answer(True)


@method("crm.activity.binding.delete")
def activity_binding_delete(portal, caller, params):
    activity_id, record, binding = _binding_params(portal, caller, params)
    if not binding:
        raise p.RestError(400, "100", "Required fields: entityTypeId, entityId")
    bindings = _bindings(record)
    if binding not in bindings:
        raise p.not_found("Binding not found")
    if len(bindings) == 1:
        raise p.RestError(400, "ERROR_CORE", "The only binding of an activity cannot be deleted")
    rest = [b for b in bindings if b != binding]
    if binding == _binding(record["OWNER_TYPE_ID"], record["OWNER_ID"]):
        record["OWNER_TYPE_ID"], record["OWNER_ID"] = rest[0]["OWNER_TYPE_ID"], rest[0]["OWNER_ID"]
    _bindings_save(portal, caller, activity_id, record, rest)
    return Answer(True)


# --- directories ----------------------------------------------------------------------------


@method("crm.category.list")
def category_list(portal, caller, params):
    type_id = _int(params.get("entityTypeId"), "entityTypeId")
    rows = [
        row
        for _, row in portal.store.select("category", "1=1", [], limit=None)
        if row["entityTypeId"] == type_id
    ]
    return Answer({"categories": rows}, total=len(rows))


@method("crm.dealcategory.list")
def dealcategory_list(portal, caller, params):
    rows = [
        {"ID": str(r["id"]), "NAME": r["name"], "SORT": str(r["sort"]), "IS_LOCKED": "N"}
        for _, r in portal.store.select("category", "1=1", [], limit=None)
        if r["entityTypeId"] == 2 and r["id"] > 0
    ]
    return Answer(rows, total=len(rows))


@method("crm.status.list")
def status_list(portal, caller, params):
    where, args = compile_filter(params.get("filter"), id_field="ID")
    order = compile_order(
        params.get("order"),
        id_field="ID",
        default="CAST(json_extract(data, '$.SORT') AS INTEGER), id",
    )
    rows = [row for _, row in portal.store.select("status", where, args, order=order, limit=None)]
    return Answer(rows, total=len(rows))


def _userfield_handlers(entity_key: str, uf_entity: str) -> None:
    def do_list(portal, caller, params):
        flt = dict(params.get("filter") or {})
        lang = flt.pop("LANG", None)
        flt["ENTITY_ID"] = uf_entity
        where, args = compile_filter(flt, id_field="ID")
        rows = []
        for _, row in portal.store.select("userfield", where, args, limit=None):
            row = dict(row)
            if lang:
                for key in ("EDIT_FORM_LABEL", "LIST_COLUMN_LABEL"):
                    row[key] = (row.get(key) or {}).get(lang, "")
            rows.append(row)
        return Answer(rows, total=len(rows))

    def do_add(portal, caller, params):
        if not portal.is_admin(caller.user_id):
            raise p.access_denied("Access denied.")
        fields = params.get("fields") or params.get("FIELDS") or {}
        name = str(fields.get("FIELD_NAME", "")).upper()
        if not name:
            raise p.RestError(400, "", "FIELD_NAME is required")
        full = name if name.startswith("UF_CRM_") else f"UF_CRM_{name}"
        existing = portal.store.select(
            "userfield",
            "json_extract(data, '$.ENTITY_ID') = ? AND json_extract(data, '$.FIELD_NAME') = ?",
            [uf_entity, full],
            limit=1,
        )
        if existing:
            raise p.RestError(400, "ERROR_CORE", f"Field {full} already exists")
        uf_id = portal.store.next_id("userfield")
        items = []
        for index, item in enumerate(fields.get("LIST") or []):
            items.append(
                {
                    "ID": str(portal.store.next_id("enum")),
                    "SORT": str(item.get("SORT", (index + 1) * 10)),
                    "VALUE": item.get("VALUE", ""),
                    "DEF": item.get("DEF", "N"),
                    "XML_ID": item.get("XML_ID", ""),
                }
            )
        label = fields.get("EDIT_FORM_LABEL") or full
        label = label if isinstance(label, dict) else {"ru": label, "en": label}
        record = {
            "ID": str(uf_id),
            "ENTITY_ID": uf_entity,
            "FIELD_NAME": full,
            "USER_TYPE_ID": fields.get("USER_TYPE_ID", "string"),
            "XML_ID": fields.get("XML_ID", full),
            "SORT": str(fields.get("SORT", 100)),
            "MULTIPLE": fields.get("MULTIPLE", "N"),
            "MANDATORY": fields.get("MANDATORY", "N"),
            "SHOW_FILTER": fields.get("SHOW_FILTER", "N"),
            "SHOW_IN_LIST": fields.get("SHOW_IN_LIST", "Y"),
            "EDIT_IN_LIST": fields.get("EDIT_IN_LIST", "Y"),
            "IS_SEARCHABLE": "N",
            "SETTINGS": fields.get("SETTINGS") or {},
            "EDIT_FORM_LABEL": label,
            "LIST_COLUMN_LABEL": fields.get("LIST_COLUMN_LABEL") or label,
        }
        if record["USER_TYPE_ID"] == "enumeration":
            record["LIST"] = items
        portal.store.put("userfield", uf_id, record)
        return Answer(uf_id)

    method(f"crm.{entity_key}.userfield.list")(do_list)
    method(f"crm.{entity_key}.userfield.add")(do_add)


for _key, _entity in LEGACY.items():
    _userfield_handlers(_key, _entity.uf_entity)


@method("crm.product.list")
def product_list(portal, caller, params):
    fake = Entity(
        "product",
        0,
        {
            "ID": "integer",
            "NAME": "string",
            "SECTION_ID": "integer",
            "PRICE": "double",
            "CURRENCY_ID": "string",
        },
        "ID",
        "ID",
        "ID",
        ("", "", ""),
    )
    return _list(portal, Caller(1, ALL_SCOPES, "internal"), fake, params, id_field="ID")


@method("crm.deal.productrows.get")
def productrows_get(portal, caller, params):
    deal_id = _int(params.get("id", params.get("ID")))
    from sandbox.portal.entities import DEAL

    _get_record(portal, caller, DEAL, deal_id)
    rows = portal.store.select(
        "productrow", "json_extract(data, '$.OWNER_ID') = ?", [str(deal_id)], limit=None
    )
    return Answer([row for _, row in rows])


@method("crm.deal.productrows.set")
def productrows_set(portal, caller, params):
    from sandbox.portal.entities import DEAL

    deal_id = _int(params.get("id", params.get("ID")))
    deal = _get_record(portal, caller, DEAL, deal_id)
    for row_id, _ in portal.store.select(
        "productrow", "json_extract(data, '$.OWNER_ID') = ?", [str(deal_id)], limit=None
    ):
        portal.store.delete("productrow", row_id)
    total = 0.0
    for row in params.get("rows") or []:
        row_id = portal.store.next_id("productrow")
        price = float(row.get("PRICE", 0) or 0)
        quantity = float(row.get("QUANTITY", 1) or 1)
        total += price * quantity
        portal.store.put(
            "productrow",
            row_id,
            {
                "ID": str(row_id),
                "OWNER_TYPE": "D",
                "OWNER_ID": str(deal_id),
                "PRODUCT_ID": str(row.get("PRODUCT_ID", 0)),
                "PRODUCT_NAME": row.get("PRODUCT_NAME", ""),
                "PRICE": f"{price:.2f}",
                "QUANTITY": f"{quantity:g}",
            },
        )
    deal["OPPORTUNITY"] = f"{total:.2f}"
    deal["DATE_MODIFY"] = portal.now_iso()
    portal.store.put("deal", deal_id, deal)
    portal.emit(DEAL.events[1], {"FIELDS": {"ID": deal_id}}, user_id=caller.user_id)
    return Answer(True)


# --- timeline -------------------------------------------------------------------------------


COMMENT = Entity(
    "comment",
    0,
    {
        "ID": "integer",
        "ENTITY_ID": "integer",
        "ENTITY_TYPE": "string",
        "COMMENT": "string",
        "CREATED": "datetime",
        "AUTHOR_ID": "user",
        "FILES": "object",
    },
    "AUTHOR_ID",
    "CREATED",
    "CREATED",
    ("ONCRMTIMELINECOMMENTADD", "ONCRMTIMELINECOMMENTUPDATE", "ONCRMTIMELINECOMMENTDELETE"),
)
# Records a comment may sit on (ENTITY_TYPE), and their entity type ids (ownerTypeId).
COMMENT_OWNERS = {"lead": 1, "deal": 2, "contact": 3, "company": 4}


def _comment_out(record: dict) -> dict:
    return {**record, "FILES": record.get("FILES") or {}}


def _comment_found(portal, caller, params) -> dict:
    """The comment `id` names, for get/update/delete: "ID is not defined or invalid." without
    one, "Not found." when there is none (the portal's legacy CRM error shapes)."""
    raw = params.get("id", params.get("ID"))
    try:
        comment_id = int(raw)
    except (TypeError, ValueError):
        comment_id = 0
    if comment_id <= 0:
        raise p.crm_error("ID is not defined or invalid.")
    record = portal.store.get("comment", comment_id)
    if record is None:
        raise p.crm_error("Not found.")
    return record


def _comment_author_only(portal, caller, record: dict) -> None:
    """Only a comment's author (or an administrator) may change or delete it."""
    if not portal.is_admin(caller.user_id) and str(record.get("AUTHOR_ID")) != str(caller.user_id):
        raise p.crm_error("Access denied.", 403)


@method("crm.timeline.comment.add")
def comment_add(portal, caller, params):
    fields = params.get("fields")
    if not isinstance(fields, dict):
        raise p.RestError(400, "", "Parameter 'fields' must be array.")
    for required in ("ENTITY_ID", "ENTITY_TYPE", "COMMENT"):
        if not fields.get(required):
            raise p.RestError(400, "", f"The field '{required}' is required.")
    created = portal.now_iso()
    if portal.backdating and fields.get("CREATED"):
        created = portal_time(str(fields["CREATED"]))
    comment_id = portal.store.next_id("comment")
    portal.store.put(
        "comment",
        comment_id,
        {
            "ID": str(comment_id),
            "ENTITY_ID": str(fields["ENTITY_ID"]),
            "ENTITY_TYPE": str(fields["ENTITY_TYPE"]).lower(),
            "COMMENT": str(fields["COMMENT"]),
            "CREATED": created,
            "AUTHOR_ID": str(fields.get("AUTHOR_ID") or caller.user_id),
        },
    )
    portal.emit(COMMENT.events[0], {"ID": comment_id}, user_id=caller.user_id)
    return Answer(comment_id)


@method("crm.timeline.comment.get")
def comment_get(portal, caller, params):
    return Answer(_comment_out(_comment_found(portal, caller, params)))


@method("crm.timeline.comment.update")
def comment_update(portal, caller, params):
    record = _comment_found(portal, caller, params)
    _comment_author_only(portal, caller, record)
    fields = params.get("fields")
    if not isinstance(fields, dict) or not fields.get("COMMENT"):
        raise p.RestError(400, "", "The field 'COMMENT' is required.")
    record["COMMENT"] = str(fields["COMMENT"])
    portal.store.put("comment", int(record["ID"]), record)
    portal.emit(COMMENT.events[1], {"ID": int(record["ID"])}, user_id=caller.user_id)
    return Answer(int(record["ID"]))


@method("crm.timeline.comment.delete")
def comment_delete(portal, caller, params):
    record = _comment_found(portal, caller, params)
    _comment_author_only(portal, caller, record)
    portal.store.delete("comment", int(record["ID"]))
    portal.emit(COMMENT.events[2], {"ID": int(record["ID"])}, user_id=caller.user_id)
    return Answer(True)


@method("crm.timeline.comment.list")
def comment_list(portal, caller, params):
    """The comments of one record: the filter must name ENTITY_ID and ENTITY_TYPE (there is no
    list across records), 50 to a page."""
    params = dict(params)
    flt = dict(params.get("filter") or params.get("FILTER") or {})
    entity_id = flt.get("ENTITY_ID")
    entity_type = str(flt.get("ENTITY_TYPE") or "").lower()
    if not str(entity_id or "").isdigit() or int(entity_id) <= 0:
        raise p.crm_error("ENTITY_ID is not defined or invalid.")
    if entity_type not in COMMENT_OWNERS:
        raise p.crm_error("ENTITY_TYPE is not defined or invalid.")
    flt["ENTITY_TYPE"] = entity_type
    params["filter"] = flt
    params.pop("FILTER", None)
    answer = _list(portal, Caller(1, ALL_SCOPES, "internal"), COMMENT, params, id_field="ID")
    if isinstance(answer.result, list):
        answer.result = [
            {**row, "FILES": row.get("FILES") or {}} if "FILES" in row else row
            for row in answer.result
        ]
    return answer


# --- tasks ----------------------------------------------------------------------------------


def _task_out(record: dict) -> dict:
    return {TASK_CAMEL.get(key, key): value for key, value in record.items()}


@method("tasks.task.list")
def task_list(portal, caller, params):
    select = params.get("select") or ["ID", "TITLE", "STATUS", "RESPONSIBLE_ID", "DEADLINE"]
    answer = _list(
        portal,
        caller,
        TASK,
        {**params, "select": select},
        id_field="ID",
        transform=_task_out,
        wrap="tasks",
    )
    return answer


@method("tasks.task.get")
def task_get(portal, caller, params):
    record = portal.store.get("task", _int(params.get("taskId"), "taskId"))
    if record is None:
        raise p.RestError(400, "ERROR_CORE", "Task not found or not accessible")
    return Answer({"task": _task_out(record)})


@method("tasks.task.add")
def task_add(portal, caller, params):
    fields = params.get("fields") or {}
    if not fields.get("TITLE"):
        raise p.RestError(400, "ERROR_CORE", "Task title is not specified")
    if not fields.get("RESPONSIBLE_ID"):
        raise p.RestError(400, "ERROR_CORE", "Responsible person is not specified")
    task_id = portal.store.next_id("task")
    record = {
        "ID": str(task_id),
        "STATUS": "2",
        "PRIORITY": "1",
        "CREATED_BY": str(caller.user_id),
        "DESCRIPTION": "",
        "DEADLINE": None,
        "CLOSED_DATE": None,
        "UF_CRM_TASK": [],
    }
    record.update({k: _legacy_value(v) for k, v in _writable(portal, TASK, fields).items()})
    if isinstance(record.get("UF_CRM_TASK"), str):
        record["UF_CRM_TASK"] = [record["UF_CRM_TASK"]]
    _stamp(portal, TASK, record, fields, creating=True)
    portal.store.put("task", task_id, record)
    portal.emit(
        "ONTASKADD",
        {"FIELDS_BEFORE": "undefined", "FIELDS_AFTER": {"ID": task_id}},
        user_id=caller.user_id,
    )
    return Answer({"task": _task_out(record)})


@method("tasks.task.update")
def task_update(portal, caller, params):
    task_id = _int(params.get("taskId"), "taskId")
    record = portal.store.get("task", task_id)
    if record is None:
        raise p.RestError(400, "ERROR_CORE", "Task not found or not accessible")
    fields = params.get("fields") or {}
    record.update({k: _legacy_value(v) for k, v in _writable(portal, TASK, fields).items()})
    if record.get("STATUS") == "5" and not record.get("CLOSED_DATE"):
        record["CLOSED_DATE"] = portal.now_iso()
    _stamp(portal, TASK, record, fields, creating=False)
    portal.store.put("task", task_id, record)
    portal.emit(
        "ONTASKUPDATE",
        {"FIELDS_BEFORE": {"ID": task_id}, "FIELDS_AFTER": {"ID": task_id}},
        user_id=caller.user_id,
    )
    return Answer({"task": _task_out(record)})


@method("tasks.task.delete")
def task_delete(portal, caller, params):
    task_id = _int(params.get("taskId"), "taskId")
    if not portal.store.delete("task", task_id):
        raise p.RestError(400, "ERROR_CORE", "Task not found or not accessible")
    portal.emit(
        "ONTASKDELETE",
        {"FIELDS_BEFORE": {"ID": task_id}, "FIELDS_AFTER": "undefined"},
        user_id=caller.user_id,
    )
    return Answer({"task": True})


# --- notifications --------------------------------------------------------------------------


@method("im.notify.system.add", "im.notify.personal.add")
def notify_add(portal, caller, params):
    user_id = params.get("USER_ID") or params.get("to")
    message = params.get("MESSAGE") or params.get("message")
    if not user_id:
        raise p.RestError(400, "USER_ID_EMPTY", "Recipient not specified")
    if not message:
        raise p.RestError(400, "MESSAGE_EMPTY", "Message text is empty")
    tag = str(params.get("TAG", "") or "")
    key = f"tag:{tag}" if tag else f"n:{portal.store.next_id('notification')}"
    existing = portal.store.obj("notification", key)
    notification_id = existing["id"] if existing else portal.store.next_id("notification_id")
    portal.store.put_obj(
        "notification",
        key,
        {
            "id": notification_id,
            "user_id": int(user_id),
            "message": str(message),
            "tag": tag,
            "at": portal.now_iso(),
            "from": caller.user_id,
            "replaced": bool(existing),
        },
    )
    return Answer(notification_id)


# --- the activity stream (news feed) -------------------------------------------------------

BLOGPOST_PAGE = 20  # log.blogpost.get answers in pages of this many, newest first


def _rights(value) -> list[str]:
    """DEST / LOG_RIGHTS as a list: a JSON array, a form's DEST[0]=…, or one string."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, str):
        value = [value]
    return [str(item).strip().upper() for item in value or [] if str(item).strip()]


@method("log.blogpost.add")
def blogpost_add(portal, caller, params):
    message = params.get("POST_MESSAGE")
    if not isinstance(message, str) or not message.strip():
        raise p.RestError(400, "", "Post message is empty.")
    dest = _rights(params.get("DEST") or params.get("SPERM")) or ["UA"]
    for right in dest:
        if (
            right != "UA"
            and not (right[:1] == "U" and right[1:].isdigit())
            and not (right[:2] in {"SG", "DR"} and right[2:].isdigit())
        ):
            raise p.RestError(400, "", f"Wrong destination: {right}.")
    post_id = portal.store.next_id("blogpost")
    portal.store.put(
        "blogpost",
        post_id,
        {
            "ID": str(post_id),
            "AUTHOR_ID": str(caller.user_id),
            "TITLE": str(params.get("POST_TITLE") or ""),
            "DETAIL_TEXT": message,
            "DEST": dest,
            "DATE_PUBLISH": portal.now_iso(),
            "PUBLISH_STATUS": "P",
            "MICRO": "N" if params.get("POST_TITLE") else "Y",
        },
    )
    return Answer(post_id)


@method("log.blogpost.get")
def blogpost_get(portal, caller, params):
    """Posts the caller may read (author or addressee), optionally those with given rights."""
    wanted = set(_rights(params.get("LOG_RIGHTS")))
    post_id = params.get("POST_ID")
    me = f"U{caller.user_id}"
    rows = []
    for _, post in portal.store.select("blogpost", "1=1", [], order="id DESC", limit=None):
        rights = set(post.get("DEST") or [])
        if post.get("AUTHOR_ID") != str(caller.user_id) and not ({me, "UA"} & rights):
            continue
        if wanted and not wanted & rights:
            continue
        if post_id and str(post_id) != post["ID"]:
            continue
        rows.append({key: value for key, value in post.items() if key != "DEST"})
    start = max(_start(params), 0)
    page = rows[start : start + BLOGPOST_PAGE]
    more = start + BLOGPOST_PAGE < len(rows)
    return Answer(
        page,
        total=len(rows),
        next=start + BLOGPOST_PAGE if more else None,
        rows=len(page),
        start=start,
    )


# --- users and departments ------------------------------------------------------------------


@method("user.get")
def user_get(portal, caller, params):
    flt = dict(params.get("FILTER") or params.get("filter") or {})
    for key in ("ID", "ACTIVE", "UF_DEPARTMENT", "USER_TYPE", "NAME", "LAST_NAME"):
        if key in params:
            flt[key] = params[key]
    if "ACTIVE" in flt:
        flt["ACTIVE"] = 1 if str(flt["ACTIVE"]).upper() in ("Y", "TRUE", "1") else 0
    where, args = compile_filter(flt, id_field="ID")
    sort = params.get("sort") or params.get("SORT") or "ID"
    direction = params.get("order") or params.get("ORDER") or "ASC"
    order = compile_order({str(sort): str(direction)}, id_field="ID")
    start = max(_start(params), 0)
    rows = portal.store.select("user", where, args, order=order, limit=PAGE + 1, offset=start)
    total = portal.store.count("user", where, args)
    brief = "user" not in caller.scopes and "user_basic" not in caller.scopes
    items = []
    for _, row in rows[:PAGE]:
        item = {k: v for k, v in row.items() if k != "ROLE"}
        if brief:
            item.pop("EMAIL", None)
        items.append(item)
    return Answer(
        items, total=total, next=start + PAGE if len(rows) > PAGE else None, rows=len(items)
    )


@method("profile")
def profile(portal, caller, params):
    """Needs no scope: who the token's user is and whether they administer the portal."""
    user = portal.user(caller.user_id) or {}
    return Answer(
        {
            "ID": str(caller.user_id),
            "ADMIN": portal.is_admin(caller.user_id),
            "NAME": user.get("NAME"),
            "LAST_NAME": user.get("LAST_NAME"),
            "PERSONAL_GENDER": user.get("PERSONAL_GENDER") or "",
            "PERSONAL_PHOTO": None,
            "TIME_ZONE": None,
            "TIME_ZONE_OFFSET": 10800,
        }
    )


_USER_WRITABLE = ("ACTIVE", "NAME", "LAST_NAME", "SECOND_NAME", "EMAIL", "WORK_POSITION")


@method("user.update")
def user_update(portal, caller, params):
    """An administrator edits an employee; `ACTIVE: "N"` dismisses one (the docs' own example:
    `user.update {"ID": 6, "ACTIVE": "N"}`). Fields come flat, next to ID, as in user.add."""
    if not portal.is_admin(caller.user_id):
        raise p.access_denied("Access denied! Admin permissions required")
    user_id = _int(params.get("ID", params.get("id")), "ID")
    with portal.store.write_lock:
        user = portal.user(user_id)
        if user is None:
            raise p.not_found(f"User with ID {user_id} not found")
        for key in _USER_WRITABLE:
            if key in params:
                user[key] = params[key]
        if "ACTIVE" in params:
            user["ACTIVE"] = str(params["ACTIVE"]).upper() in ("Y", "TRUE", "1")
        if "UF_DEPARTMENT" in params:
            departments = params["UF_DEPARTMENT"]
            departments = departments if isinstance(departments, list) else [departments]
            user["UF_DEPARTMENT"] = [_int(d, "UF_DEPARTMENT") for d in departments]
        portal.store.put("user", user_id, user)
    return Answer(True)


@method("user.current")
def user_current(portal, caller, params):
    user = portal.user(caller.user_id) or {}
    return Answer(
        {
            "ID": str(caller.user_id),
            "ADMIN": portal.is_admin(caller.user_id),
            "NAME": user.get("NAME"),
            "LAST_NAME": user.get("LAST_NAME"),
            "TIME_ZONE": "Europe/Moscow",
        }
    )


@method("department.get")
def department_get(portal, caller, params):
    flt = {key: params[key] for key in ("ID", "NAME", "PARENT", "UF_HEAD") if key in params}
    where, args = compile_filter(flt, id_field="ID")
    start = max(_start(params), 0)
    rows = portal.store.select("department", where, args, limit=PAGE + 1, offset=start)
    total = portal.store.count("department", where, args)
    items = [{k: v for k, v in row.items() if v is not None} for _, row in rows[:PAGE]]
    return Answer(
        items, total=total, next=start + PAGE if len(rows) > PAGE else None, rows=len(items)
    )


# --- application, scopes, events, placements ------------------------------------------------


@method("app.info")
def app_info(portal, caller, params):
    if caller.is_webhook:
        raise p.RestError(403, "ACCESS_DENIED", "Application context required")
    app = portal.store.obj("app", caller.client_id) or {}
    installed = bool(app.get("finished"))
    return Answer(
        {
            "ID": 1,
            "CODE": caller.client_id,
            "VERSION": 1,
            "STATUS": "L",
            "INSTALLED": installed,
            "PAYMENT_EXPIRED": "N",
            "DAYS": None,
            "LANGUAGE_ID": "ru",
            "LICENSE": "ru_project",
            "client_id": caller.client_id,
            "scope": app.get("scope", []),
            "user_id": caller.user_id,
            "install": {
                "installed": installed,
                "version": 1,
                "status": "L",
                "scope": ",".join(app.get("scope", [])),
                "domain": portal.domain,
                "uri": portal.base_url,
                "client_endpoint": f"{portal.base_url}/rest/",
                "member_id": portal.member_id,
                "member_type": "PORTAL",
            },
        }
    )


@method("scope")
def scope_method(portal, caller, params):
    if str(params.get("full", "")).lower() in ("true", "1", "y"):
        return Answer(ALL_SCOPES)
    return Answer(caller.scopes)


@method("methods")
def methods_list(portal, caller, params):
    return Answer(sorted(name for name in METHODS if caller.allows(name)))


@method("method.get")
def method_get(portal, caller, params):
    name = str(params.get("name", "")).lower()
    exists = name in METHODS or name == "batch"
    return Answer({"isExisting": exists, "isAvailable": exists and caller.allows(name)})


def _app_only(caller: Caller) -> None:
    if caller.is_webhook:
        raise p.RestError(
            403, "WRONG_AUTH_TYPE", "Current authorization type is denied for this method"
        )


@method("events")
def events_list(portal, caller, params):
    names = sorted(
        {e for entity in (*LEGACY.values(), ACTIVITY, INVOICE, TASK) for e in entity.events}
        | {"ONAPPUNINSTALL", "ONAPPUPDATE", *COMMENT.events}
    )
    return Answer(names)


@method("event.bind")
def event_bind(portal, caller, params):
    _app_only(caller)
    event = str(params.get("event", "")).upper()
    handler = str(params.get("handler", ""))
    if not event or not handler.startswith(("http://", "https://")):
        raise p.RestError(
            400,
            "ERROR_EVENT_NOT_FOUND" if not event else "WRONG_HANDLER_URL",
            "Wrong event or handler",
        )
    key = f"{caller.client_id}|{event}|{handler}"
    if portal.store.obj("binding", key):
        raise p.RestError(400, "ERROR_EVENT_ALREADY_BINDED", "Handler already binded")
    portal.store.put_obj(
        "binding",
        key,
        {
            "id": portal.store.next_id("binding"),
            "event": event,
            "handler": handler,
            "client_id": caller.client_id,
        },
    )
    return Answer(True)


@method("event.get")
def event_get(portal, caller, params):
    _app_only(caller)
    rows = [
        {"event": b["event"], "handler": b["handler"], "auth_type": "0", "offline": 0}
        for _, b in portal.store.objs("binding")
        if b["client_id"] == caller.client_id
    ]
    return Answer(rows)


@method("event.unbind")
def event_unbind(portal, caller, params):
    _app_only(caller)
    event = str(params.get("event", "")).upper()
    handler = str(params.get("handler", ""))
    count = 0
    for key, binding in portal.store.objs("binding"):
        if (
            binding["client_id"] == caller.client_id
            and binding["event"] == event
            and (not handler or binding["handler"] == handler)
        ):
            portal.store.del_obj("binding", key)
            count += 1
    return Answer({"count": count})


PLACEMENTS = (
    "CRM_CONTACT_DETAIL_TAB",
    "CRM_COMPANY_DETAIL_TAB",
    "CRM_DEAL_DETAIL_TAB",
    "CRM_LEAD_DETAIL_TAB",
    "CRM_CONTACT_LIST_MENU",
    "CRM_COMPANY_LIST_MENU",
    "LEFT_MENU",
    "REST_APP_URI",
)


@method("placement.bind")
def placement_bind(portal, caller, params):
    _app_only(caller)
    if not portal.is_admin(caller.user_id):
        raise p.access_denied("Access denied! Admin permissions required")
    placement = str(params.get("PLACEMENT", "")).upper()
    handler = str(params.get("HANDLER", ""))
    if placement not in PLACEMENTS:
        raise p.RestError(400, "ERROR_PLACEMENT_NOT_FOUND", "Placement not found")
    if not handler.startswith(("http://", "https://")):
        raise p.RestError(400, "ERROR_WRONG_HANDLER_URL", "Wrong handler URL")
    portal.store.put_obj(
        "placement",
        f"{caller.client_id}|{placement}|{handler}",
        {
            "placement": placement,
            "handler": handler,
            "title": params.get("TITLE", ""),
            "client_id": caller.client_id,
        },
    )
    return Answer(True)


@method("placement.get")
def placement_get(portal, caller, params):
    _app_only(caller)
    rows = [
        {
            "placement": r["placement"],
            "handler": r["handler"],
            "title": r["title"],
            "description": "",
        }
        for _, r in portal.store.objs("placement")
        if r["client_id"] == caller.client_id
    ]
    return Answer(rows)


@method("placement.list")
def placement_list(portal, caller, params):
    return Answer(list(PLACEMENTS))


@method("placement.unbind")
def placement_unbind(portal, caller, params):
    _app_only(caller)
    placement = str(params.get("PLACEMENT", "")).upper()
    count = 0
    for key, row in portal.store.objs("placement"):
        if row["client_id"] == caller.client_id and row["placement"] == placement:
            portal.store.del_obj("placement", key)
            count += 1
    return Answer({"count": count})


def known(method_name: str) -> bool:
    return method_name.lower() in METHODS


def scope_of(method_name: str) -> str:
    return method_scope(method_name)
