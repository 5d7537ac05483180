"""The pieces of scripts/security_check.py that decide a verdict on their own."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(scope="module")
def check():
    spec = importlib.util.spec_from_file_location(
        "security_check", ROOT / "scripts" / "security_check.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def _osv(*events, versions=()):
    return {
        "package": {"ecosystem": "PyPI", "name": "x"},
        "ranges": [{"type": "ECOSYSTEM", "events": list(events)}],
        "versions": list(versions),
    }


@pytest.mark.parametrize(
    ("version", "affected"),
    [
        ("4.1.9", False),
        ("4.2", True),
        ("4.2.14", True),
        ("4.2.15", False),
        ("5.0.7", True),
        ("5.0.8", False),
        ("5.2.19", False),
    ],
)
def test_osv_ranges_are_read_in_version_order(check, version, affected):
    # Events as the PyPA database lists them: not sorted (django's PYSEC-2024-70).
    advisory = _osv(
        {"introduced": "5.0"}, {"fixed": "5.0.8"}, {"introduced": "4.2"}, {"fixed": "4.2.15"}
    )

    assert check._affected(version, advisory) is affected


def test_osv_last_affected_and_explicit_versions(check):
    advisory = _osv({"introduced": "0"}, {"last_affected": "1.2"})

    assert check._affected("1.2", advisory)
    assert not check._affected("1.2.1", advisory)
    assert check._affected("9.9", _osv(versions=["9.9"]))


def test_the_locked_packages_come_from_uv_lock_and_the_semgrep_pins(check):
    packages = check.locked_packages()

    assert "django" in packages and "semgrep" in packages
    assert "keepwarm" not in packages  # the project itself is not a dependency


def test_a_report_matches_the_schema_the_sheet_reads(check):
    from security_docs.schema import REPORT_SCHEMA

    result = check.Result("bandit", "passed", "0 high", high=0, medium=3, low=1)
    report = {
        "generated_at": "2026-01-01T00:00:00+00:00",
        "commit": "0" * 40,
        "passed": True,
        "checks": [result.as_report()],
    }

    jsonschema.validate(report, REPORT_SCHEMA)
