"""The published data-use sheet, assembled from the method registry and the running settings.

One function, `security_sheet()`, builds the whole sheet in one language; the HTML page, the JSON
document and the PDF render that same object, so the three can never say different things. What
Keepwarm reads comes from `crm_sync.bitrix.registry` (the declarations the client enforces), the
numbers (retention, token lifetime, keys) from settings, the test results from the committed
security report. Nothing here touches the database: the page is public and must stay cheap.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
from django.apps import apps
from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from crm_sync.bitrix.registry import MethodSpec, declared_methods, declared_scopes
from security_docs import content
from security_docs.schema import REPORT_SCHEMA

logger = logging.getLogger(__name__)

SHEET_FORMAT = "keepwarm.data-use-sheet"
SHEET_VERSION = 1
REPORT_MAX_BYTES = 1_000_000
# Where `make security` commits its report; KEEPWARM_SECURITY_REPORT_PATH overrides it.
DEFAULT_REPORT_PATH = Path(__file__).resolve().parent / "report" / "security-report.json"

# Fields a security team asks about first. The sheet says "not read" only for those that no
# declared read allows, so the statement changes by itself if a declaration ever adds one.
SENSITIVE_FIELDS: dict[str, Promise] = {
    "PHONE": gettext_lazy("phone numbers"),
    "EMAIL": gettext_lazy("e-mail addresses"),
    "IM": gettext_lazy("messenger accounts"),
    "WEB": gettext_lazy("web sites"),
    "ADDRESS": gettext_lazy("postal addresses"),
    "BIRTHDATE": gettext_lazy("birth dates"),
    "PHOTO": gettext_lazy("photos"),
    "DESCRIPTION": gettext_lazy("the texts of calls, e-mails, meetings and tasks"),
    "SUBJECT": gettext_lazy("the subjects of calls, e-mails and meetings"),
    "COMMENTS": gettext_lazy("comments on records"),
    "FILES": gettext_lazy("attached files"),
}


@dataclass(frozen=True)
class ScopeEntry:
    name: str
    requested: bool
    why: str
    methods: tuple[str, ...]


@dataclass(frozen=True)
class MethodEntry:
    name: str
    scope: str
    access: str  # "read" | "write", stable for machines
    access_label: str
    purpose: str
    feature: str
    feature_label: str
    fields: tuple[str, ...]
    field_notes: tuple[str, ...]
    params: tuple[str, ...]
    classification: str
    classification_label: str
    stored: bool
    tables: tuple[str, ...]
    schema: str  # "portal" | "public" | "" when not stored
    where: str
    retention: str  # a stable code
    kept_for: str
    logged: bool
    visible_to: tuple[str, ...]  # stable codes
    visible_to_labels: tuple[str, ...]


@dataclass(frozen=True)
class ClassEntry:
    code: str
    label: str
    meaning: str


@dataclass(frozen=True)
class InventoryEntry:
    table: str
    schema: str
    where: str
    contents: str
    classification: str
    classification_label: str
    retention: str
    kept_for: str


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class SubProcessor:
    name: str
    purpose: str
    location: str


@dataclass(frozen=True)
class ReportCheck:
    name: str
    status: str
    status_label: str
    summary: str
    high: int
    medium: int
    low: int


@dataclass(frozen=True)
class SecurityReport:
    status: str  # "ok" | "missing" | "invalid"
    text: str
    generated_at: str  # ISO-8601 as written by `make security`, "" without a report
    generated_at_display: str
    commit: str
    passed: bool | None
    checks: tuple[ReportCheck, ...]


@dataclass(frozen=True)
class SecuritySheet:
    format: str
    version: int
    language: str
    title: str
    summary: str
    how_this_is_built: str
    token_ttl_minutes: int
    rest_log_retention_days: int
    uninstall_retention_days: int
    security_contact: str
    contact_text: str
    scopes_intro: str
    scopes: tuple[ScopeEntry, ...]
    methods_intro: str
    methods: tuple[MethodEntry, ...]
    not_read: tuple[str, ...]
    not_read_text: str
    classifications: tuple[ClassEntry, ...]
    inventory_intro: str
    data_inventory: tuple[InventoryEntry, ...]
    sections: tuple[Section, ...]
    subprocessors: tuple[SubProcessor, ...]
    subprocessors_text: str
    security_report: SecurityReport


# --- the one entry point ----------------------------------------------------------------------


def security_sheet(*, language: str | None = None) -> SecuritySheet:
    """The whole sheet in one language (default: the active one), every text already translated."""
    language = language or translation.get_language() or settings.LANGUAGE_CODE
    with translation.override(language):
        return _sheet(language)


def sheet_as_dict(sheet: SecuritySheet) -> dict[str, Any]:
    """The machine-readable form: stable keys, lists instead of tuples, nothing lazy."""
    return json.loads(json.dumps(asdict(sheet), ensure_ascii=False))


def security_report(*, path: Path | str | None = None) -> SecurityReport:
    """The latest `make security` report as the sheet shows it; never raises for a bad file."""
    path = Path(path or getattr(settings, "KEEPWARM_SECURITY_REPORT_PATH", DEFAULT_REPORT_PATH))
    try:
        if path.stat().st_size > REPORT_MAX_BYTES:
            raise ValueError("the report file is too large")
        data = json.loads(path.read_text(encoding="utf-8"))
        jsonschema.validate(data, REPORT_SCHEMA)
        generated = datetime.fromisoformat(data["generated_at"])
    except FileNotFoundError:
        return SecurityReport("missing", _("No security test report yet."), "", "", "", None, ())
    except (OSError, ValueError, jsonschema.ValidationError) as exc:
        logger.warning("security report unreadable", extra={"reason": str(exc)[:200]})
        return SecurityReport(
            "invalid",
            _("The latest security test report could not be read; no results are shown."),
            "",
            "",
            "",
            None,
            (),
        )
    if generated.tzinfo is None:
        generated = generated.replace(tzinfo=UTC)
    display = generated.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    checks = tuple(
        ReportCheck(
            name=check["name"],
            status=check["status"],
            status_label=str(content.STATUS_LABELS[check["status"]]),
            summary=check["summary"],
            high=check["findings"]["high"],
            medium=check["findings"]["medium"],
            low=check["findings"]["low"],
        )
        for check in data["checks"]
    )
    verdict = _("all checks passed") if data["passed"] else _("some checks failed")
    text = _("Security tests ran on %(date)s on commit %(commit)s: %(verdict)s.") % {
        "date": display,
        "commit": data["commit"][:12],
        "verdict": verdict,
    }
    return SecurityReport(
        "ok", text, data["generated_at"], display, data["commit"], data["passed"], checks
    )


# --- assembly ---------------------------------------------------------------------------------


def _sheet(language: str) -> SecuritySheet:
    scope_order = {scope.name: index for index, scope in enumerate(declared_scopes())}
    specs = sorted(
        declared_methods(), key=lambda spec: (scope_order.get(spec.scope, 999), spec.name)
    )
    rest_days = settings.KEEPWARM_REST_LOG_RETENTION_DAYS
    uninstall_days = settings.KEEPWARM_UNINSTALL_RETENTION_DAYS
    not_read = tuple(
        field
        for field in SENSITIVE_FIELDS
        if not any(spec.access == "read" and spec.allows_field(field) for spec in specs)
    )
    subprocessors = _subprocessors()
    return SecuritySheet(
        format=SHEET_FORMAT,
        version=SHEET_VERSION,
        language=language,
        title=_("Keepwarm: data use and security"),
        summary=_(
            "What the Keepwarm application reads from your Bitrix24 portal, why, where it is kept, "
            "for how long, who can see it, how it is protected and when it was last tested."
        ),
        how_this_is_built=_(
            "Every Bitrix24 method Keepwarm may call is declared once in its code, with the exact "
            "fields it reads or writes. Keepwarm's Bitrix24 client refuses any method, field or "
            "parameter that is not declared before anything is sent. This sheet is generated from "
            "those same declarations, so it lists exactly what the code can do."
        ),
        token_ttl_minutes=_token_ttl_minutes(),
        rest_log_retention_days=rest_days,
        uninstall_retention_days=uninstall_days,
        security_contact=settings.KEEPWARM_SECURITY_CONTACT,
        contact_text=_("Report a vulnerability or an incident to %(contact)s.")
        % {"contact": settings.KEEPWARM_SECURITY_CONTACT},
        scopes_intro=_(
            "Bitrix24 grants access by scope. Keepwarm asks for the scopes below; each line says "
            "why and which of its methods Keepwarm uses."
        ),
        scopes=_scopes(specs),
        methods_intro=_(
            "Every method Keepwarm may call, with the exact fields it reads or writes. A call that "
            "names anything else is refused by Keepwarm's own client."
        ),
        methods=tuple(_method(spec) for spec in specs),
        not_read=not_read,
        not_read_text=_not_read_text(not_read),
        classifications=tuple(
            ClassEntry(code, str(label), str(content.CLASSIFICATION_MEANINGS[code]))
            for code, label in content.CLASSIFICATION_LABELS.items()
        ),
        inventory_intro=_(
            "Everything Keepwarm keeps about your portal, table by table. The tables in your "
            "portal's own schema hold nothing of any other portal."
        ),
        data_inventory=_inventory(specs),
        sections=_sections(),
        subprocessors=subprocessors,
        subprocessors_text=_subprocessors_text(subprocessors),
        security_report=security_report(),
    )


def _scopes(specs: list[MethodSpec]) -> tuple[ScopeEntry, ...]:
    return tuple(
        ScopeEntry(
            name=scope.name,
            requested=scope.requested,
            why=str(scope.why),
            methods=tuple(spec.name for spec in specs if spec.scope == scope.name),
        )
        for scope in declared_scopes()
    )


def _method(spec: MethodSpec) -> MethodEntry:
    tables = spec.stored_tables
    retention = spec.retention_policy
    if tables:
        where = _("%(tables)s, in %(schema)s.") % {
            "tables": ", ".join(tables),
            "schema": content.SCHEMA_LABELS[spec.schema],
        }
    elif spec.logged:
        where = _("Not stored, except in the request log (%(table)s, in %(schema)s).") % {
            "table": apps.get_model("crm_sync", "RestCallLog")._meta.db_table,
            "schema": content.SCHEMA_LABELS["portal"],
        }
    else:
        where = _("Not stored.")
    kept_for = _retention_text(retention)
    if spec.logged:
        kept_for = " ".join(
            [
                kept_for,
                _("The request and the start of the answer stay in the request log for %(days)s.")
                % {"days": _days(settings.KEEPWARM_REST_LOG_RETENTION_DAYS)},
            ]
        )
    return MethodEntry(
        name=spec.name,
        scope=spec.scope,
        access=spec.access,
        access_label=str(content.ACCESS_LABELS[spec.access]),
        purpose=str(spec.purpose),
        feature=spec.feature,
        feature_label=str(content.FEATURE_LABELS.get(spec.feature, spec.feature)),
        fields=spec.fields,
        field_notes=tuple(
            str(note)
            for pattern, note in content.FIELD_PATTERN_NOTES.items()
            if pattern in spec.fields
        ),
        params=spec.params,
        classification=spec.classification,
        classification_label=str(content.CLASSIFICATION_LABELS[spec.classification]),
        stored=bool(tables),
        tables=tables,
        schema=spec.schema if tables else "",
        where=where,
        retention=retention,
        kept_for=kept_for,
        logged=spec.logged,
        visible_to=spec.visible_to,
        visible_to_labels=tuple(str(content.AUDIENCE_LABELS[code]) for code in spec.visible_to),
    )


def _inventory(specs: list[MethodSpec]) -> tuple[InventoryEntry, ...]:
    """Mirror tables from the registry, then Keepwarm's own tables; each table once."""
    entries: dict[str, InventoryEntry] = {}
    kept = {
        apps.get_model(label)._meta.db_table: note
        for label, note in content.OWN_TABLES.items()
        if note is not None
    }
    for spec in specs:
        for table in spec.stored_tables:
            if table in entries or spec.schema != "portal":
                continue
            contents = _("What %(method)s reads: %(fields)s.") % {
                "method": spec.name,
                "fields": ", ".join(spec.fields),
            }
            if table in kept:  # what is kept, when it is less than what is read
                contents = str(kept[table].contents)
            entries[table] = _inventory_entry(
                table=table,
                schema=spec.schema,
                contents=contents,
                classification=spec.classification,
                retention=spec.retention_policy,
            )
    for label, note in content.OWN_TABLES.items():
        if note is None:
            continue
        model = apps.get_model(label)
        table = model._meta.db_table
        if table in entries:
            continue
        schema = "portal" if model._meta.app_label in settings.TENANT_APPS else "public"
        entries[table] = _inventory_entry(
            table=table,
            schema=schema,
            contents=str(note.contents),
            classification=note.classification,
            retention=note.retention,
        )
    return tuple(entries.values())


