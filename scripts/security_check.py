"""`make security`: run every security check, write security-report.json, fail if one fails.

    python scripts/security_check.py [--only NAME ...] [--skip NAME ...]

Checks (each one a line of the report):
  bandit             bandit over our code; no high-severity finding allowed
  ruff-security      ruff's flake8-bandit (S) rules as configured in pyproject; none allowed
  dependencies       every locked version (uv.lock and the semgrep tool's pins) against the
                     offline PyPA advisory database snapshot (../shared/advisory-db, or
                     KEEPWARM_ADVISORY_DB) and, where PyPI's JSON API answers, pip-audit
  deploy-checks      manage.py check --deploy --fail-level WARNING on the production settings
  semgrep            the project's rules in .semgrep/ (no raw HTTP to Bitrix24 outside the
                     client, timeouts, no |safe / mark_safe on data, no SQL string formatting)
  schemathesis       every API operation, valid and invalid input: no 5xx (tests/security)
  tenant-isolation   every served route, portal A's principals against portal B (tests/security)
  response-headers   CSP frame-ancestors, HSTS, nosniff, Referrer-Policy, cookie flags, no
                     server version, under the production settings (tests/security)

The last three need PostgreSQL and Redis (DATABASE_URL / REDIS_URL; the Makefile starts the
embedded servers when they are unset). The report goes to security-report.json at the
repository root and to security_docs/report/security-report.json, which the data-use sheet
shows.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORTS = (
    ROOT / "security-report.json",
    ROOT / "security_docs" / "report" / "security-report.json",
)
OUR_CODE = ["config", "tenants", "crm_sync", "assistants", "analytics", "security_docs", "sandbox"]
SEMGREP_TARGETS = [*OUR_CODE, "templates", "scripts"]
SEMGREP_REQUIREMENTS = ROOT / "scripts" / "requirements-semgrep.txt"
PYTEST_CHECKS = {
    "schemathesis": "tests.security.test_api_fuzz",
    "tenant-isolation": "tests.security.test_isolation",
    "response-headers": "tests.security.test_headers",
}


@dataclass
class Result:
    name: str
    status: str  # passed | failed | skipped
    summary: str
    high: int = 0
    medium: int = 0
    low: int = 0
    details: list[str] = field(default_factory=list)  # printed, not written to the report

    def as_report(self) -> dict:
        return {
            "name": self.name,
            "status": self.status,
            "summary": self.summary[:2000],
            "findings": {"high": self.high, "medium": self.medium, "low": self.low},
        }


def run(command: list[str], *, timeout: int, env: dict | None = None, cwd: Path = ROOT):
    """Run a tool; never raises for its exit code (the caller reads it)."""
    return subprocess.run(  # noqa: S603 - fixed argument lists, no shell
        command,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _tail(text: str, lines: int = 15) -> list[str]:
    return text.strip().splitlines()[-lines:]


# --- bandit and ruff ----------------------------------------------------------------------------


def check_bandit() -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bandit.json"
        proc = run(
            [
                *(sys.executable, "-m", "bandit", "-c", "pyproject.toml", "-r"),
                *(*OUR_CODE, "scripts"),
                *("-f", "json", "-o", str(out), "-q"),
            ],
            timeout=600,
        )
        if not out.exists():
            return Result("bandit", "failed", "bandit did not run.", details=_tail(proc.stderr))
        data = json.loads(out.read_text())
    counts = {"HIGH": 0, "MEDIUM": 0, "LOW": 0}
    details = []
    for issue in data.get("results", []):
        counts[issue["issue_severity"]] = counts.get(issue["issue_severity"], 0) + 1
        if issue["issue_severity"] == "HIGH":
            details.append(
                f"{issue['filename']}:{issue['line_number']} {issue['test_id']} "
                f"{issue['issue_text']}"
            )
    errors = data.get("errors", [])
    totals = data.get("metrics", {}).get("_totals", {})
    status = "passed" if counts["HIGH"] == 0 and not errors else "failed"
    summary = (
        f"bandit {_version('bandit')} over {', '.join(OUR_CODE)}, scripts "
        f"({totals.get('loc', 0)} lines): {counts['HIGH']} high, {counts['MEDIUM']} medium, "
        f"{counts['LOW']} low severity; {int(totals.get('nosec', 0))} suppressed with # nosec. "
        "High severity fails the check; medium and low are reviewed, not blocking."
    )
    if errors:
        summary += f" {len(errors)} files could not be scanned."
        details += [f"{e.get('filename')}: {e.get('reason')}" for e in errors]
    return Result(
        "bandit", status, summary, counts["HIGH"], counts["MEDIUM"], counts["LOW"], details
    )


def check_ruff_security() -> Result:
    proc = run([sys.executable, "-m", "ruff", "check", "--output-format", "json", "."], timeout=300)
    try:
        findings = json.loads(proc.stdout or "[]")
    except json.JSONDecodeError:
        return Result("ruff-security", "failed", "ruff did not run.", details=_tail(proc.stderr))
    security = [f for f in findings if (f.get("code") or "").startswith("S")]
    details = [
        f"{Path(f['filename']).relative_to(ROOT)}:{f['location']['row']} {f['code']} {f['message']}"
        for f in security
    ]
    summary = (
        f"ruff {_version('ruff')} with the flake8-bandit (S) rules enabled in pyproject.toml over "
        f"the whole repository: {len(security)} findings. ruff has no severities: every finding "
        "not justified by a per-file ignore or an inline noqa fails the check (counted as high)."
    )
    status = "passed" if not security else "failed"
    return Result("ruff-security", status, summary, high=len(security), details=details)


# --- dependencies -------------------------------------------------------------------------------


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_packages() -> dict[str, set[str]]:
    """name -> versions, from uv.lock (every group and platform) and the semgrep tool's pins."""
    packages: dict[str, set[str]] = {}
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    for package in lock.get("package", []):
        source = package.get("source", {})
        if "version" not in package or "virtual" in source or "editable" in source:
            continue  # the project itself
        packages.setdefault(_normalise(package["name"]), set()).add(package["version"])
    if SEMGREP_REQUIREMENTS.exists():
        for line in SEMGREP_REQUIREMENTS.read_text().splitlines():
            match = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)", line)
            if match:
                packages.setdefault(_normalise(match[1]), set()).add(match[2])
    return packages


