# Two commands do all set-up on a fresh machine: `make run` and `make test`.
VENV    := .venv
PY      := $(VENV)/bin/python
MP      := $(VENV)/bin/micropython
STAMP   := $(VENV)/.installed-$(shell cksum < requirements-dev.txt | cut -d' ' -f1)
PYTHON  ?= python3
NODE_STAMP := conformance/node_modules/.package-lock.json

.PHONY: run run-aio test lint venv clean conformance

venv: $(STAMP)

$(STAMP): requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

# The device app on the MicroPython unix port against the stub server, a few cycles.
run: $(STAMP)
	$(PY) tools/run_local.py --micropython $(MP)

# The same in asyncio mode (device/aioapp.py).
run-aio: $(STAMP)
	$(PY) tools/run_local.py --micropython $(MP) --asyncio

# The whole suite: CPython and MicroPython unix port.
test: $(STAMP) $(NODE_STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

# The real OAuth servers of the conformance tests, pinned by conformance/package-lock.json.
# Without npm (or offline) a developer's run skips those tests and says why; CI fails.
conformance: $(NODE_STAMP)

$(NODE_STAMP): conformance/package.json conformance/package-lock.json
	@if command -v npm >/dev/null && (cd conformance && npm ci --no-audit --no-fund); then :; \
	elif [ -n "$$CI" ]; then echo "conformance: npm ci failed or npm is missing" >&2; exit 1; \
	else echo "conformance: npm ci failed or npm is missing: those tests will be skipped"; fi

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache conformance/node_modules