def _inventory_entry(
    *, table: str, schema: str, contents: str, classification: str, retention: str
) -> InventoryEntry:
    return InventoryEntry(
        table=table,
        schema=schema,
        where=_("in %(schema)s") % {"schema": content.SCHEMA_LABELS[schema]},
        contents=contents,
        classification=classification,
        classification_label=str(content.CLASSIFICATION_LABELS[classification]),
        retention=retention,
        kept_for=_retention_text(retention),
    )


def _retention_text(code: str) -> str:
    after = {"days": _days(settings.KEEPWARM_UNINSTALL_RETENTION_DAYS)}
    texts = {
        "mirror": _(
            "While the app is installed: updated when the record changes in Bitrix24, removed "
            "when it is deleted there; all of it is deleted %(days)s after uninstall."
        )
        % after,
        "replaced": _(
            "While the app is installed, rewritten whole on every sync; deleted %(days)s after "
            "uninstall."
        )
        % after,
        "window": _(
            "Only from yesterday to two months ahead, rewritten whole every hour; deleted "
            "%(days)s after uninstall."
        )
        % after,
        "while_installed": _("While the app is installed; deleted %(days)s after uninstall.")
        % after,
        "portal_record": _(
            "While the app is installed; deleted with the portal %(days)s after uninstall."
        )
        % after,
        "credentials": _(
            "While the app is installed; the tokens are erased the moment it is uninstalled."
        ),
        "rest_log": _("%(days)s, then deleted.")
        % {"days": _days(settings.KEEPWARM_REST_LOG_RETENTION_DAYS)},
        "account": _(
            "Until the account is removed: sign-in accounts are not deleted with the portal."
        ),
        "not_stored": _("Not stored."),
    }
    return texts[code]