@dataclass
class AdvisoryDb:
    path: Path
    commit: str
    date: str


def advisory_db() -> AdvisoryDb | None:
    path = Path(os.environ.get("KEEPWARM_ADVISORY_DB", ROOT.parent / "shared" / "advisory-db"))
    if not (path / "vulns").is_dir():
        return None
    readme = (path / "README.md").read_text() if (path / "README.md").exists() else ""
    commit = re.search(r"commit\s+([0-9a-f]{7,40})", readme)
    dated = re.search(r"dated\s+(\d{4}-\d{2}-\d{2})", readme)
    date = dated[1] if dated else ""
    if not date:  # no README date: the newest modification of any advisory
        stamps = [
            m[1]
            for f in (path / "vulns").rglob("*.yaml")
            if (m := re.search(r"^modified:\s*(\S+)", f.read_text(), re.M))
        ]
        date = max(stamps)[:10] if stamps else "unknown"
    return AdvisoryDb(path, commit[1] if commit else "unknown", date)


def _affected(version: str, affected: dict) -> bool:
    from packaging.version import InvalidVersion, Version

    if version in {str(v) for v in affected.get("versions", []) or []}:
        return True
    try:
        mine = Version(version)
    except InvalidVersion:
        return False

    def key(event: dict):
        raw = next(iter(event.values()))
        try:
            return Version("0") if raw == "0" else Version(str(raw))
        except InvalidVersion:
            return Version("0")

    for rng in affected.get("ranges", []) or []:
        if rng.get("type") != "ECOSYSTEM":
            continue
        hit = False
        for event in sorted(rng.get("events", []), key=key):
            kind, bound = next(iter(event)), key(event)
            if kind == "introduced":
                hit = hit or mine >= bound
            elif kind in {"fixed", "limit"}:
                hit = hit and mine < bound
            elif kind == "last_affected":
                hit = hit and mine <= bound
        if hit:
            return True
    return False


