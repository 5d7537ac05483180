"""A deterministic, realistic CRM for the sandbox portal (no real people: names are made up).

Shape (seed 001–003): managers in departments with heads, a few old-timers holding a large share
of the clients, dormant clients, yearly renewals, cross-sells across product lines, overdue
invoices, planned future calls, dismissed managers and a pool manager ("Развитие").
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sandbox.portal.query import PORTAL_TZ
from sandbox.portal.store import Store

FIRST = [
    "Алексей",
    "Мария",
    "Иван",
    "Ольга",
    "Дмитрий",
    "Елена",
    "Сергей",
    "Анна",
    "Павел",
    "Наталья",
    "Андрей",
    "Татьяна",
    "Михаил",
    "Ирина",
    "Николай",
    "Светлана",
    "Олег",
    "Юлия",
    "Виктор",
    "Ксения",
]
LAST = [
    "Смирнов",
    "Кузнецов",
    "Попов",
    "Васильев",
    "Петров",
    "Соколов",
    "Михайлов",
    "Новиков",
    "Фёдоров",
    "Морозов",
    "Волков",
    "Алексеев",
    "Лебедев",
    "Семёнов",
    "Егоров",
    "Павлов",
    "Козлов",
    "Степанов",
    "Николаев",
    "Орлов",
]
COMPANY_WORDS = [
    "Альфа",
    "Вектор",
    "Север",
    "Горизонт",
    "Ресурс",
    "Техно",
    "Строй",
    "Агро",
    "Логистик",
    "Медиа",
    "Энерго",
    "Трейд",
    "Сервис",
    "Мир",
    "Профи",
]
COMPANY_FORMS = ["ООО", "АО", "ИП", "ООО ТД"]
BRANCHES = ["Москва", "Санкт-Петербург", "Казань", "Новосибирск"]
CHANNELS = ["Входящий звонок", "Сайт", "Рекомендация", "Выставка"]
PRODUCT_LINES = ["Ипотека", "КАСКО", "ОСАГО", "Здоровье", "Имущество"]
REGISTRY_TYPES = ["Новый бизнес", "Пролонгация", "Кросс-продажа"]

SCALES = {"small": 300, "demo": 5000, "large": 100_000}


@dataclass(frozen=True)
class Shape:
    clients: int
    managers: int
    departments: int
    activities_per_client: float
    deals_per_client: float

    @classmethod
    def for_clients(cls, clients: int) -> Shape:
        if clients <= 500:
            return cls(clients, 10, 2, 7.0, 0.8)
        if clients <= 10_000:
            return cls(clients, 25, 4, 12.0, 1.2)
        return cls(clients, 120, 8, 10.0, 1.0)


def _fmt(moment: datetime) -> str:
    return moment.astimezone(PORTAL_TZ).replace(microsecond=0).isoformat()


def _date(moment: datetime) -> str:
    return moment.astimezone(PORTAL_TZ).strftime("%Y-%m-%d")


def generate(store: Store, *, clients: int, seed: int, now: datetime) -> dict[str, int]:
    """Fill an empty store; returns how many records of each kind were made."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    shape = Shape.for_clients(clients)
    counts: dict[str, int] = {}

    # --- people ---------------------------------------------------------------------------
    departments = [
        (1, {"ID": "1", "NAME": "Компания", "SORT": 100, "PARENT": None, "UF_HEAD": "1"})
    ]
    users = [(1, _user(1, "Админ", "Портала", [1], True, now, rng))]
    manager_ids: list[int] = []
    next_user = 2
    for d in range(shape.departments):
        department_id = d + 2
        head = next_user
        next_user += 1
        departments.append(
            (
                department_id,
                {
                    "ID": str(department_id),
                    "NAME": f"Отдел продаж {d + 1}",
                    "SORT": 500 + d,
                    "PARENT": "1",
                    "UF_HEAD": str(head),
                },
            )
        )
        users.append(
            (
                head,
                _user(head, rng.choice(FIRST), rng.choice(LAST), [department_id], True, now, rng),
            )
        )
        for _ in range(max(1, (shape.managers - shape.departments) // shape.departments)):
            uid = next_user
            next_user += 1
            active = rng.random() > 0.08  # some were dismissed
            users.append(
                (
                    uid,
                    _user(
                        uid, rng.choice(FIRST), rng.choice(LAST), [department_id], active, now, rng
                    ),
                )
            )
            if active:
                manager_ids.append(uid)
    pool = next_user
    users.append((pool, _user(pool, "Развитие", "(пул)", [2], True, now, rng)))
    store.bulk_put("department", departments)
    store.bulk_put("user", users)
    store.set_meta("pool_user_id", pool)
    counts["user"], counts["department"] = len(users), len(departments)

    # Old-timers: the first few managers hold a large share of the portfolio (seed 001).
    weights = [8.0 if index < 3 else 1.0 for index in range(len(manager_ids))]

    def owner() -> int:
        return rng.choices(manager_ids, weights)[0]

    # --- directories --------------------------------------------------------------------
    _directories(store)

    # --- companies and contacts ---------------------------------------------------------
    company_count = clients * 2 // 5
    contact_count = clients - company_count
    companies, contacts = [], []
    client_owner: dict[tuple[int, int], int] = {}
    for cid in range(1, company_count + 1):
        created = now - timedelta(days=rng.randint(30, 900))
        modified = created + timedelta(days=rng.randint(0, max(1, (now - created).days)))
        o = owner()
        client_owner[(4, cid)] = o
        companies.append(
            (
                cid,
                {
                    "ID": str(cid),
                    "TITLE": (
                        f"{rng.choice(COMPANY_FORMS)} «{rng.choice(COMPANY_WORDS)}"
                        f"{rng.choice(COMPANY_WORDS).lower()}-{cid}»"
                    ),
                    "COMPANY_TYPE": rng.choice(["CUSTOMER", "PARTNER", "CUSTOMER"]),
                    "INDUSTRY": rng.choice(["IT", "MANUFACTURING", "OTHER"]),
                    "IS_MY_COMPANY": "N",
                    "ASSIGNED_BY_ID": str(o),
                    "CREATED_BY_ID": "1",
                    "MODIFY_BY_ID": str(o),
                    "DATE_CREATE": _fmt(created),
                    "DATE_MODIFY": _fmt(min(modified, now)),
                    "OPENED": "Y" if rng.random() < 0.2 else "N",
                    "CURRENCY_ID": "RUB",
                    "UF_CRM_BRANCH": str(1 + rng.randrange(4)),
                    "UF_CRM_CHANNEL": str(11 + rng.randrange(4)),
                    "PHONE": [
                        {
                            "ID": str(cid),
                            "VALUE_TYPE": "WORK",
                            "VALUE": f"+7 900 {cid:07d}",
                            "TYPE_ID": "PHONE",
                        }
                    ],
                },
            )
        )
    for pid in range(1, contact_count + 1):
        created = now - timedelta(days=rng.randint(10, 900))
        company = rng.randint(1, company_count) if company_count and rng.random() < 0.5 else None
        o = client_owner.get((4, company)) if company and rng.random() < 0.8 else owner()
        client_owner[(3, pid)] = o
        contacts.append(
            (
                pid,
                {
                    "ID": str(pid),
                    "NAME": rng.choice(FIRST),
                    "LAST_NAME": rng.choice(LAST),
                    "SECOND_NAME": "",
                    "COMPANY_ID": str(company) if company else None,
                    "TYPE_ID": "CLIENT",
                    "SOURCE_ID": rng.choice(["CALL", "WEB", "PARTNER"]),
                    "ASSIGNED_BY_ID": str(o),
                    "CREATED_BY_ID": "1",
                    "MODIFY_BY_ID": str(o),
                    "DATE_CREATE": _fmt(created),
                    "DATE_MODIFY": _fmt(
                        created + timedelta(days=rng.randint(0, max(1, (now - created).days)))
                    ),
                    "OPENED": "N",
                    "HAS_PHONE": "Y",
                    "HAS_EMAIL": "Y",
                    "UF_CRM_BRANCH": str(1 + rng.randrange(4)),
                    "UF_CRM_CHANNEL": str(11 + rng.randrange(4)),
                    "PHONE": [
                        {
                            "ID": str(100000 + pid),
                            "VALUE_TYPE": "MOBILE",
                            "VALUE": f"+7 911 {pid:07d}",
                            "TYPE_ID": "PHONE",
                        }
                    ],
                    "EMAIL": [
                        {
                            "ID": str(200000 + pid),
                            "VALUE_TYPE": "WORK",
                            "VALUE": f"client{pid}@example.test",
                            "TYPE_ID": "EMAIL",
                        }
                    ],
                },
            )
        )
        if contacts[-1][1]["DATE_MODIFY"] > _fmt(now):
            contacts[-1][1]["DATE_MODIFY"] = _fmt(now)
    store.bulk_put("company", companies)
    store.bulk_put("contact", contacts)
    counts["company"], counts["contact"] = len(companies), len(contacts)

    # --- deals, product rows ------------------------------------------------------------
    products = [
        (
            i,
            {
                "ID": str(i),
                "NAME": f"Полис «{line}» {tier}",
                "SECTION_ID": str(1 + PRODUCT_LINES.index(line)),
                "PRICE": str(5000 * (1 + i % 7)),
                "CURRENCY_ID": "RUB",
            },
        )
        for i, (line, tier) in enumerate(
            ((ln, t) for ln in PRODUCT_LINES for t in ("Базовый", "Стандарт", "Премиум")), start=1
        )
    ]
    store.bulk_put("product", products)
    counts["product"] = len(products)
    deals, rows = [], []
    deal_id = 0
    row_id = 0
    dormant = set()
    all_clients = [(4, c) for c in range(1, company_count + 1)] + [
        (3, c) for c in range(1, contact_count + 1)
    ]
    for key in all_clients:
        if rng.random() < 0.25:
            dormant.add(key)
    for key in all_clients:
        n = int(rng.random() * shape.deals_per_client * 2)
        for k in range(n):
            deal_id += 1
            created = now - timedelta(days=rng.randint(5, 540))
            category = 1 if k > 0 and rng.random() < 0.4 else 0  # renewals in their own pipeline
            roll = rng.random()
            stage, semantic = (
                ("WON", "S")
                if roll < 0.45
                else ("LOSE", "F")
                if roll < 0.65
                else (rng.choice(["NEW", "PREPARATION", "EXECUTING"]), "P")
            )
            prefix = f"C{category}:" if category else ""
            company_id = key[1] if key[0] == 4 else (contacts[key[1] - 1][1]["COMPANY_ID"])
            contact_id = key[1] if key[0] == 3 else None
            close = created + timedelta(days=rng.randint(5, 60))
            amount = 0
            for _ in range(rng.randint(1, 3)):
                row_id += 1
                product = rng.choice(products)[1]
                quantity = rng.randint(1, 3)
                amount += int(product["PRICE"]) * quantity
                rows.append(
                    (
                        row_id,
                        {
                            "ID": str(row_id),
                            "OWNER_TYPE": "D",
                            "OWNER_ID": str(deal_id),
                            "PRODUCT_ID": product["ID"],
                            "PRODUCT_NAME": product["NAME"],
                            "PRICE": product["PRICE"],
                            "QUANTITY": str(quantity),
                        },
                    )
                )
            deals.append(
                (
                    deal_id,
                    {
                        "ID": str(deal_id),
                        "TITLE": f"Сделка {deal_id}",
                        "TYPE_ID": "SALE",
                        "CATEGORY_ID": str(category),
                        "STAGE_ID": prefix + stage,
                        "STAGE_SEMANTIC_ID": semantic,
                        "IS_NEW": "N",
                        "IS_RETURN_CUSTOMER": "Y" if k else "N",
                        "OPPORTUNITY": f"{amount:.2f}",
                        "CURRENCY_ID": "RUB",
                        "COMPANY_ID": str(company_id) if company_id else None,
                        "CONTACT_ID": str(contact_id) if contact_id else None,
                        "ASSIGNED_BY_ID": str(client_owner[key]),
                        "CREATED_BY_ID": "1",
                        "MODIFY_BY_ID": str(client_owner[key]),
                        "BEGINDATE": _date(created),
                        "CLOSEDATE": _date(close),
                        "OPENED": "Y",
                        "CLOSED": "Y" if semantic != "P" else "N",
                        "DATE_CREATE": _fmt(created),
                        "DATE_MODIFY": _fmt(min(close, now)),
                        "UF_CRM_REGISTRY_TYPE": str(21 + (1 if category else (2 if k else 0))),
                        "UF_CRM_PERIOD": created.strftime("%Y-%m"),
                        "UF_CRM_PRODUCT_LINE": str(31 + rng.randrange(len(PRODUCT_LINES))),
                        "UF_CRM_RENEWAL_DATE": _date(created + timedelta(days=365)),
                    },
                )
            )
    store.bulk_put("deal", deals)
    store.bulk_put("productrow", rows)
    counts["deal"], counts["productrow"] = len(deals), len(rows)

    # --- leads ---------------------------------------------------------------------------
    leads = []
    for lid in range(1, max(10, clients // 6) + 1):
        created = now - timedelta(days=rng.randint(1, 365))
        status, semantic = rng.choice(
            [("NEW", "P"), ("IN_PROCESS", "P"), ("CONVERTED", "S"), ("JUNK", "F")]
        )
        leads.append(
            (
                lid,
                {
                    "ID": str(lid),
                    "TITLE": f"Заявка {lid}",
                    "NAME": rng.choice(FIRST),
                    "LAST_NAME": rng.choice(LAST),
                    "STATUS_ID": status,
                    "STATUS_SEMANTIC_ID": semantic,
                    "OPPORTUNITY": "0.00",
                    "CURRENCY_ID": "RUB",
                    "SOURCE_ID": "WEB",
                    "ASSIGNED_BY_ID": str(owner()),
                    "CREATED_BY_ID": "1",
                    "DATE_CREATE": _fmt(created),
                    "DATE_MODIFY": _fmt(created),
                    "OPENED": "Y",
                },
            )
        )
    store.bulk_put("lead", leads)
    counts["lead"] = len(leads)

    # --- activities (chunked: large portals have a million) -------------------------------
    activity_id = 0
    chunk: list = []
    deals_of: dict[tuple[int, int], list[int]] = {}
    for did, deal in deals:
        if deal["CONTACT_ID"]:
            deals_of.setdefault((3, int(deal["CONTACT_ID"])), []).append(did)
        elif deal["COMPANY_ID"]:
            deals_of.setdefault((4, int(deal["COMPANY_ID"])), []).append(did)
    for key in all_clients:
        n = int(rng.expovariate(1 / shape.activities_per_client))
        horizon = 540
        newest = 0 if key not in dormant else rng.randint(90, 400)
        for _ in range(n):
            activity_id += 1
            when = now - timedelta(days=rng.randint(newest, horizon), minutes=rng.randint(0, 1440))
            kind = rng.random()
            owner_type, owner_id = key
            if deals_of.get(key) and rng.random() < 0.3:
                owner_type, owner_id = 2, rng.choice(deals_of[key])
            if kind < 0.5:
                type_id, provider, ptype = 2, "VOXIMPLANT_CALL", "CALL"
            elif kind < 0.8:
                type_id, provider, ptype = 4, "CRM_EMAIL", "EMAIL"
            elif kind < 0.9:
                type_id, provider, ptype = 1, "CRM_MEETING", "MEETING"
            else:
                type_id, provider, ptype = 6, "CRM_TODO", "TODO"
            record = _activity(
                activity_id,
                owner_type,
                owner_id,
                type_id,
                provider,
                ptype,
                when,
                True,
                client_owner[key],
                rng,
            )
            if owner_type == 2:  # a deal's call or e-mail is bound to the client it reached too
                record["BINDINGS"].append({"OWNER_TYPE_ID": str(key[0]), "OWNER_ID": str(key[1])})
            chunk.append((activity_id, record))
        if key not in dormant and rng.random() < 0.15:  # a planned future call
            activity_id += 1
            when = now + timedelta(days=rng.randint(1, 60))
            chunk.append(
                (
                    activity_id,
                    _activity(
                        activity_id,
                        key[0],
                        key[1],
                        2,
                        "VOXIMPLANT_CALL",
                        "CALL",
                        when,
                        False,
                        client_owner[key],
                        rng,
                    ),
                )
            )
        if len(chunk) >= 50_000:
            store.bulk_put("activity", chunk)
            chunk = []
    store.bulk_put("activity", chunk)
    counts["activity"] = activity_id

    # --- tasks, invoices ---------------------------------------------------------------------
    tasks = []
    for tid in range(1, max(20, clients // 5) + 1):
        key = rng.choice(all_clients)
        created = now - timedelta(days=rng.randint(1, 200))
        status = rng.choice([2, 3, 5, 5])
        deadline = created + timedelta(days=rng.randint(1, 40))
        prefix = "CO" if key[0] == 4 else "C"
        tasks.append(
            (
                tid,
                {
                    "ID": str(tid),
                    "TITLE": f"Позвонить клиенту {tid}",
                    "DESCRIPTION": "",
                    "STATUS": str(status),
                    "PRIORITY": "1",
                    "RESPONSIBLE_ID": str(client_owner[key]),
                    "CREATED_BY": "1",
                    "DEADLINE": _fmt(deadline),
                    "CREATED_DATE": _fmt(created),
                    "CHANGED_DATE": _fmt(min(deadline, now)),
                    "CLOSED_DATE": _fmt(min(deadline, now)) if status == 5 else None,
                    "UF_CRM_TASK": [f"{prefix}_{key[1]}"],
                },
            )
        )
    store.bulk_put("task", tasks)
    counts["task"] = len(tasks)
    invoices = []
    for iid in range(1, max(10, len(deals) // 5) + 1):
        did, deal = rng.choice(deals)
        created = now - timedelta(days=rng.randint(1, 300))
        due = created + timedelta(days=rng.choice([7, 14, 30]))
        stage = rng.choice(["DT31_1:N", "DT31_1:S", "DT31_1:P", "DT31_1:P", "DT31_1:D"])
        invoices.append(
            (
                iid,
                {
                    "id": iid,
                    "entityTypeId": 31,
                    "title": f"Счёт №{iid}",
                    "xmlId": "",
                    "categoryId": 1,
                    "stageId": stage,
                    "opportunity": float(deal["OPPORTUNITY"]),
                    "currencyId": "RUB",
                    "companyId": int(deal["COMPANY_ID"] or 0) or None,
                    "contactId": int(deal["CONTACT_ID"] or 0) or None,
                    "contactIds": [int(deal["CONTACT_ID"])] if deal["CONTACT_ID"] else [],
                    "parentId2": did,
                    "assignedById": int(deal["ASSIGNED_BY_ID"]),
                    "createdBy": 1,
                    "begindate": _fmt(created),
                    "closedate": _fmt(due),
                    "createdTime": _fmt(created),
                    "updatedTime": _fmt(created),
                    "opened": True,
                },
            )
        )
    store.bulk_put("invoice", invoices)
    counts["invoice"] = len(invoices)

    counts["comment"] = _comments(store, all_clients, client_owner, seed=seed, now=now)

    for entity, n in (
        ("comment", counts["comment"]),
        ("company", company_count),
        ("contact", contact_count),
        ("deal", deal_id),
        ("lead", len(leads)),
        ("activity", activity_id),
        ("task", len(tasks)),
        ("invoice", len(invoices)),
        ("productrow", row_id),
        ("product", len(products)),
        ("user", next_user),
        ("department", len(departments) + 1),
    ):
        store.set_counter(entity, n + 1)
    return counts


COMMENT_TEXTS = (
    "Клиент просил перезвонить после праздников, интересует продление договора.",
    "Отправили коммерческое предложение, ждём ответа до конца недели.",
    "Созвонились с бухгалтерией: оплата задерживается, обещали на следующей неделе.",
    "ок",
    ".",
)


def _comments(store: Store, clients, client_owner, *, seed: int, now: datetime) -> int:
    """Timeline comments on about one client in ten, some of them a mere "ок" or ".". A
    generator of their own, so adding them leaves every other generated record as it was."""
    rng = random.Random(seed * 7919 + 17)  # noqa: S311 - reproducible test data
    rows = []
    for entity_type_id, client_id in clients:
        if rng.random() >= 0.1:
            continue
        for _ in range(rng.randint(1, 2)):
            when = now - timedelta(days=rng.randint(1, 400), minutes=rng.randint(0, 1440))
            comment_id = len(rows) + 1
            rows.append(
                (
                    comment_id,
                    {
                        "ID": str(comment_id),
                        "ENTITY_ID": str(client_id),
                        "ENTITY_TYPE": "contact" if entity_type_id == 3 else "company",
                        "COMMENT": rng.choice(COMMENT_TEXTS),
                        "CREATED": _fmt(when),
                        "AUTHOR_ID": str(client_owner[(entity_type_id, client_id)]),
                    },
                )
            )
    store.bulk_put("comment", rows)
    return len(rows)


def _user(uid, name, last, departments, active, now, rng) -> dict:
    registered = now - timedelta(days=rng.randint(100, 2000))
    return {
        "ID": str(uid),
        "ACTIVE": active,
        "NAME": name,
        "LAST_NAME": last,
        "SECOND_NAME": "",
        "EMAIL": f"user{uid}@portal.example.test",
        "WORK_POSITION": "Менеджер",
        "UF_DEPARTMENT": departments,
        "USER_TYPE": "employee",
        "DATE_REGISTER": _fmt(registered),
        "TIME_ZONE": "Europe/Moscow",
        "IS_ONLINE": "N",
        "ROLE": "admin" if uid == 1 else "manager",
    }


def _activity(
    aid, owner_type, owner_id, type_id, provider, ptype, when, completed, responsible, rng
):
    end = when + timedelta(minutes=rng.randint(1, 30))
    return {
        "ID": str(aid),
        "OWNER_ID": str(owner_id),
        "OWNER_TYPE_ID": str(owner_type),
        "TYPE_ID": str(type_id),
        "PROVIDER_ID": provider,
        "PROVIDER_TYPE_ID": ptype,
        "SUBJECT": "Звонок клиенту" if type_id == 2 else "Письмо" if type_id == 4 else "Встреча",
        "CREATED": _fmt(when),
        "LAST_UPDATED": _fmt(end if completed else when),
        "START_TIME": _fmt(when),
        "END_TIME": _fmt(end),
        "DEADLINE": _fmt(when),
        "COMPLETED": "Y" if completed else "N",
        "STATUS": "2" if completed else "1",
        "RESPONSIBLE_ID": str(responsible),
        "PRIORITY": "2",
        "DESCRIPTION": "",
        "DIRECTION": str(rng.choice([1, 2])),
        "ORIGIN_ID": "",
        "AUTHOR_ID": str(responsible),
        "SETTINGS": {"DURATION": rng.randint(0, 900)} if type_id == 2 else {},
        "BINDINGS": [{"OWNER_TYPE_ID": str(owner_type), "OWNER_ID": str(owner_id)}],
    }


def _enum(items: list[str], first_id: int) -> list[dict]:
    return [
        {
            "ID": str(first_id + i),
            "SORT": str((i + 1) * 10),
            "VALUE": value,
            "DEF": "N",
            "XML_ID": f"X{first_id + i}",
        }
        for i, value in enumerate(items)
    ]


def _directories(store: Store) -> None:
    statuses = []
    sid = 0

    def add(entity, status_id, name, sort, semantics=None, category=None):
        nonlocal sid
        sid += 1
        statuses.append(
            (
                sid,
                {
                    "ID": str(sid),
                    "ENTITY_ID": entity,
                    "STATUS_ID": status_id,
                    "NAME": name,
                    "NAME_INIT": name,
                    "SORT": str(sort),
                    "SYSTEM": "Y",
                    "CATEGORY_ID": str(category) if category is not None else None,
                    "COLOR": "#39A8EF",
                    "SEMANTICS": semantics,
                    "EXTRA": {
                        "SEMANTICS": {"S": "success", "F": "failure"}.get(semantics, "process"),
                        "COLOR": "#39A8EF",
                    },
                },
            )
        )

    for category, prefix, entity in ((0, "", "DEAL_STAGE"), (1, "C1:", "DEAL_STAGE_1")):
        for sort, (code, name, sem) in enumerate(
            [
                ("NEW", "Новая", None),
                ("PREPARATION", "Подготовка", None),
                ("EXECUTING", "В работе", None),
                ("WON", "Успешна", "S"),
                ("LOSE", "Провалена", "F"),
            ],
            1,
        ):
            add(entity, prefix + code, name, sort * 10, sem, category)
    for sort, (code, name, sem) in enumerate(
        [
            ("NEW", "Новый", None),
            ("IN_PROCESS", "В работе", None),
            ("CONVERTED", "Качественный", "S"),
            ("JUNK", "Некачественный", "F"),
        ],
        1,
    ):
        add("STATUS", code, name, sort * 10, sem)
    for sort, (code, name, sem) in enumerate(
        [
            ("DT31_1:N", "Новый", None),
            ("DT31_1:S", "Отправлен", None),
            ("DT31_1:P", "Оплачен", "S"),
            ("DT31_1:D", "Отменён", "F"),
        ],
        1,
    ):
        add("SMART_INVOICE_STAGE_1", code, name, sort * 10, sem, 1)
    store.bulk_put("status", statuses)
    store.set_counter("status", sid + 1)
    store.bulk_put(
        "category",
        [
            (1, {"id": 0, "name": "Общая", "sort": 100, "entityTypeId": 2, "isDefault": "Y"}),
            (2, {"id": 1, "name": "Пролонгация", "sort": 200, "entityTypeId": 2, "isDefault": "N"}),
            (3, {"id": 1, "name": "Счета", "sort": 100, "entityTypeId": 31, "isDefault": "Y"}),
        ],
    )
    fields = []
    ufid = 0

    def uf(entity, name, kind, label, items=None):
        nonlocal ufid
        ufid += 1
        fields.append(
            (
                ufid,
                {
                    "ID": str(ufid),
                    "ENTITY_ID": entity,
                    "FIELD_NAME": name,
                    "USER_TYPE_ID": kind,
                    "XML_ID": name,
                    "SORT": str(ufid * 10),
                    "MULTIPLE": "N",
                    "MANDATORY": "N",
                    "SHOW_FILTER": "Y",
                    "SHOW_IN_LIST": "Y",
                    "EDIT_IN_LIST": "Y",
                    "IS_SEARCHABLE": "N",
                    "SETTINGS": {},
                    "EDIT_FORM_LABEL": {"ru": label, "en": label},
                    "LIST_COLUMN_LABEL": {"ru": label, "en": label},
                    **({"LIST": items} if items is not None else {}),
                },
            )
        )

    for entity in ("CRM_CONTACT", "CRM_COMPANY"):
        uf(entity, "UF_CRM_BRANCH", "enumeration", "Филиал", _enum(BRANCHES, 1))
        uf(entity, "UF_CRM_CHANNEL", "enumeration", "Канал", _enum(CHANNELS, 11))
    uf("CRM_DEAL", "UF_CRM_REGISTRY_TYPE", "enumeration", "Тип реестра", _enum(REGISTRY_TYPES, 21))
    uf("CRM_DEAL", "UF_CRM_PERIOD", "string", "Период")
    uf(
        "CRM_DEAL",
        "UF_CRM_PRODUCT_LINE",
        "enumeration",
        "Продуктовая линия",
        _enum(PRODUCT_LINES, 31),
    )
    uf("CRM_DEAL", "UF_CRM_RENEWAL_DATE", "date", "Дата пролонгации")
    store.bulk_put("userfield", fields)
    store.set_counter("userfield", ufid + 1)
    store.set_counter("enum", 1000)