def _not_read_text(not_read: tuple[str, ...]) -> str:
    if not not_read:
        return ""
    what = ", ".join(str(SENSITIVE_FIELDS[field]) for field in not_read)
    return _(
        "Keepwarm does not read %(what)s: no declared method may name those fields, and the "
        "client refuses any call that does. Custom fields (UF_*) are read in full, where they "
        "are listed: if your portal keeps such data in custom fields, those are read too."
    ) % {"what": what}


def _subprocessors() -> tuple[SubProcessor, ...]:
    """Third parties that receive portal data: only what this deployment configures."""
    found = [
        SubProcessor(
            str(item.get("name", "")), str(item.get("purpose", "")), str(item.get("location", ""))
        )
        for item in getattr(settings, "KEEPWARM_SUBPROCESSORS", [])
    ]
    email_backend = getattr(settings, "EMAIL_BACKEND", "")
    email_host = getattr(settings, "EMAIL_HOST", "localhost")
    if email_backend.endswith("smtp.EmailBackend") and email_host not in {
        "",
        "localhost",
        "127.0.0.1",
        "::1",
    }:
        found.append(SubProcessor(email_host, _("E-mail delivery"), ""))
    sms = getattr(settings, "KEEPWARM_SMS_PROVIDER", "")
    if sms:
        found.append(SubProcessor(str(sms), _("SMS delivery"), ""))
    return tuple(found)


