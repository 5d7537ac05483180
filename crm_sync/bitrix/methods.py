"""Declarations of every Bitrix24 method Keepwarm calls (see crm_sync.bitrix.registry).

Keep each list minimal: a field that is not here cannot be read or written. Client contact
details (phones, e-mails, addresses) and the text of calls and e-mails are not read; a timeline
comment's text is read only to measure its length and recognise Keepwarm's own posts, never kept.
"""

from django.utils.translation import gettext_lazy as _

from crm_sync.bitrix.registry import MethodSpec, ScopeSpec, method_declare, scope_declare

# The scopes the application asks for at install, in that order, and why. Bitrix24's scopes are
# coarse (`crm` is all-or-nothing), so each says which part of it Keepwarm actually uses; the
# methods below are the exact list.
scope_declare(
    ScopeSpec(
        name="crm",
        why=_(
            "Read the clients (contacts, companies), deals, leads, activities, timeline comments, "
            "smart invoices and products the assistants watch; change only the owner, the 'open "
            "to everyone' flag and Keepwarm's own status field; post to the client's timeline; "
            "create the status field. Bitrix24 grants this scope whole (read, add, change, "
            "delete): Keepwarm uses only the methods listed here and its client refuses any "
            "other before sending it."
        ),
    )
)
scope_declare(
    ScopeSpec(
        name="task",
        why=_(
            "Read tasks bound to CRM records, so planned work keeps a client from counting as "
            "forgotten; create reminder tasks and hand open tasks to a client's new owner."
        ),
    )
)
scope_declare(
    ScopeSpec(
        name="user_brief",
        why=_(
            "Employees' names, departments and active flag, to route tasks and hand-overs; this "
            "scope gives no e-mail, phone or other contact details."
        ),
    )
)
scope_declare(
    ScopeSpec(
        name="department",
        why=_("The company structure: who is the supervisor of each manager."),
    )
)
scope_declare(
    ScopeSpec(
        name="calendar",
        why=_(
            "Employees' absences from the absence chart (leave, sick days, business trips), so "
            "no client is handed over to or taken from a manager who is away. Only the dates of "
            "entries marked absent are kept; meetings and the names of entries are not."
        ),
    )
)
scope_declare(
    ScopeSpec(
        name="im",
        why=_("System notifications (the daily digest and warnings) to managers and supervisors."),
    )
)
scope_declare(
    ScopeSpec(
        name="log",
        why=_(
            "Only if a portal turns on the activity stream digest: one post a day to each "
            "manager, visible to that manager only, listing the clients whose status changes "
            "soon."
        ),
    )
)
scope_declare(
    ScopeSpec(
        name="placement",
        why=_("The Keepwarm tab on contact and company cards."),
    )
)
scope_declare(
    ScopeSpec(
        name="basic",
        why=_(
            "Not requested: every application has it. Batching calls and registering the event "
            "handlers."
        ),
        requested=False,
    )
)

SYNC = "crm_sync"

method_declare(
    MethodSpec(
        name="batch",
        scope="basic",
        access="read",
        purpose=_("Packs up to 50 calls into one request to stay within the rate limit."),
        feature=SYNC,
        params=("cmd", "halt"),
        field_params=(),
        classification="technical",
    )
)

