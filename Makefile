# bluegreen: zero-downtime blue-green deployments. `make` alone lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON ?= python3
VENV := .venv
TOOLS := .tools
PY := $(VENV)/bin/python
BG := $(PY) scripts/bluegreen.py $(if $(REGION),--region $(REGION))
# Terraform: the one on PATH when it matches .terraform-version, else the pinned 1.0.3 from .tools
# (syntax-level checks only). scripts/terraform-bin prints the path it chose.
TERRAFORM = $(shell scripts/terraform-bin)
# Every terraform the project runs uses the project's CLI configuration (bgctl.tfconfig): providers
# from a filesystem mirror when one holds hashicorp/aws, else from the registry. Target `tfrc` writes it.
TFRC := $(CURDIR)/.bluegreen/terraformrc
TFENV = TF_CLI_CONFIG_FILE=$(TFRC) CHECKPOINT_DISABLE=1

ENV ?=
BASE_SHA ?=
HEAD_SHA ?=
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
setup: $(VENV)/.stamp $(TOOLS)/.stamp $(VENV)/bin/bluegreen ## Create .venv (runtime + dev, the bluegreen command) and .tools (checkov, terraform); idempotent

$(VENV)/bin/bluegreen: $(VENV)/.stamp scripts/install-launcher
	@scripts/install-launcher $(VENV)

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
test: setup lint typecheck pytest tf-check ## Everything CI runs (sets itself up first): lint, mypy, pytest, terraform fmt + validate, checkov

.PHONY: lint
lint: ## ruff check and ruff format --check
	$(VENV)/bin/ruff check scripts tests
	$(VENV)/bin/ruff format --check scripts tests

.PHONY: fmt
fmt: tfrc ## Format Python (ruff) and Terraform (terraform fmt) in place
	$(VENV)/bin/ruff check --fix scripts tests
	$(VENV)/bin/ruff format scripts tests
	$(TFENV) $(TERRAFORM) fmt -recursive terraform/

.PHONY: typecheck
typecheck: ## mypy --strict over the package
	$(VENV)/bin/mypy

.PHONY: pytest
pytest: tfrc ## The pytest suite (moto sandbox, contract tests, terraform adapter, Terraform e2e where possible)
	$(TFENV) BLUEGREEN_TERRAFORM=$(TERRAFORM) BLUEGREEN_TF_PLUGIN_DIR=$(CURDIR)/$(TOOLS)/plugins $(VENV)/bin/pytest -q $(ARGS)

.PHONY: soak
soak: ## Model-based safety soak: SOAK cases (default 100) of STEPS steps (default 10); prints the counts
	BLUEGREEN_SOAK_EXAMPLES=$(or $(SOAK),100) BLUEGREEN_SOAK_STEPS=$(or $(STEPS),10) \
		$(VENV)/bin/pytest -q -s -p no:cacheprovider tests/test_model.py

.PHONY: tf-check
tf-check: tf-fmt tf-validate checkov ## Terraform checks: fmt -check, validate (with the AWS provider), checkov

.PHONY: tfrc
tfrc:
	@PYTHONPATH=scripts $(PY) -m bgctl.tfconfig >/dev/null

.PHONY: tf-fmt
tf-fmt: tfrc
	@echo "terraform fmt -check ($(TERRAFORM))"
	$(TFENV) $(TERRAFORM) fmt -check -recursive -diff terraform/

# A region's shared root (terraform/shared-<region>) is scanned on its own: in one scan with terraform/shared,
# checkov's graph links the ALB of one to the security groups of the other (same addresses, same file)
# and reports the other's groups as attached to nothing (CKV2_AWS_5).
CHECKOV = $(TOOLS)/bin/checkov --quiet --compact --framework terraform --download-external-modules false --skip-download

.PHONY: checkov
checkov:
	$(CHECKOV) -d terraform/ --skip-path shared-
	@for dir in terraform/shared-*/; do [ -f "$$dir/main.tf" ] || continue; echo "checkov $$dir"; $(CHECKOV) -d "$$dir"; done

# ---------------------------------------------------------------------------------------------------
# Operations (ENV= is required; nothing defaults to an environment)
# ---------------------------------------------------------------------------------------------------
define need
$(if $($(1)),,$(error $(1)= is required, e.g. make $@ $(1)=$(2)))
endef

.PHONY: status
status: ## Status of ENV (or every env with ENV unset): make status ENV=beta [ARGS=--detailed]
	$(BG) $(if $(ENV),--env $(ENV) status,status --all) $(ARGS)

.PHONY: history
history: ## The last operations of ENV (or every env with ENV unset): make history ENV=beta
	$(BG) $(if $(ENV),--env $(ENV) history,history --all) $(ARGS)

.PHONY: validate
validate: ## Check ENV's wiring and that color file, SSM and load balancer agree
	$(call need,ENV,beta)
	$(BG) --env $(ENV) validate $(ARGS)

.PHONY: deploy
deploy: ## Deploy VERSION to ENV's inactive color and switch: make deploy ENV=beta VERSION=gh-123 [CAPACITY=N]
	$(call need,ENV,beta)
	$(call need,VERSION,gh-123)
	$(BG) --env $(ENV) deploy $(VERSION) $(if $(CAPACITY),--capacity $(CAPACITY)) $(ARGS)

.PHONY: switch
switch: ## Move ENV's traffic to COLOR between health gates: make switch ENV=prod COLOR=blue
	$(call need,ENV,prod)
	$(call need,COLOR,blue)
	$(BG) --env $(ENV) switch $(COLOR) $(ARGS)

