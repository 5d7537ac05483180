"""Declarations of every Bitrix24 method Keepwarm calls (see crm_sync.bitrix.registry).

Keep each list minimal: a field that is not here cannot be read or written. Client contact
details (phones, e-mails, addresses) and the text of calls, e-mails and comments are not read.
"""

from django.utils.translation import gettext_lazy as _

from crm_sync.bitrix.registry import MethodSpec, method_declare

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
        select_required=True,
    )
)