def _subprocessors_text(found: tuple[SubProcessor, ...]) -> str:
    if found:
        return _("This deployment passes data of your portal to the following providers only.")
    return _(
        "None. This deployment passes no data of your portal to any third party: Keepwarm talks "
        "only to your portal and to Bitrix24's OAuth server."
    )


def _sections() -> tuple[Section, ...]:
    rest_days = _days(settings.KEEPWARM_REST_LOG_RETENTION_DAYS)
    uninstall_days = _days(settings.KEEPWARM_UNINSTALL_RETENTION_DAYS)
    keys = [key for key in settings.KEEPWARM_ENCRYPTION_KEYS if key]
    hsts = int(getattr(settings, "SECURE_HSTS_SECONDS", 0) or 0)
    yes, no = _("yes"), _("no")
    contact = settings.KEEPWARM_SECURITY_CONTACT
    return (
        Section(
            "isolation",
            _("Tenant isolation"),
            (
                _(
                    "Every Bitrix24 portal that installs Keepwarm gets its own PostgreSQL schema. "
                    "The mirror, the assistants' settings and decisions and the request log live "
                    "there and nowhere else. The shared schema holds no CRM data: only the list of "
                    "portals with their encrypted tokens, sign-in accounts, job schedules and the "
                    "staff access log."
                ),
                _(
                    "A request is bound to a portal only by verified credentials: a signed token "
                    "that expires after %(ttl)s, issued when Bitrix24 opens the app for a user of "
                    "that portal, or the session of that portal's client administrator. Requests "
                    "with no valid credential see no portal data. Every API view derives from one "
                    "base view that checks the connection is in the caller's own schema, and no "
                    "view may override that check."
                )
                % {"ttl": _minutes(_token_ttl_minutes())},
                _(
                    "Bitrix24 events are accepted only with the portal's application token and "
                    "bodies up to %(bytes)s bytes; they carry record ids only, and Keepwarm reads "
                    "the record itself through the declared methods. Background jobs receive the "
                    "portal's id, switch to its schema themselves and verify the switch before "
                    "touching any data."
                )
                % {"bytes": settings.KEEPWARM_EVENT_MAX_BYTES},
            ),
        ),
        Section(
            "transit",
            _("Encryption in transit"),
            (
                _(
                    "Keepwarm calls your portal's REST endpoint and Bitrix24's OAuth server over "
                    "HTTPS and verifies their certificates; every call has a connect timeout of "
                    "%(connect)s s and a read timeout of %(read)s s. Keepwarm's pages inside "
                    "Bitrix24 may be framed only by your portal's own domain "
                    "(Content-Security-Policy frame-ancestors)."
                )
                % {
                    "connect": f"{settings.BITRIX_CONNECT_TIMEOUT:g}",
                    "read": f"{settings.BITRIX_READ_TIMEOUT:g}",
                },
                _(
                    "This deployment: HTTPS enforced: %(https)s; HSTS: %(hsts)s; cookies sent "
                    "over HTTPS only: %(cookies)s."
                )
                % {
                    "https": yes if getattr(settings, "SECURE_SSL_REDIRECT", False) else no,
                    "hsts": _days(hsts // 86400) if hsts >= 86400 else no,
                    "cookies": yes if getattr(settings, "SESSION_COOKIE_SECURE", False) else no,
                },
            ),
        ),
        Section(
            "at_rest",
            _("Encryption at rest"),
            (
                _(
                    "The OAuth access and refresh tokens and the application token are encrypted "
                    "before they reach the database, with Fernet (AES-128-CBC with an "
                    "HMAC-SHA256 signature, from the cryptography library) through MultiFernet. "
                    "The keys come from the environment (KEEPWARM_ENCRYPTION_KEYS) and are never "
                    "stored in the database or the repository; production refuses to start "
                    "without them. Tokens are masked in the request log and never logged."
                ),
                (
                    ngettext(
                        "This deployment has %(count)d encryption key configured.",
                        "This deployment has %(count)d encryption keys configured.",
                        len(keys),
                    )
                    % {"count": len(keys)}
                    if keys
                    else _(
                        "This deployment has no encryption key configured and derives one from "
                        "its secret key, which is acceptable for a demo only."
                    )
                ),
                _(
                    "Passwords of sign-in accounts are stored only as salted hashes. The rest of "
                    "the database is not encrypted by Keepwarm itself: it is protected by the "
                    "schema separation above and by the encryption of the hosting's storage."
                ),
            ),
        ),
        Section(
            "key_rotation",
            _("Key rotation"),
            (
                _(
                    "To rotate the encryption key: put a new key first in "
                    "KEEPWARM_ENCRYPTION_KEYS, deploy, run manage.py rotate_encryption_keys, "
                    "which re-encrypts every stored token with the new key, then remove the old "
                    "key. MultiFernet decrypts with any listed key, so rotation needs no downtime."
                ),
                _(
                    "Portal tokens are signed with the deployment's secret key; while it is "
                    "rotated the old one is kept in SECRET_KEY_FALLBACKS until issued tokens "
                    "expire. Bitrix24 itself replaces the OAuth tokens on every refresh."
                ),
            ),
        ),
        Section(
            "staff_access",
            _("Access by Keepwarm staff"),
            (
                (
                    _(
                        "Keepwarm staff work in a separate back office that requires a password "
                        "and a second factor (an authenticator app or one-time codes)."
                    )
                    if settings.KEEPWARM_ADMIN_REQUIRE_OTP
                    else _(
                        "Keepwarm staff work in a separate back office; this deployment does not "
                        "require a second factor for it."
                    )
                ),
                _(
                    "The back office has no pages for a portal's CRM records. A portal's request "
                    "log (which holds the start of Bitrix24's answers) and its sync status open "
                    "only with a dedicated permission, and each opening writes a row to the staff "
                    "access log (who, when, what) in the same request."
                ),
                _(
                    "Your portal's administrators (Bitrix24 administrators who open Keepwarm, "
                    "and client administrators signed in to Keepwarm) see that log at %(path)s; "
                    "other users of your portal do not."
                )
                % {"path": reverse("staff-access-list")},
            ),
        ),
        Section(
            "rest_log",
            _("Calls to Bitrix24"),
            (
                _(
                    "Every request Keepwarm sends to Bitrix24 and the answer it receives are "
                    "logged per portal with tokens masked, and kept for %(days)s (Bitrix24 "
                    "Marketplace rules require at least 3 days)."
                )
                % {"days": rest_days},
                _(
                    "Only your portal's administrators see this log, at %(path)s: it holds the "
                    "start of Bitrix24's answers, which may name clients of every manager."
                )
                % {"path": reverse("rest-call-list")},
            ),
        ),
        Section(
            "retention",
            _("Retention and deletion"),
            (
                _(
                    "While Keepwarm is installed, the mirror follows your portal: changed records "
                    "are updated and deleted records removed."
                ),
                _(
                    "When your portal uninstalls Keepwarm, all work stops at once and the OAuth "
                    "tokens are erased. The rest is kept %(days)s so that a re-install resumes "
                    "where it stopped; then your portal's schema is dropped and its record, "
                    "credentials and staff access log are deleted."
                )
                % {"days": uninstall_days},
                _(
                    "Sign-in accounts of client administrators are not deleted with the portal; "
                    "ask %(contact)s to remove them."
                )
                % {"contact": contact},
            ),
        ),
    )


def _token_ttl_minutes() -> int:
    return int(settings.KEEPWARM_PORTAL_TOKEN_TTL.total_seconds() // 60)


def _days(count: int) -> str:
    return ngettext("%(count)d day", "%(count)d days", count) % {"count": count}


def _minutes(count: int) -> str:
    return ngettext("%(count)d minute", "%(count)d minutes", count) % {"count": count}