.PHONY: rollback
rollback: ## Switch ENV back to the previous (still warm) color
	$(call need,ENV,beta)
	$(BG) --env $(ENV) rollback $(ARGS)

.PHONY: cleanup
cleanup: ## Scale ENV's inactive color to zero
	$(call need,ENV,beta)
	$(BG) --env $(ENV) cleanup $(ARGS)

.PHONY: shutdown
shutdown: ## Stop every instance of ENV (asks you to type the name)
	$(call need,ENV,beta)
	$(BG) --env $(ENV) shutdown $(ARGS)

.PHONY: recover
recover: ## Complete or undo ENV's interrupted operation from its journal
	$(call need,ENV,beta)
	$(BG) --env $(ENV) recover $(ARGS)

.PHONY: plan
plan: ## Plan summary first, then the full plan: make plan ENV=prod [COLOR=green]
	$(call need,ENV,prod)
	$(BG) --env $(ENV) plan $(if $(COLOR),--color $(COLOR)) $(ARGS)

.PHONY: apply
apply: ## Apply ENV's root as committed; with BASE_SHA/HEAD_SHA (CI) traffic moves only if that push changed its color file
	$(call need,ENV,prod)
	$(BG) --env $(ENV) apply $(if $(HEAD_SHA),--base-sha '$(BASE_SHA)' --head-sha '$(HEAD_SHA)') $(ARGS)

.PHONY: shared-apply
shared-apply: ## Plan and apply terraform/shared, or with REGION=eu-west-1 terraform/shared-eu-west-1 (the workflow runs it before any environment root)
	PYTHONPATH=scripts $(PY) -m bgctl.gitops shared-apply $(if $(REGION),--region $(REGION)) $(ARGS)

.PHONY: demo
demo: setup $(if $(TF),tfrc) ## Build the local sandbox (moto on 127.0.0.1) and walk through deploy, rollback and switch [TF=1: built and switched by Terraform]
	$(if $(TF),$(TFENV)) $(BG) sandbox demo $(if $(TF),--tf)

.PHONY: sandbox
sandbox: setup $(if $(TF),tfrc) ## Keep a sandbox running in the foreground; other shells: source .sandbox/env [TF=1] [REGIONS=us-east-1,eu-west-1]
	$(if $(TF),$(TFENV)) $(BG) sandbox up $(if $(TF),--tf) $(if $(REGIONS),--regions $(REGIONS))

.PHONY: bench
bench: ## AWS calls and wall time of status --all: 9 envs and a synthetic 90 envs x 40 instances
	$(PY) scripts/bench.py $(ARGS)

.PHONY: adopt-plan
adopt-plan: tfrc ## Migration plan of ENV's root (ENV=shared too) in compiler-explorer/infra's account: imports, no destroys [ARGS=--json]
	$(call need,ENV,prod)
	$(TFENV) $(PY) scripts/adopt-plan --env $(ENV) $(ARGS)

.PHONY: bench-traffic
bench-traffic: ## Users load the sandbox's ALB while deploy/switch/rollback run 26 cycles (78 moves): failures, p50/p99, mixed versions [ARGS="--canary 10,50": the share per canary step; REGIONS=us-east-1,eu-west-1: waves, per-region figures]
	$(PY) scripts/bench_traffic.py $(if $(REGIONS),--regions $(REGIONS)) $(ARGS)

.PHONY: tf-validate
tf-validate: tfrc ## terraform init -backend=false && validate, every root (skips in one line without the AWS provider)
	$(TFENV) $(PY) scripts/tf-validate

# ---------------------------------------------------------------------------------------------------
# Terraform against the sandbox (needs Terraform >= 1.10 and the hashicorp/aws provider; else one
# "skipped:" line). The roots are applied to moto on 127.0.0.1 from a working copy of terraform/.
# ---------------------------------------------------------------------------------------------------
.PHONY: e2e
e2e: tfrc ## Apply shared, prod, beta to moto; deploy, rollback, switch via the Terraform driver [ARGS=--all]
	$(TFENV) $(PY) scripts/tf-e2e $(ARGS)

.PHONY: bench-tf
bench-tf: tfrc ## The Terraform switch driver (init/plan/guard/apply) against bare plan && apply [ARGS=--env prod]
	$(TFENV) $(PY) scripts/bench-tf $(ARGS)


# Provider hashes for the committed .terraform.lock.hcl of every root. The registry by default;
# TF_LOCK_MIRROR=/path/to/mirror to hash a local filesystem mirror instead (offline).
TF_PLATFORMS ?= linux_amd64
TF_LOCK_MIRROR ?=

.PHONY: tf-lock
tf-lock: ## Write .terraform.lock.hcl for every root: make tf-lock [TF_PLATFORMS="linux_amd64 darwin_arm64"]
	@set -e; data=$$(mktemp -d); trap 'rm -rf "$$data"' EXIT; \
	for dir in terraform/shared terraform/envs/*/ terraform/shared-*/ terraform/envs-*/*/; do \
	  dir=$${dir%/}; [ -f "$$dir/main.tf" ] || continue; \
	  echo "== $$dir"; \
	  export TF_DATA_DIR="$$data/$${dir//\//_}"; \
	  (cd "$$dir" && $(TFENV) $(TERRAFORM) get -no-color >/dev/null && \
	    $(TFENV) $(TERRAFORM) providers lock -no-color $(if $(TF_LOCK_MIRROR),-fs-mirror=$(TF_LOCK_MIRROR)) \
	      $(foreach p,$(TF_PLATFORMS),-platform=$(p)) >/dev/null); \
	done