def offline_matches(db: AdvisoryDb, packages: dict[str, set[str]]) -> list[str]:
    import yaml

    directories = {_normalise(d.name): d for d in (db.path / "vulns").iterdir() if d.is_dir()}
    matches = []
    for name, versions in sorted(packages.items()):
        directory = directories.get(name)
        if directory is None:
            continue
        for advisory_file in sorted(directory.glob("*.y*ml")):
            advisory = yaml.safe_load(advisory_file.read_text())
            if not advisory or advisory.get("withdrawn"):
                continue
            for affected in advisory.get("affected", []) or []:
                package = affected.get("package", {})
                if (
                    package.get("ecosystem") != "PyPI"
                    or _normalise(package.get("name", "")) != name
                ):
                    continue
                for version in sorted(versions):
                    if _affected(version, affected):
                        aliases = ", ".join(advisory.get("aliases", []) or [])
                        matches.append(f"{name} {version}: {advisory['id']} {aliases}".strip())
    return sorted(set(matches))


def _uv() -> str:
    return os.environ.get("UV") or shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")


def pip_audit() -> tuple[str, int, list[str]]:
    """(what happened, vulnerabilities found, details); PyPI's JSON API may not answer here."""
    dependencies: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        requirements = Path(tmp) / "requirements.txt"
        export = run(
            [
                *(_uv(), "export", "--frozen", "--format", "requirements-txt"),
                *(
                    "--all-groups",
                    "--no-emit-project",
                    "--no-header",
                    "-q",
                    "-o",
                    str(requirements),
                ),
            ],
            timeout=120,
        )
        if export.returncode != 0:
            return "not run: uv export failed", 0, _tail(export.stderr)
        files = [requirements]
        if SEMGREP_REQUIREMENTS.exists():
            files.append(SEMGREP_REQUIREMENTS)
        for index, requirements_file in enumerate(files):  # one run each: they share packages
            out = Path(tmp) / f"audit-{index}.json"
            audit = run(
                [
                    *(sys.executable, "-m", "pip_audit", "-r", str(requirements_file)),
                    *("--require-hashes", "--disable-pip", "-s", "pypi", "-f", "json"),
                    *("-o", str(out), "--progress-spinner", "off", "--timeout", "20"),
                ],
                timeout=600,
            )
            if not out.exists():
                return "unavailable (pip-audit did not finish)", 0, _tail(audit.stderr)
            dependencies += json.loads(out.read_text() or "{}").get("dependencies", [])
    answered = [d for d in dependencies if not d.get("skip_reason")]
    vulns = [
        f"{d['name']} {d.get('version')}: {v['id']} "
        f"(fixed in {', '.join(v.get('fix_versions', [])) or 'no release yet'})"
        for d in dependencies
        for v in d.get("vulns", [])
    ]
    if not answered:
        return (
            f"unavailable here: PyPI's JSON API answered for 0 of {len(dependencies)} packages",
            0,
            [],
        )
    return (
        f"PyPI's JSON API answered for {len(answered)} of {len(dependencies)} packages, "
        f"{len(vulns)} known vulnerabilities",
        len(vulns),
        vulns,
    )


