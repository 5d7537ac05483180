"""The fixed words of the data-use sheet: labels for registry codes and Keepwarm's own tables.

What Keepwarm reads from Bitrix24 comes from the method registry; what Keepwarm keeps beyond the
mirror (settings, decisions, logs, portal records) is listed here, per model, so a test can demand
that every model of a portal's data is on the sheet.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

# Headings the page and the PDF put around the sheet's own texts.
HEADINGS: dict[str, Promise] = {
    "contents_nav": _("Contents"),
    "also_as": _("Also as"),
    "scopes": _("Bitrix24 scopes"),
    "scope": _("Scope"),
    "methods_used": _("Methods used"),
    "methods": _("Methods and fields"),
    "method": _("Method"),
    "access": _("Access"),
    "fields": _("Fields"),
    "params": _("Parameters"),
    "purpose": _("Why"),
    "feature": _("Needed by"),
    "classification": _("Classification"),
    "where": _("Stored"),
    "kept_for": _("Kept for"),
    "visible_to": _("Who can see it"),
    "not_read": _("What Keepwarm does not read"),
    "inventory": _("Data inventory and classification"),
    "table": _("Table"),
    "contents": _("What it holds"),
    "subprocessors": _("Sub-processors"),
    "report": _("Latest security test report"),
    "check": _("Check"),
    "status": _("Result"),
    "summary": _("Summary"),
    "findings": _("Findings (high / medium / low)"),
    "commit": _("Commit"),
    "date": _("Date"),
    "not_requested": _("not requested"),
    "contact": _("Security contact"),
}

ACCESS_LABELS: dict[str, Promise] = {
    "read": _("read"),
    "write": _("write"),
}

FEATURE_LABELS: dict[str, Promise] = {
    "crm_sync": _("CRM mirror (sync)"),
    "install": _("Installation and the app's pages"),
    "assistants": _("Assistants"),
}

CLASSIFICATION_LABELS: dict[str, Promise] = {
    "personal": _("Personal data"),
    "business": _("Confidential business data"),
    "technical": _("Technical data"),
    "secret": _("Secrets"),
}

CLASSIFICATION_MEANINGS: dict[str, Promise] = {
    "personal": _(
        "Identifies a person or is written about one: names of clients, contacts and employees, "
        "texts that name a client."
    ),
    "business": _(
        "The portal's commercial records without contact details: deals, amounts, stages, "
        "dates, ids and who owns what."
    ),
    "technical": _(
        "Configuration and bookkeeping: pipelines, stages, field definitions, event handlers, "
        "settings, progress counters."
    ),
    "secret": _("Credentials that give access to the portal; encrypted at rest."),
}

AUDIENCE_LABELS: dict[str, Promise] = {
    "portal_users": _("Your portal's users who open Keepwarm, and your Keepwarm administrators"),
    "bitrix24": _("In Bitrix24: whoever your portal's own permissions allow"),
    "vendor_staff": _(
        "Keepwarm support staff, only through the audited back office (request log): "
        "second factor required, each look recorded and shown to your administrator"
    ),
    "vendor_registry": _("Keepwarm staff, in the list of customers (domain and install state)"),
}

SCHEMA_LABELS: dict[str, Promise] = {
    "portal": _("your portal's own PostgreSQL schema"),
    "public": _("the shared (public) schema, one row per portal"),
}

STATUS_LABELS: dict[str, Promise] = {
    "passed": _("passed"),
    "failed": _("failed"),
    "skipped": _("skipped"),
}

# Fields that are patterns rather than names, explained once.
FIELD_PATTERN_NOTES: dict[str, Promise] = {
    "UF_*": _("UF_* means every custom field (user field) of this record, so rules can use them."),
}


@dataclass(frozen=True)
class TableNote:
    contents: Promise
    classification: str
    retention: str  # a key of the retention texts in selectors


# Keepwarm's own tables and its records about a portal, by model label. None: the model holds no
# data of any portal (vendor-wide settings). Mirror tables named in the registry's `stored_in`
# are described from the registry unless they have an entry here, which then says what is kept
# (when that is less than what the methods read, as for timeline comments).
OWN_TABLES: dict[str, TableNote | None] = {
    "tenants.Portal": TableNote(
        _(
            "Your portal's member id, domain, region, plan, time zone, language and the dates of "
            "install and uninstall."
        ),
        "technical",
        "portal_record",
    ),
    "tenants.PortalCredentials": TableNote(
        _(
            "The OAuth access and refresh tokens and the application token (encrypted), the REST "
            "and OAuth endpoints, the granted scopes and the installing user's id."
        ),
        "secret",
        "credentials",
    ),
    "tenants.PortalMember": TableNote(
        _("Which Keepwarm sign-in accounts administer your portal, their role and Bitrix24 id."),
        "personal",
        "portal_record",
    ),
    "tenants.PortalJobSchedule": TableNote(
        _("When each periodic job of your portal runs next and how its last run ended."),
        "technical",
        "portal_record",
    ),
    "tenants.StaffAccessLog": TableNote(
        _("Every look of Keepwarm staff at your portal's data: who, when, what they opened."),
        "technical",
        "portal_record",
    ),
    "tenants.GlobalSetting": None,
    "auth.User": TableNote(
        _(
            "Sign-in accounts of your client administrators (user name, e-mail, password hash); "
            "Keepwarm staff accounts live here too."
        ),
        "personal",
        "account",
    ),
    "crm_sync.RestCallLog": TableNote(
        _(
            "Every request Keepwarm sent to your portal (tokens masked) and the first 4,000 "
            "characters of each answer."
        ),
        "personal",
        "rest_log",
    ),
    "crm_sync.SyncState": TableNote(
        _("Checkpoints of the mirror per record type."), "technical", "while_installed"
    ),
    "crm_sync.SyncRun": TableNote(
        _("Each sync run: when, how many records and requests, and its error if it failed."),
        "technical",
        "while_installed",
    ),
    "crm_sync.DealProductRow": TableNote(
        _("Product rows of deals (product, price, quantity), for lifetime value by product."),
        "business",
        "mirror",
    ),
    "crm_sync.ActivityBinding": TableNote(
        _("Which CRM records (clients, deals, leads) each activity is bound to."),
        "business",
        "mirror",
    ),
    "crm_sync.TimelineComment": TableNote(
        _(
            "Timeline comments on clients, deals and leads: who wrote each, when, on which "
            "record and how many characters long, and whether it is Keepwarm's own post. The "
            "text is read only to measure it and is not kept."
        ),
        "business",
        "mirror",
    ),
    "assistants.AssistantSettings": TableNote(
        _("Your assistant settings, every version kept with who changed it."),
        "technical",
        "while_installed",
    ),
    "assistants.AssistantPass": TableNote(
        _("Each assistants run: when, under which settings, how many decisions."),
        "technical",
        "while_installed",
    ),
    "assistants.ClientState": TableNote(
        _("Each client's place on the status ladder and since when."),
        "business",
        "while_installed",
    ),
    "assistants.Decision": TableNote(
        _(
            "What each assistant decided about a client, the facts it used, why, and whether "
            "it was carried out."
        ),
        "business",
        "while_installed",
    ),
    "assistants.ClientEvent": TableNote(
        _("Each client's history in Keepwarm: status changes, tasks, hand-overs."),
        "business",
        "while_installed",
    ),
    "assistants.ClientSnooze": TableNote(
        _("Clients your users paused, until when and why."), "business", "while_installed"
    ),
    "assistants.ManagerAbsence": TableNote(
        _("Managers' absences entered in Keepwarm, so no work is routed to them meanwhile."),
        "personal",
        "while_installed",
    ),
}

# Apps whose every model must be on the sheet (or listed above as holding no portal data).
INVENTORIED_APPS = ("tenants", "crm_sync", "assistants", "analytics")
