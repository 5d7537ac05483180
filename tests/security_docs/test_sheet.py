"""The published data-use sheet: complete against the registry, public, in both languages, safe.

The sheet is what a security team reads instead of the Marketplace card (seed 000), so these tests
hold it to the code: every scope, method and field the registry declares must be on the page, in
the JSON and in the PDF, and every model that holds a portal's data must be in the inventory.
"""

from __future__ import annotations

import html
import json
import re

import jsonschema
import pytest
from django.apps import apps

from crm_sync.bitrix.registry import declared_methods, declared_scopes, requested_scopes
from security_docs import content
from security_docs.schema import REPORT_SCHEMA, SHEET_SCHEMA
from security_docs.selectors import security_sheet, sheet_as_dict
from tests.security_docs.pdf_text import pdf_text

LANGUAGES = ["ru", "en"]
CYRILLIC = re.compile("[а-яё]", re.I)

EXAMPLE_REPORT = {
    "generated_at": "2026-11-20T09:30:00+00:00",
    "commit": "0123456789abcdef0123456789abcdef01234567",
    "passed": False,
    "checks": [
        {
            "name": "bandit",
            "status": "passed",
            "summary": "0 issues in 112 files",
            "findings": {"high": 0, "medium": 0, "low": 0},
        },
        {
            "name": "dependency-audit",
            "status": "failed",
            "summary": "1 known vulnerability (PyPA advisory-db snapshot of 2026-11-01)",
            "findings": {"high": 1, "medium": 0, "low": 0},
        },
        {
            "name": "schemathesis",
            "status": "skipped",
            "summary": "no server",
            "findings": {"high": 0, "medium": 0, "low": 0},
        },
    ],
}


@pytest.fixture
def report_file(tmp_path, settings):
    """A valid example report, written where the sheet is told to look."""
    path = tmp_path / "security-report.json"
    jsonschema.validate(EXAMPLE_REPORT, REPORT_SCHEMA)
    path.write_text(json.dumps(EXAMPLE_REPORT), encoding="utf-8")
    settings.KEEPWARM_SECURITY_REPORT_PATH = str(path)
    return path


@pytest.fixture
def no_report(tmp_path, settings):
    settings.KEEPWARM_SECURITY_REPORT_PATH = str(tmp_path / "absent.json")


def _page(client, lang: str) -> str:
    response = client.get(f"/security/?lang={lang}")
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def _json(client, lang: str) -> dict:
    response = client.get(f"/security/data-use.json?lang={lang}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    return response.json()


def _pdf(client, lang: str) -> str:
    response = client.get(f"/security/data-use.pdf?lang={lang}")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    body = response.content
    assert body.startswith(b"%PDF-") and body.rstrip().endswith(b"%%EOF")
    return pdf_text(body)


def _in_pdf(token: str, text: str) -> bool:
    """A token may be wrapped onto the next line inside a narrow table cell."""
    return token in text or token in text.replace("\n", "")


# --- public, both languages -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "heading"),
    [
        ("ru", "Keepwarm: использование данных и безопасность"),
        ("en", "Keepwarm: data use and security"),
    ],
)
def test_the_sheet_is_public_in_both_languages_and_all_three_forms(client, lang, heading):
    """No login, no session, no database: anyone may read it."""
    page = client.get(f"/security/?lang={lang}")
    document = client.get(f"/security/data-use.json?lang={lang}")
    pdf = client.get(f"/security/data-use.pdf?lang={lang}")

    assert [page.status_code, document.status_code, pdf.status_code] == [200, 200, 200]
    assert {page["Content-Language"], document["Content-Language"], pdf["Content-Language"]} == {
        lang
    }
    assert heading in page.content.decode()
    assert document.json()["title"] == heading
    assert heading in pdf_text(pdf.content)
    assert pdf["Content-Disposition"] == f'attachment; filename="keepwarm-data-use-{lang}.pdf"'