def check_dependencies() -> Result:
    packages = locked_packages()
    versions = sum(len(v) for v in packages.values())
    db = advisory_db()
    audit_said, audit_vulns, audit_details = pip_audit()
    details = [f"pip-audit: {d}" for d in audit_details]
    if db is None:
        offline = []
        offline_said = "the offline PyPA advisory database snapshot was not found"
    else:
        offline = offline_matches(db, packages)
        offline_said = (
            f"{len(offline)} known-vulnerable against the PyPA advisory database snapshot "
            f"(commit {db.commit[:12]}, dated {db.date}; advisories published after that date "
            "are not covered)"
        )
        details += [f"advisory-db: {m}" for m in offline]
    consulted = db is not None or not audit_said.startswith(("unavailable", "not run"))
    vulnerable = len(offline) + audit_vulns
    # With no vulnerability data at all (no snapshot, no PyPI answer) the check is skipped, and
    # says so on the sheet, rather than failing a build for want of data or claiming a pass.
    status = "failed" if vulnerable else "passed" if consulted else "skipped"
    summary = (
        f"{versions} locked versions of {len(packages)} packages (uv.lock, every group and "
        f"platform, plus the semgrep tool's pins): {offline_said}; pip-audit: {audit_said}."
    )
    if not consulted:
        summary += " No vulnerability data could be consulted, so nothing is claimed."
    return Result("dependencies", status, summary, high=vulnerable, details=details)


# --- Django's deploy checks -----------------------------------------------------------------------


def check_deploy() -> Result:
    from cryptography.fernet import Fernet

    throwaway = {  # safe values that exist only for this run
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "keepwarm.example",
        "KEEPWARM_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "BITRIX_CLIENT_ID": "app.keepwarm.security-check",
        "BITRIX_CLIENT_SECRET": secrets.token_urlsafe(24),
    }
    proc = run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=throwaway,
        timeout=300,
    )
    output = proc.stdout + proc.stderr
    issues = re.findall(r"^\S*: \(([\w.]+)\.([EWICD])\d+\)", output, re.M)
    high = sum(1 for _, level in issues if level in {"E", "C"})
    medium = sum(1 for _, level in issues if level == "W")
    low = sum(1 for _, level in issues if level in {"I", "D"})
    silenced = re.search(r"\((\d+) silenced\)", output)
    status = "passed" if proc.returncode == 0 else "failed"
    summary = (
        "manage.py check --deploy --fail-level WARNING with config.settings.production and "
        f"throwaway secrets: {len(issues)} issues ({high} errors, {medium} warnings), "
        f"{silenced[1] if silenced else 0} silenced."
    )
    return Result("deploy-checks", status, summary, high, medium, low, _tail(output, 30))


# --- semgrep ------------------------------------------------------------------------------------


def _semgrep() -> str | None:
    candidate = os.environ.get("KEEPWARM_SEMGREP") or str(ROOT / ".tools/semgrep/bin/semgrep")
    return candidate if Path(candidate).exists() else shutil.which("semgrep")


def check_semgrep() -> Result:
    semgrep = _semgrep()
    if semgrep is None:
        return Result("semgrep", "failed", "semgrep is not installed (make security installs it).")
    rules = sorted(p.name for p in (ROOT / ".semgrep").glob("*.y*ml"))
    proc = run(
        [
            *(semgrep, "scan", "--config", ".semgrep", "--metrics=off", "--disable-version-check"),
            *("--error", "--json", "--quiet", *SEMGREP_TARGETS),
        ],
        timeout=900,
        env={"SEMGREP_SEND_METRICS": "off", "SEMGREP_ENABLE_VERSION_CHECK": "0"},
    )
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return Result("semgrep", "failed", "semgrep did not run.", details=_tail(proc.stderr))
    levels = {"ERROR": 0, "WARNING": 0, "INFO": 0}
    details = []
    for finding in data.get("results", []):
        level = finding["extra"].get("severity", "ERROR")
        levels[level] = levels.get(level, 0) + 1
        details.append(
            f"{finding['path']}:{finding['start']['line']} {finding['check_id'].split('.')[-1]}"
        )
    errors = data.get("errors", [])
    details += [f"error: {e.get('message', e)}"[:300] for e in errors]
    rule_count = sum(
        len(re.findall(r"^\s+- id: ", (ROOT / ".semgrep" / r).read_text(), re.M)) for r in rules
    )
    scanned = len(data.get("paths", {}).get("scanned", []))
    total = sum(levels.values())
    status = "passed" if proc.returncode == 0 and total == 0 and not errors else "failed"
    summary = (
        f"semgrep {data.get('version', '')} with the {rule_count} project rules in "
        f".semgrep/ ({', '.join(rules)}) over {scanned} files: {total} findings"
        f"{f', {len(errors)} errors' if errors else ''}. Rules: no raw HTTP outside the Bitrix24 "
        "client, a timeout on every outbound call, no mark_safe/|safe on data, no SQL string "
        "formatting into cursor.execute."
    )
    return Result(
        "semgrep", status, summary, levels["ERROR"], levels["WARNING"], levels["INFO"], details
    )


