"""The registry-equals-usage comparison itself (the suite runs it over real sandbox records)."""

from crm_sync.bitrix.registry import declared_methods
from tests.registry_usage import registry_usage_problems

APP = "app.keepwarm.demo"


def _everything_declared() -> list[dict]:
    return [
        {
            "principal": APP,
            "method": spec.name,
            "fields": [pattern.replace("*", "X") for pattern in spec.fields],
            "params": [],
        }
        for spec in declared_methods()
    ]


def test_usage_equal_to_the_registry_has_no_problems():
    assert registry_usage_problems(_everything_declared(), principal=APP) == []


def test_an_undeclared_method_or_field_is_a_problem():
    usage = [
        *_everything_declared(),
        {"principal": APP, "method": "crm.contact.list", "fields": ["PHONE"], "params": []},
        {"principal": APP, "method": "crm.lead.productrows.get", "fields": [], "params": ["id"]},
    ]
    problems = registry_usage_problems(usage, principal=APP)
    assert "crm.contact.list.PHONE: sent, but not declared" in problems
    assert "crm.lead.productrows.get: called, but not in the registry" in problems


def test_a_declared_but_unused_entry_is_a_problem():
    usage = _everything_declared()
    dropped = usage.pop()
    usage[0]["fields"] = usage[0]["fields"][1:]
    problems = registry_usage_problems(usage, principal=APP)
    assert any(p.startswith(f"{dropped['method']}: declared, but no test") for p in problems)
    assert any("declared, but never sent or received" in p for p in problems)


def test_calls_of_other_principals_do_not_count():
    usage = [*_everything_declared(),
             {"principal": "webhook:1", "method": "crm.contact.list", "fields": ["PHONE"],
              "params": []}]  # fmt: skip
    assert registry_usage_problems(usage, principal=APP) == []