def test_the_page_links_both_languages_and_the_other_forms(client):
    page = client.get("/security/?lang=en").content.decode()

    assert 'href="?lang=ru"' in page and 'href="?lang=en"' in page
    assert 'href="/security/data-use.json?lang=en"' in page
    assert 'href="/security/data-use.pdf?lang=en"' in page
    assert "<script" not in page  # works without JavaScript
    assert "@media print" in page


def test_without_lang_the_browser_language_is_used(client):
    response = client.get("/security/data-use.json", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")

    assert response["Content-Language"] == "en"
    assert response.json()["language"] == "en"


# --- complete against the registry ------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_scope_method_and_field_is_on_the_page(client, lang):
    page = _page(client, lang)

    for scope in declared_scopes():
        assert f"<code>{scope.name}</code>" in page, scope.name
    for spec in declared_methods():
        assert f'id="m-{spec.name}"' in page, spec.name
        section = page.split(f'id="m-{spec.name}"', 1)[1].split("</section>", 1)[0]
        for name in (*spec.fields, *spec.params):
            assert f"<code>{name}</code>" in section, (spec.name, name)
        assert str(spec.purpose) not in ("", None)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_json_has_its_published_shape_and_the_registry_exactly(client, lang):
    data = _json(client, lang)

    jsonschema.validate(data, SHEET_SCHEMA)
    assert data["language"] == lang
    specs = {spec.name: spec for spec in declared_methods()}
    assert {method["name"] for method in data["methods"]} == set(specs)
    for method in data["methods"]:
        spec = specs[method["name"]]
        assert method["scope"] == spec.scope
        assert method["access"] == spec.access
        assert method["fields"] == list(spec.fields)
        assert method["params"] == list(spec.params)
        assert method["stored"] == bool(spec.stored_tables)
        assert method["tables"] == list(spec.stored_tables)
        assert method["visible_to"] == list(spec.visible_to)
        assert method["purpose"] and method["kept_for"] and method["where"]
    assert {scope["name"] for scope in data["scopes"]} == {s.name for s in declared_scopes()}
    for scope in data["scopes"]:
        assert scope["methods"] == [
            m["name"] for m in data["methods"] if m["scope"] == scope["name"]
        ]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_scope_method_and_field_is_in_the_pdf(client, lang):
    text = _pdf(client, lang)

    for scope in declared_scopes():
        assert _in_pdf(scope.name, text), scope.name
    for spec in declared_methods():
        assert _in_pdf(spec.name, text), spec.name
        for name in (*spec.fields, *spec.params):
            assert _in_pdf(name, text), (spec.name, name)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_page_json_and_pdf_say_the_same(client, lang):
    sheet = security_sheet(language=lang)
    page = _page(client, lang)
    text = _pdf(client, lang)

    assert _json(client, lang) == sheet_as_dict(sheet)
    for paragraph in [sheet.summary, *(p for s in sheet.sections for p in s.paragraphs)]:
        assert paragraph in page
    for section in sheet.sections:
        assert section.title in page and section.title in text


def test_the_scopes_are_exactly_those_the_methods_need_and_the_install_asks_for():
    used = {spec.scope for spec in declared_methods()}
    declared = {scope.name for scope in declared_scopes()}

    assert used == declared  # no method in an undeclared scope, no scope without a method
    assert "basic" not in requested_scopes()


def test_every_declaration_has_words_for_the_sheet():
    for spec in declared_methods():
        assert spec.feature in content.FEATURE_LABELS, spec.name
        assert spec.classification in content.CLASSIFICATION_LABELS, spec.name
        assert set(spec.visible_to) <= set(content.AUDIENCE_LABELS), spec.name
        assert spec.visible_to, spec.name


def test_every_table_named_by_the_registry_exists():
    tables = {model._meta.db_table for model in apps.get_models()}

    for spec in declared_methods():
        assert set(spec.stored_tables) <= tables, spec.name


def test_every_model_with_portal_data_is_in_the_inventory():
    """A new model in a portal app fails here until the sheet says what it holds and how long."""
    inventory = {entry.table for entry in security_sheet(language="en").data_inventory}

    for app_label in content.INVENTORIED_APPS:
        for model in apps.get_app_config(app_label).get_models():
            if content.OWN_TABLES.get(model._meta.label, "missing") is None:
                continue  # declared as holding no portal data
            assert model._meta.db_table in inventory, model._meta.label


def test_what_is_not_read_is_true_and_said():
    sheet = security_sheet(language="en")
    reads = [spec for spec in declared_methods() if spec.access == "read"]

    assert {"PHONE", "EMAIL", "ADDRESS"} <= set(sheet.not_read)
    for field in sheet.not_read:
        assert not any(spec.allows_field(field) for spec in reads), field
    assert "phone numbers" in sheet.not_read_text
    assert "UF_*" in sheet.not_read_text  # custom fields are read in full, and it says so


# --- translated --------------------------------------------------------------------------------

_PROSE = {
    "title",
    "summary",
    "how_this_is_built",
    "scopes_intro",
    "why",
    "methods_intro",
    "access_label",
    "purpose",
    "feature_label",
    "classification_label",
    "where",
    "kept_for",
    "visible_to_labels",
    "field_notes",
    "not_read_text",
    "label",
    "meaning",
    "inventory_intro",
    "contents",
    "paragraphs",
    "subprocessors_text",
    "text",
    "contact_text",
}


def _prose_pairs(english, russian, key=""):
    if isinstance(english, dict):
        for name in english:
            yield from _prose_pairs(english[name], russian[name], name)
    elif isinstance(english, list):
        for left, right in zip(english, russian, strict=True):
            yield from _prose_pairs(left, right, key)
    elif key in _PROSE and isinstance(english, str) and english:
        yield key, english, russian


def test_every_text_of_the_sheet_is_translated_to_russian(no_report):
    english = sheet_as_dict(security_sheet(language="en"))
    russian = sheet_as_dict(security_sheet(language="ru"))

    untranslated = [
        (key, text)
        for key, text, translated in _prose_pairs(english, russian)
        if not CYRILLIC.search(translated)
    ]
    assert untranslated == []


# --- numbers come from settings ------------------------------------------------------------------


def test_the_sheet_states_the_configured_retention(client, settings):
    settings.KEEPWARM_REST_LOG_RETENTION_DAYS = 11
    settings.KEEPWARM_UNINSTALL_RETENTION_DAYS = 45

    page = " ".join(_page(client, "en").split())

    assert "kept for 11 days" in page
    assert "The rest is kept 45 days" in page
    assert "deleted 45 days after uninstall" in page
    russian = " ".join(_page(client, "ru").split())
    assert "хранятся 11 дней" in russian
    assert "через 45 дней" in russian


def test_the_sheet_counts_the_configured_keys_but_never_shows_them(client, settings):
    from cryptography.fernet import Fernet

    keys = [Fernet.generate_key().decode(), Fernet.generate_key().decode()]
    settings.KEEPWARM_ENCRYPTION_KEYS = keys

    page = client.get("/security/?lang=en").content.decode()
    document = client.get("/security/data-use.json?lang=en").content.decode()

    assert "This deployment has 2 encryption keys configured." in page
    for key in keys:
        assert key not in page and key not in document


def test_no_subprocessors_by_default_and_configured_ones_are_listed(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "localhost"
    settings.KEEPWARM_SUBPROCESSORS = []
    assert security_sheet(language="en").subprocessors == ()
    assert security_sheet(language="en").subprocessors_text.startswith("None.")

    settings.EMAIL_HOST = "smtp.mail-provider.example"
    settings.KEEPWARM_SMS_PROVIDER = "SMS Gateway Ltd"
    settings.KEEPWARM_SUBPROCESSORS = [
        {"name": "Hosting Co", "purpose": "Servers", "location": "Moscow, RU"}
    ]
    names = [item.name for item in security_sheet(language="en").subprocessors]

    assert names == ["Hosting Co", "smtp.mail-provider.example", "SMS Gateway Ltd"]


# --- the security test report --------------------------------------------------------------------


def test_the_report_shows_date_commit_and_each_check(client, report_file):
    page = _page(client, "en")
    data = _json(client, "en")["security_report"]
    text = _pdf(client, "en")

    assert "Security tests ran on 2026-11-20 09:30 UTC on commit 0123456789ab" in page
    assert "some checks failed" in page
    assert data["status"] == "ok"
    assert data["commit"] == EXAMPLE_REPORT["commit"]
    assert data["generated_at"] == EXAMPLE_REPORT["generated_at"]
    assert data["passed"] is False
    assert [(c["name"], c["status"], c["high"]) for c in data["checks"]] == [
        ("bandit", "passed", 0),
        ("dependency-audit", "failed", 1),
        ("schemathesis", "skipped", 0),
    ]
    for check in EXAMPLE_REPORT["checks"]:
        assert check["name"] in page and check["summary"] in page
        assert _in_pdf(check["name"], text)
    assert "2026-11-20 09:30 UTC" in text
    assert _in_pdf(EXAMPLE_REPORT["commit"], text)


def test_the_report_is_translated(client, report_file):
    page = _page(client, "ru")

    assert "Тесты безопасности запускались 2026-11-20 09:30 UTC" in page
    assert "не пройдена" in page


@pytest.mark.parametrize(
    ("lang", "sentence"),
    [
        ("en", "No security test report yet."),
        ("ru", "Отчёта о тестировании безопасности пока нет."),
    ],
)
def test_without_a_report_the_sheet_says_so_plainly(client, no_report, lang, sentence):
    assert sentence in _page(client, lang)
    assert _json(client, lang)["security_report"] == {
        "status": "missing",
        "text": sentence,
        "generated_at": "",
        "generated_at_display": "",
        "commit": "",
        "passed": None,
        "checks": [],
    }


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        json.dumps({**EXAMPLE_REPORT, "passed": "yes"}),
        json.dumps({**EXAMPLE_REPORT, "commit": "<script>"}),
        json.dumps({**EXAMPLE_REPORT, "generated_at": "yesterday at noon"}),
    ],
)
def test_an_unreadable_report_is_shown_as_such_not_as_an_error(client, tmp_path, settings, body):
    path = tmp_path / "security-report.json"
    path.write_text(body, encoding="utf-8")
    settings.KEEPWARM_SECURITY_REPORT_PATH = str(path)

    page = _page(client, "en")

    assert "could not be read" in page
    assert _json(client, "en")["security_report"]["status"] == "invalid"


# --- nothing from the request or the report is reflected unescaped -----------------------------

HOSTILE = '"><script>alert(1)</script>'


@pytest.mark.parametrize(
    "path", ["/security/", "/security/data-use.json", "/security/data-use.pdf"]
)
def test_a_hostile_lang_is_ignored_and_never_reflected(client, path):
    response = client.get(path, {"lang": HOSTILE})

    assert response.status_code == 200
    assert response["Content-Language"] in {"ru", "en"}
    assert b"<script>alert" not in response.content
    assert b"alert(1)" not in response.content
    assert "alert" not in response.get("Content-Disposition", "")


def test_report_text_is_escaped_on_the_page(client, tmp_path, settings):
    hostile = {
        **EXAMPLE_REPORT,
        "checks": [
            {**EXAMPLE_REPORT["checks"][0], "name": HOSTILE, "summary": "<img src=x onerror=1>"}
        ],
    }
    path = tmp_path / "security-report.json"
    path.write_text(json.dumps(hostile), encoding="utf-8")
    settings.KEEPWARM_SECURITY_REPORT_PATH = str(path)

    body = client.get("/security/?lang=en").content.decode()

    assert "<script>alert(1)</script>" not in body and "<img src=x" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