# --- the pytest-based checks --------------------------------------------------------------------


def check_pytest_suites(names: list[str]) -> list[Result]:
    modules = [PYTEST_CHECKS[n] for n in names]
    files = [m.replace(".", "/") + ".py" for m in modules]
    examples = os.environ.get("KEEPWARM_FUZZ_EXAMPLES", "50")
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "junit.xml"
        stats = Path(tmp) / "fuzz.json"
        started = time.monotonic()
        proc = run(
            [
                *(sys.executable, "-m", "pytest", *files, "-p", "no:cacheprovider", "-q"),
                *("--junitxml", str(junit), "-o", "junit_family=xunit2"),
            ],
            env={"KEEPWARM_FUZZ_EXAMPLES": examples, "KEEPWARM_FUZZ_STATS": str(stats)},
            timeout=2400,
        )
        elapsed = time.monotonic() - started
        fuzz = json.loads(stats.read_text()) if stats.exists() else None
        cases = _junit_cases(junit) if junit.exists() else []
    if not cases:
        tail = _tail(proc.stdout + proc.stderr, 25)
        return [Result(n, "failed", "pytest did not run the tests.", details=tail) for n in names]
    results = []
    for name, module in zip(names, modules, strict=True):
        mine = [c for c in cases if c["module"] == module]
        passed = sum(1 for c in mine if c["outcome"] == "passed")
        failed = [c for c in mine if c["outcome"] in {"failed", "error"}]
        skipped = sum(1 for c in mine if c["outcome"] == "skipped")
        status = "failed" if failed or not mine else ("passed" if passed else "skipped")
        counts = f"{passed} passed, {len(failed)} failed, {skipped} skipped"
        summary = SUITE_SUMMARY[name](mine, counts, fuzz, examples)
        details = [f"{c['name']}: {c['message'][:400]}" for c in failed]
        results.append(Result(name, status, summary, high=len(failed), details=details))
    print(f"  (pytest over {', '.join(files)} took {elapsed:.0f}s)")
    return results


def _junit_cases(path: Path) -> list[dict]:
    cases = []
    for case in ET.parse(path).iter("testcase"):  # noqa: S314 - our own pytest's output
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                message = node.get("message") or (node.text or "")
                break
        cases.append(
            {
                "module": case.get("classname", ""),
                "name": case.get("name", ""),
                "outcome": outcome,
                "message": message,
            }
        )
    return cases


def _params(cases: list[dict], test: str) -> set[str]:
    return {
        c["name"].split("[", 1)[1].rstrip("]") for c in cases if c["name"].startswith(test + "[")
    }


def _isolation_summary(cases, counts, fuzz, examples) -> str:
    portal_routes = _params(cases, "test_portal_a_principals_see_and_change_only_portal_a")
    open_routes = _params(cases, "test_public_routes_reveal_no_portal_data")
    return (
        f"{counts}. Every served URL pattern is in the coverage table (a new route without an "
        f"entry fails); {len(portal_routes)} portal API routes probed as portal A's API token, "
        "iframe token, client-admin session and a two-portal user's session against portal B's "
        "rows (403/404 on B's objects, lists and aggregates without B's rows, writes only in A); "
        "the same routes refuse anonymous callers, vendor staff without a membership, forged "
        f"tokens and uninstalled portals; {len(open_routes)} public and Bitrix24 routes reveal no "
        "portal data and verify the portal first; every back-office route refuses portal "
        "principals."
    )


def _fuzz_summary(cases, counts, fuzz, examples) -> str:
    if not fuzz:
        return f"{counts}; schemathesis statistics missing."
    return (
        f"{counts}. schemathesis {fuzz['version']} in-process against the WSGI app with a real "
        f"API token of a throwaway portal: {fuzz['operations_tested']} of "
        f"{fuzz['operations']} operations, {fuzz['requests']} requests (examples, coverage, "
        f"fuzzing with positive and negative data at {examples} examples per operation and "
        f"mode, stateful), {fuzz['server_errors']} answers with a 5xx status."
    )


def _headers_summary(cases, counts, fuzz, examples) -> str:
    return (
        f"{counts}. Production settings via the Django test client: /security/, "
        "/security/data-use.json, /api/docs/, /api/schema/, /healthz, /api/v1/portal/, "
        "/admin/login/, /accounts/login/, /i18n/setlang/ and /b24/app/ send a CSP with "
        "frame-ancestors 'none' (the Bitrix24 app page: https://<its portal> only) and no inline "
        "scripts without the nonce, HSTS (1 year, subdomains, preload), nosniff, "
        "Referrer-Policy, no server version; cookies Secure and HttpOnly, session SameSite=Lax, "
        "CSRF and language SameSite=None for the iframe; plain HTTP redirects to HTTPS."
    )


SUITE_SUMMARY: dict[str, Callable] = {
    "schemathesis": _fuzz_summary,
    "tenant-isolation": _isolation_summary,
    "response-headers": _headers_summary,
}


# --- the report -----------------------------------------------------------------------------------


def _version(module: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(module)
    except PackageNotFoundError:
        return ""


def _commit() -> str:
    git = shutil.which("git")
    if git is None:
        return "unknown"
    proc = run([git, "rev-parse", "HEAD"], timeout=30)
    sha = proc.stdout.strip()
    return sha if proc.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}", sha) else "unknown"


STANDALONE: dict[str, Callable[[], Result]] = {
    "bandit": check_bandit,
    "ruff-security": check_ruff_security,
    "dependencies": check_dependencies,
    "deploy-checks": check_deploy,
    "semgrep": check_semgrep,
}
ORDER = [*STANDALONE, *PYTEST_CHECKS]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=ORDER, default=None)
    parser.add_argument("--skip", nargs="+", choices=ORDER, default=[])
    args = parser.parse_args(argv)
    selected = [n for n in ORDER if (args.only is None or n in args.only) and n not in args.skip]

    results: list[Result] = []
    for name in selected:
        if name in STANDALONE:
            print(f"• {name} …", flush=True)
            results.append(STANDALONE[name]())
    suites = [n for n in selected if n in PYTEST_CHECKS]
    if suites:
        print(f"• {', '.join(suites)} (pytest) …", flush=True)
        results.extend(check_pytest_suites(suites))
    for name in ORDER:
        if name not in selected:
            results.append(Result(name, "skipped", "Not run (--only/--skip)."))
    results.sort(key=lambda r: ORDER.index(r.name))

    report = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "passed": all(r.status != "failed" for r in results),
        "checks": [r.as_report() for r in results],
    }
    # A partial run (--only/--skip) never replaces the report the data-use sheet publishes.
    targets = REPORTS if len(selected) == len(ORDER) else REPORTS[:1]
    for path in targets:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")

    print()
    for r in results:
        print(f"{r.status.upper():7} {r.name:17} high={r.high} medium={r.medium} low={r.low}")
        print(f"        {r.summary}")
        for line in r.details[:20]:
            print(f"          {line}")
    passed = sum(1 for r in results if r.status == "passed")
    failed = sum(1 for r in results if r.status == "failed")
    skipped = sum(1 for r in results if r.status == "skipped")
    print(f"\nReport: {', '.join(str(p.relative_to(ROOT)) for p in targets)}")
    print(f"security: {passed} passed, {failed} failed, {skipped} skipped")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
