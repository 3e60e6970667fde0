# The device app in asyncio mode, on both runtimes: another task keeps running while the
# token is fetched from a slow server, and config "asyncio": true selects this mode.
import asyncio
import json
import os
import socket

import aioapp
import app
import mainloop
from settings import check

from support import CLIENT_ID, CLIENT_SECRET, PER, faults, log, reset, token_requests, url

NEEDS_STUB = True
SECRETS = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}


def config(**kw):
    c = {"profile": "zaikio", "base_url": url(), "interval": 0.05, "cycles": 2,
         "scope": [PER + ">Org/b1475f65-236c-58b8-96e1-e1778b43beb7.zaikio.machines.rw"],
         "api_url": url("/api/v1/resource")}
    c.update(kw)
    return c


def test_aioapp_second_task_runs_while_the_token_is_fetched():
    ticks = []

    async def ticker():  # the application's own task: a sensor, MQTT, a web server...
        while True:
            ticks.append(1)
            await asyncio.sleep(0.02)

    reset(profile="zaikio", person_roles=["owner"])
    faults({"kind": "slow", "seconds": 0.6, "path": "/oauth/access_token"})
    a = asyncio.run(aioapp.run(config(), SECRETS, ticker()))
    assert a.roles == ["owner"] and a.last_error is None
    # the ticker ticked through the 0.6 s token fetch (a blocking fetch would hold it)
    assert len(ticks) >= 15, len(ticks)
    assert [e["path"] for e in log()] == ["/oauth/access_token", "/api/v1/roles",
                                          "/api/v1/resource", "/api/v1/resource"]


def test_aioapp_failures_are_reported_and_backed_off():
    reset(profile="zaikio")
    faults({"kind": "close"})
    a = asyncio.run(aioapp.run(config(cycles=1), SECRETS))
    # backed off: the failure counted (the real clock and full jitter over [0, 2 s] may have
    # let a short wait pass already, so next_attempt_in_ms() > 0 would be a flaky check)
    assert isinstance(a.last_error, OSError) and a.client.last_error is a.last_error
    assert a.client.state()["failures"] == 1 and a.client.latched is None
    reset(profile="zaikio")
    a = asyncio.run(aioapp.run(config(cycles=1, scope="Org/x.nope.r"), SECRETS))
    assert a.last_error.error == "ungranted_scope" and a.client.latched is a.last_error
    assert a.client.next_attempt_in_ms() > 1_700_000  # the long wait: half an hour (real clock)


def test_app_main_dispatches_to_asyncio_mode():
    d = "/tmp/oauthcc-test-aioapp"
    try:
        os.mkdir(d)
    except OSError:
        pass  # left from an earlier run
    with open(d + "/config.json", "w") as f:
        json.dump(config(asyncio=True, cycles=1), f)
    with open(d + "/secrets.json", "w") as f:
        json.dump(SECRETS, f)
    reset(profile="zaikio")
    a = mainloop.main(d + "/config.json", d + "/secrets.json")
    assert isinstance(a, aioapp.AsyncApp) and a.last_error is None
    assert len(token_requests()) == 1
    for name in ("config.json", "secrets.json"):
        os.remove(d + "/" + name)
    os.rmdir(d)


def test_aioapp_shares_the_apps_decisions():
    # a failed role order is fetched again with the same token; an API failure with a good
    # token waits the app's own backoff (5 s), not the library's (0: the token is fine)
    reset(profile="zaikio", person_roles=["owner"])
    faults({"kind": "status", "status": 503, "path": "/api/v1/roles"},
           {"kind": "status", "status": 500, "path": "/api/v1/resource"})
    c = app.make_client(check(config()), check(SECRETS, "secrets.json"),
                        aioapp.AsyncTokenClient)
    a = aioapp.AsyncApp(check(config(interval=60)), c)
    assert asyncio.run(a.cycle()) == 5  # no role order: a failed step, the app's backoff
    assert a.roles is None and a.last_error.error == "invalid_roles"
    assert asyncio.run(a.cycle()) == 60  # the API answered 500: a status, not a failure
    assert a.roles == ["owner"] and len(token_requests()) == 1
    # cut in the answer: a connection closed before any answer would be retried once (it may
    # be the one kept from the last cycle)
    faults({"kind": "truncate", "path": "/api/v1/resource"})
    assert asyncio.run(a.cycle()) == 5 and isinstance(a.last_error, OSError)


class Pool:
    """The socket module, keeping every socket it opens (plain HTTP: none detached by TLS)."""

    SOCK_STREAM = socket.SOCK_STREAM

    def __init__(self):
        self.opened = []

    def getaddrinfo(self, *a):
        return socket.getaddrinfo(*a)

    def socket(self, *a):
        s = socket.socket(*a)
        self.opened.append(s)
        return s

    def still_open(self):
        return len([s for s in self.opened if s.fileno() != -1])


def test_aioapp_one_connection_per_cycle_and_none_open_while_it_sleeps():
    reset(profile="zaikio")
    pool, seen, emit = Pool(), [], app.emit

    async def look():  # runs once the loop has gone to sleep, not before
        seen.append(pool.still_open())

    def line(text):
        if "next cycle in" in text:
            asyncio.create_task(look())
        emit(text)

    a = aioapp.start(config(cycles=3, interval=0.2), SECRETS)
    a.client._transport._pool = pool
    app.emit = line
    try:
        asyncio.run(aioapp._cycles(a, ()))
    finally:
        app.emit = emit
    assert seen == [0, 0], seen  # closed at both sleeps
    n = [e["connection"] for e in log()]
    # the renewal cycle: token, role order, API call on one connection; then one a cycle
    assert len(n) == 5 and n[0] == n[1] == n[2] and len(set(n)) == len(pool.opened) == 3, n
    assert pool.still_open() == 0