method_declare(
    MethodSpec(
        name="crm.contact.list",
        scope="crm",
        access="read",
        purpose=_("Mirrors contacts: who owns each client and when it last changed."),
        feature=SYNC,
        fields=(
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
        stored_in="crm_sync_contact",
        select_required=True,
    )
)

method_declare(
    MethodSpec(
        name="crm.company.list",
        scope="crm",
        access="read",
        purpose=_("Mirrors companies: who owns each client and when it last changed."),
        feature=SYNC,
        fields=(
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
        stored_in="crm_sync_company",
        select_required=True,
    )
)

method_declare(
    MethodSpec(
        name="crm.deal.list",
        scope="crm",
        access="read",
        purpose=_("Mirrors deals: pipeline, stage, amount and dates for statuses and analytics."),
        feature=SYNC,
        fields=(
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
        stored_in="crm_sync_deal",
        classification="business",
        select_required=True,
    )
)

method_declare(
    MethodSpec(
        name="crm.activity.list",
        scope="crm",
        access="read",
        purpose=_(
            "Mirrors calls, e-mails, meetings and to-dos (type, direction, dates, owner) to know "
            "when a client was last contacted; their text is not read."
        ),
        feature=SYNC,
        fields=(
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
        stored_in="crm_sync_activity",
        classification="business",
        select_required=True,
    )
)

method_declare(
    MethodSpec(
        name="crm.activity.binding.list",
        scope="crm",
        access="read",
        purpose=_(
            "Mirrors every CRM record an activity is bound to (a deal's call also shows on the "
            "client it reached), one activity at a time, so a client's last contact counts all "
            "of them."
        ),
        feature=SYNC,
        params=("activityId",),
        fields=("entityTypeId", "entityId"),
        field_params=(),
        stored_in="crm_sync_activitybinding",
        classification="business",
    )
)

method_declare(
    MethodSpec(
        name="crm.deal.productrows.get",
        scope="crm",
        access="read",
        purpose=_(
            "Mirrors the product rows of deals (product, price, quantity), one deal at a time, "
            "for lifetime value and repeat purchases by product."
        ),
        feature=SYNC,
        params=("id",),
        fields=("ID", "PRODUCT_ID", "PRODUCT_NAME", "PRICE", "QUANTITY"),
        field_params=(),
        stored_in="crm_sync_dealproductrow",
        classification="business",
    )
)

method_declare(
    MethodSpec(
        name="crm.lead.list",
        scope="crm",
        access="read",
        purpose=_("Mirrors leads: status, owner and dates, for conversion analytics."),
        feature=SYNC,
        fields=(
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
        stored_in="crm_sync_lead",
        select_required=True,
    )
)

method_declare(
    MethodSpec(
        name="crm.item.list",
        scope="crm",
        access="read",
        purpose=_("Mirrors smart invoices (entity type 31): stage, amount, due date and payer."),
        feature=SYNC,
        params=("entityTypeId",),
        fields=(
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
        stored_in="crm_sync_smartinvoice",
        classification="business",
        select_required=True,
    )
)

method_declare(
    MethodSpec(
        name="tasks.task.list",
        scope="task",
        access="read",
        purpose=_(
            "Mirrors tasks bound to CRM records (status, deadline, responsible) so planned work "
            "keeps a client from being counted as forgotten; task text is not read."
        ),
        feature=SYNC,
        fields=(
            "ID",
            "STATUS",
            "RESPONSIBLE_ID",
            "CREATED_BY",
            "DEADLINE",
            "CREATED_DATE",
            "CHANGED_DATE",
            "CLOSED_DATE",
            "UF_CRM_TASK",
            "TITLE",
        ),
        stored_in="crm_sync_task",
        classification="business",
        select_required=True,
    )
)

method_declare(
    MethodSpec(
        name="user.get",
        scope="user_brief",
        access="read",
        purpose=_(
            "Mirrors employees' names, departments and active flag to route tasks and hand-overs; "
            "no contact details (user_brief scope)."
        ),
        feature=SYNC,
        params=("sort", "order"),
        fields=("ID", "NAME", "LAST_NAME", "ACTIVE", "UF_DEPARTMENT", "USER_TYPE"),
        field_params=("select", "filter"),
        stored_in="crm_sync_user",
        select_required=True,
    )
)

method_declare(
    MethodSpec(
        name="department.get",
        scope="department",
        access="read",
        purpose=_("Mirrors departments and their heads: the supervisor of each manager."),
        feature=SYNC,
        fields=("ID", "NAME", "PARENT", "UF_HEAD", "SORT"),
        field_params=(),
        stored_in="crm_sync_department",
        classification="business",
    )
)

method_declare(
    MethodSpec(
        name="crm.product.list",
        scope="crm",
        access="read",
        purpose=_("Mirrors product names for lifetime value by product."),
        feature=SYNC,
        fields=("ID", "NAME", "SECTION_ID"),
        stored_in="crm_sync_product",
        classification="business",
        select_required=True,
    )
)

method_declare(
    MethodSpec(
        name="crm.category.list",
        scope="crm",
        access="read",
        purpose=_("Reads the deal and invoice pipelines."),
        feature=SYNC,
        params=("entityTypeId",),
        fields=("id", "name", "sort", "isDefault"),
        field_params=(),
        stored_in="crm_sync_category",
        classification="technical",
        retention="replaced",
    )
)

method_declare(
    MethodSpec(
        name="crm.status.list",
        scope="crm",
        access="read",
        purpose=_("Reads stages and their meaning (won, lost, in progress)."),
        feature=SYNC,
        fields=("ENTITY_ID", "STATUS_ID", "NAME", "SORT", "CATEGORY_ID", "SEMANTICS", "EXTRA"),
        field_params=("filter", "order"),
        stored_in="crm_sync_stage",
        classification="technical",
        retention="replaced",
    )
)

for _entity, _table in (("contact", "Contact"), ("company", "Company"), ("deal", "Deal")):
    method_declare(
        MethodSpec(
            name=f"crm.{_entity}.userfield.list",
            scope="crm",
            access="read",
            purpose=_("Reads the portal's custom field definitions so rules can filter on them."),
            feature=SYNC,
            fields=(
                "ID",
                "FIELD_NAME",
                "USER_TYPE_ID",
                "MULTIPLE",
                "EDIT_FORM_LABEL",
                "LIST_COLUMN_LABEL",
                "LIST",
                "SORT",
                "LANG",
            ),
            field_params=("filter", "order"),
            stored_in="crm_sync_userfielddefinition",
            classification="technical",
            retention="replaced",
        )
    )

INSTALL = "install"

method_declare(
    MethodSpec(
        name="app.info",
        scope="basic",
        access="read",
        purpose=_(
            "Asks Bitrix24's OAuth server which portal and application a token belongs to, to "
            "verify install requests and application pages server-side."
        ),
        feature=INSTALL,
        fields=("client_id", "member_id", "domain", "client_endpoint", "scope", "installed"),
        field_params=(),
        stored_in="tenants_portal, tenants_portalcredentials",
        schema="public",
        retention="portal_record",
        classification="technical",
        visible_to=("portal_users", "vendor_registry"),
        logged=False,  # asked of Bitrix24's OAuth server, not of the portal's REST API
    )
)

method_declare(
    MethodSpec(
        name="profile",
        scope="basic",
        access="read",
        purpose=_(
            "Asks the portal whether the user opening Keepwarm's page is a Bitrix24 "
            "administrator: only administrators see the request logs and change settings."
        ),
        feature=INSTALL,
        fields=("ID", "ADMIN"),
        field_params=(),
        classification="technical",
        visible_to=("portal_users",),
        logged=False,  # asked with the page user's own token, outside the portal's REST log
    )
)

method_declare(
    MethodSpec(
        name="event.get",
        scope="basic",
        access="read",
        purpose=_("Lists the event handlers Keepwarm registered, so re-installs do not duplicate."),
        feature=INSTALL,
        fields=("event", "handler"),
        field_params=(),
        classification="technical",
    )
)

method_declare(
    MethodSpec(
        name="event.bind",
        scope="basic",
        access="write",
        purpose=_(
            "Registers Keepwarm's handler for CRM, timeline comment and task changes and for "
            "uninstall; the events carry only record ids."
        ),
        feature=INSTALL,
        params=("event", "handler"),
        field_params=(),
        classification="technical",
    )
)

method_declare(
    MethodSpec(
        name="placement.get",
        scope="placement",
        access="read",
        purpose=_("Lists Keepwarm's placements, so re-installs do not duplicate them."),
        feature=INSTALL,
        fields=("placement", "handler"),
        field_params=(),
        classification="technical",
    )
)

method_declare(
    MethodSpec(
        name="placement.bind",
        scope="placement",
        access="write",
        purpose=_("Adds the Keepwarm tab to contact and company cards."),
        feature=INSTALL,
        params=("PLACEMENT", "HANDLER", "TITLE", "LANG_ALL"),
        field_params=(),
        classification="technical",
    )
)

for _entity in ("contact", "company"):
    method_declare(
        MethodSpec(
            name=f"crm.{_entity}.userfield.add",
            scope="crm",
            access="write",
            purpose=_("Creates the client-status field (a list) that assistants keep up to date."),
            feature=INSTALL,
            fields=(
                "FIELD_NAME",
                "USER_TYPE_ID",
                "XML_ID",
                "SORT",
                "MULTIPLE",
                "MANDATORY",
                "SHOW_FILTER",
                "SHOW_IN_LIST",
                "EDIT_IN_LIST",
                "EDIT_FORM_LABEL",
                "LIST_COLUMN_LABEL",
                "LIST",
            ),
            field_params=("fields",),
            classification="technical",
            visible_to=("portal_users", "bitrix24", "vendor_staff"),
        )
    )

ASSISTANTS = "assistants"

for _entity in ("contact", "company"):
    method_declare(
        MethodSpec(
            name=f"crm.{_entity}.update",
            scope="crm",
            access="write",
            purpose=_(
                "Sets the client status field, hands a released or lost client to its new owner, "
                "or opens it to everyone; nothing else on the record is changed."
            ),
            feature=ASSISTANTS,
            params=("id",),
            fields=("ASSIGNED_BY_ID", "UF_CRM_KEEPWARM_STATUS", "OPENED"),
            field_params=("fields",),
            classification="business",
            visible_to=("portal_users", "bitrix24", "vendor_staff"),
        )
    )

method_declare(
    MethodSpec(
        name="crm.deal.update",
        scope="crm",
        access="write",
        purpose=_("Moves the open deals of a released client to its new owner (if enabled)."),
        feature=ASSISTANTS,
        params=("id",),
        fields=("ASSIGNED_BY_ID",),
        field_params=("fields",),
        classification="business",
        visible_to=("portal_users", "bitrix24", "vendor_staff"),
    )
)

method_declare(
    MethodSpec(
        name="tasks.task.add",
        scope="task",
        access="write",
        purpose=_(
            "Creates the reminder task for a forgotten client or deal, bound to it (or, with the "
            "daily digest option, one task per manager bound to the day's forgotten clients)."
        ),
        feature=ASSISTANTS,
        fields=("TITLE", "DESCRIPTION", "RESPONSIBLE_ID", "DEADLINE", "UF_CRM_TASK"),
        field_params=("fields",),
        visible_to=("portal_users", "bitrix24", "vendor_staff"),
    )
)

method_declare(
    MethodSpec(
        name="tasks.task.update",
        scope="task",
        access="write",
        purpose=_("Moves the open tasks of a released client to its new owner (if enabled)."),
        feature=ASSISTANTS,
        params=("taskId",),
        fields=("RESPONSIBLE_ID",),
        field_params=("fields",),
        classification="business",
        visible_to=("portal_users", "bitrix24", "vendor_staff"),
    )
)

method_declare(
    MethodSpec(
        name="im.notify.system.add",
        scope="im",
        access="write",
        purpose=_("Sends the daily digest and warnings to managers and supervisors."),
        feature=ASSISTANTS,
        params=("USER_ID", "MESSAGE", "TAG"),
        field_params=(),
        visible_to=("portal_users", "bitrix24", "vendor_staff"),
    )
)

method_declare(
    MethodSpec(
        name="crm.timeline.comment.add",
        scope="crm",
        access="write",
        purpose=_("Posts to the client's timeline what an assistant did and why."),
        feature=ASSISTANTS,
        fields=("ENTITY_ID", "ENTITY_TYPE", "COMMENT"),
        field_params=("fields",),
        classification="business",
        visible_to=("portal_users", "bitrix24", "vendor_staff"),
    )
)

method_declare(
    MethodSpec(
        name="crm.timeline.comment.list",
        scope="crm",
        access="read",
        purpose=_(
            "Reads the timeline comments of each client and deal, one record at a time, so a "
            "written comment counts as contact (if enabled): only the comment's length, author "
            "and date are kept, not its text. After a crash, also checks whether Keepwarm's own "
            "timeline post was already made, so it is never posted twice."
        ),
        feature=SYNC,
        fields=("ID", "ENTITY_ID", "ENTITY_TYPE", "CREATED", "AUTHOR_ID", "COMMENT"),
        field_params=("select", "filter", "order"),
        stored_in="crm_sync_timelinecomment",
        classification="business",
    )
)

method_declare(
    MethodSpec(
        name="crm.timeline.comment.get",
        scope="crm",
        access="read",
        purpose=_(
            "Re-reads a timeline comment Bitrix24 reported as added or changed; only its length, "
            "author and date are kept, not its text."
        ),
        feature=SYNC,
        params=("id",),
        fields=("ID", "ENTITY_ID", "ENTITY_TYPE", "CREATED", "AUTHOR_ID", "COMMENT"),
        field_params=(),
        stored_in="crm_sync_timelinecomment",
        classification="business",
    )
)

method_declare(
    MethodSpec(
        name="calendar.accessibility.get",
        scope="calendar",
        access="read",
        purpose=_(
            "Mirrors the days active employees are absent (absence chart entries) for the next "
            "two months, so assistants neither release clients from nor hand clients to a "
            "manager who is away; meetings (busy) and entry names are not kept."
        ),
        feature=SYNC,
        params=("users", "from", "to"),
        fields=("ID", "DATE_FROM", "DATE_TO", "DT_SKIP_TIME", "ACCESSIBILITY"),
        field_params=(),
        stored_in="crm_sync_userabsence",
        retention="window",
    )
)

method_declare(
    MethodSpec(
        name="log.blogpost.add",
        scope="log",
        access="write",
        purpose=_(
            "Posts the daily list of clients whose status changes soon to the activity stream, "
            "addressed to their manager only (if the portal turned the option on)."
        ),
        feature=ASSISTANTS,
        params=("POST_TITLE", "POST_MESSAGE", "DEST"),
        field_params=(),
        classification="business",
        visible_to=("portal_users", "bitrix24", "vendor_staff"),
    )
)

method_declare(
    MethodSpec(
        name="log.blogpost.get",
        scope="log",
        access="read",
        purpose=_(
            "After a crash, checks whether Keepwarm's own activity stream post to a manager was "
            "already made, so it is never posted twice; only Keepwarm's marker is looked for."
        ),
        feature=ASSISTANTS,
        params=("LOG_RIGHTS",),
        fields=("ID", "TITLE"),
        field_params=(),
        classification="business",
    )
)
