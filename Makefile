# make demo  - set up this machine (Debian, as root) and run the kiosk on simulated devices
# make test  - set up this machine and run every test
# make bench - benchmarks (figures, not pass/fail)

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8080
PYTEST_ARGS ?=

.PHONY: demo test setup system-deps bench clean lock

demo: setup
	$(BIN)/kiosk demo --host $(HOST) --port $(PORT)

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

setup: system-deps $(STAMP)

system-deps:
	@PYTHON=$(PYTHON) scripts/system-deps.sh

# The venv is rebuilt when the project or the pinned versions change.
$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python >= 3.11 is needed ($(PYTHON))"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c requirements.lock -e '.[test]'
	touch $(STAMP)

# Re-pin after changing dependencies in pyproject.toml.
lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^checkpoint-kiosk' > requirements.lock

bench: setup
	$(BIN)/python -m pytest -q benchmarks $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) test-output .pytest_cache
