# Two commands on a fresh machine with only Python 3.11+: `make demo` and `make test`.
# They bootstrap uv (into .tools/) and the virtualenv (.venv/) from the committed uv.lock, and
# start embedded PostgreSQL and Redis under .data/ unless DATABASE_URL / REDIS_URL are set.

PYTHON ?= python3
UV_VERSION ?= 0.13.9
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := .tools/bin/uv
endif
VENV_PY := .venv/bin/python
SERVICES := $(VENV_PY) -m config.devservices run --
ARGS ?=
PYTEST_ARGS ?=

.PHONY: demo test lint format messages services-start services-stop venv security

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

venv: $(UV)
	$(UV) sync --frozen --python $(PYTHON)

demo: venv
	$(SERVICES) $(VENV_PY) manage.py demo $(ARGS)

# pytest exits 5 when it collects no tests; make treats that as the failure it is.
# --ds: the services wrapper imports the `config` package, whose Celery app sets
# DJANGO_SETTINGS_MODULE to the dev settings for its children, and pytest-django prefers that
# variable to pyproject.toml's setting: without it the suite ran under config.settings.dev.
test: venv
	$(SERVICES) $(VENV_PY) -m pytest --ds=config.settings.test $(PYTEST_ARGS)

# Security checks (scripts/security_check.py): bandit, ruff S, the lock file against known
# vulnerabilities, Django's deploy checks, semgrep, schemathesis, tenant isolation, headers.
# Writes security-report.json and security_docs/report/security-report.json; fails if one fails.
# semgrep lives in its own environment (its pins clash with the app's), installed from hashes.
SEMGREP := .tools/semgrep/bin/semgrep

$(SEMGREP): scripts/requirements-semgrep.txt | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) .tools/semgrep
	$(UV) pip install --quiet --python .tools/semgrep/bin/python --require-hashes \
		-r scripts/requirements-semgrep.txt
	touch $(SEMGREP)

security: venv $(SEMGREP)
	UV=$(UV) $(SERVICES) $(VENV_PY) scripts/security_check.py $(ARGS)

lint: venv
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format: venv
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

messages: venv
	$(VENV_PY) manage.py makemessages -l ru -l en --ignore=.venv --ignore=.data --ignore=tests
	$(VENV_PY) manage.py compilemessages --ignore=.venv

services-start: venv
	$(VENV_PY) -m config.devservices start

services-stop: venv
	$(VENV_PY) -m config.devservices stop
