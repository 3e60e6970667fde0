# Two commands do all set-up on a fresh machine: `make run` and `make test`.
VENV    := .venv
PY      := $(VENV)/bin/python
MP      := $(VENV)/bin/micropython
STAMP   := $(VENV)/.installed-$(shell cksum < requirements-dev.txt | cut -d' ' -f1)
PYTHON  ?= python3

.PHONY: run test lint venv clean

venv: $(STAMP)

$(STAMP): requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

# The device app on the MicroPython unix port against the stub server, a few cycles.
run: $(STAMP)
	$(PY) tools/run_local.py --micropython $(MP)

# The whole suite: CPython and MicroPython unix port.
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache
