# One front door for humans and CI: `make up` starts the local stack, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install up test lint typecheck unit bench asyncapi natsauth deadletters clean

install: $(INSTALLED)

# Re-install when the dependency pins change; requirements.lock pins the transitive ones too.
$(INSTALLED): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(INSTALLED)

up: install
	$(BIN)/python -m devstack up

test: lint typecheck
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check --no-cache .
	$(BIN)/ruff format --no-cache --check .

typecheck: install
	$(BIN)/mypy

bench: install
	mkdir -p var/bench
	$(BIN)/python -m bench.invitations --json var/bench/invitations.json
	$(BIN)/python -m bench.answers --json var/bench/answers.json
	$(BIN)/python -m bench.views --json var/bench/views.json
	$(BIN)/python -m bench.register --json var/bench/register.json

asyncapi: install
	$(BIN)/python -m infra.asyncapi docs/asyncapi

# The production NATS users and permissions, derived from the code (make up writes its own).
natsauth: install
	$(BIN)/python -m infra.natsauth deploy/nats

# Dead letters of the local stack (make up), read as its ops user.
deadletters: install
	$(BIN)/python -m devstack deadletters list

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
