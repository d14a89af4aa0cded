# bluegreen: zero-downtime blue-green deployments. `make` alone lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON ?= python3
VENV := .venv
TOOLS := .tools
PY := $(VENV)/bin/python
BG := $(PY) scripts/bluegreen.py
# Terraform: the one on PATH when it matches .terraform-version, else the pinned 1.0.3 from .tools
# (syntax-level checks only). scripts/terraform-bin prints the path it chose.
TERRAFORM = $(shell scripts/terraform-bin)

ENV ?=
VERSION ?=
COLOR ?=
CAPACITY ?=
ARGS ?=

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# ---------------------------------------------------------------------------------------------------
# Setup: two virtualenvs from hash-pinned lock files. Stamps make a second run a no-op.
# ---------------------------------------------------------------------------------------------------
.PHONY: setup
setup: $(VENV)/.stamp $(TOOLS)/.stamp ## Create .venv (runtime + dev) and .tools (checkov, terraform); idempotent

$(VENV)/.stamp: requirements/dev.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements/dev.lock
	@touch $@

$(TOOLS)/.stamp: requirements/tools.lock requirements/terraform.lock
	@test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements/tools.lock
	HOME=$(CURDIR)/$(TOOLS)/home $(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements/terraform.lock
	scripts/install-null-provider $(TOOLS)
	@touch $@

.PHONY: lock
lock: ## Re-resolve the lock files (needs the registry; run after editing pyproject.toml or requirements/*.in)
	$(PYTHON) -m venv $(TOOLS)/uv && $(TOOLS)/uv/bin/pip install --quiet uv==0.13.8
	$(TOOLS)/uv/bin/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements/dev.lock
	$(TOOLS)/uv/bin/uv pip compile requirements/tools.in --generate-hashes --python-version 3.11 -o requirements/tools.lock
	$(TOOLS)/uv/bin/uv pip compile requirements/terraform.in --generate-hashes --python-version 3.11 -o requirements/terraform.lock

# ---------------------------------------------------------------------------------------------------
# Quality gates
# ---------------------------------------------------------------------------------------------------
.PHONY: test
test: lint typecheck pytest tf-check ## Everything CI runs: lint, mypy, pytest, terraform fmt, checkov

.PHONY: lint
lint: ## ruff check and ruff format --check
	$(VENV)/bin/ruff check scripts tests
	$(VENV)/bin/ruff format --check scripts tests

.PHONY: fmt
fmt: ## Format Python (ruff) and Terraform (terraform fmt) in place
	$(VENV)/bin/ruff check --fix scripts tests
	$(VENV)/bin/ruff format scripts tests
	$(TERRAFORM) fmt -recursive terraform/

.PHONY: typecheck
typecheck: ## mypy --strict over the package
	$(VENV)/bin/mypy

.PHONY: pytest
pytest: ## The pytest suite (moto sandbox, contract tests, terraform adapter)
	BLUEGREEN_TERRAFORM=$(TERRAFORM) BLUEGREEN_TF_PLUGIN_DIR=$(CURDIR)/$(TOOLS)/plugins $(VENV)/bin/pytest -q $(ARGS)

.PHONY: tf-check
tf-check: tf-fmt checkov ## Static Terraform checks: fmt -check and checkov (the contract suite runs in pytest)

.PHONY: tf-fmt
tf-fmt:
	@echo "terraform fmt -check ($(TERRAFORM))"
	$(TERRAFORM) fmt -check -recursive -diff terraform/

.PHONY: checkov
checkov:
	$(TOOLS)/bin/checkov --quiet --compact --framework terraform -d terraform/ --download-external-modules false --skip-download

.PHONY: tf-validate
tf-validate: ## terraform init -backend=false && validate for every root (needs the AWS provider)
	scripts/tf-validate
