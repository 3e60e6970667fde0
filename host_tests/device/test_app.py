# The device app's loop: Wi-Fi, clock, watchdog, sleep modes, state across deep sleep, the way
# back to the REPL. Fakes of machine/network/ntptime/esp32 play the board; the stub the server.
import json
import os

import app
import fakeboard
import mainloop
import settings

from support import CLIENT_ID, CLIENT_SECRET, PER, control, raises, reset, token_requests, url

NEEDS_STUB = True
SCOPE = PER + ">" + "Org/b1475f65-236c-58b8-96e1-e1778b43beb7.zaikio.machines.rw"
NEEDS_TLS_STUB = True  # for its test CA file (STUB_CA_PEM)
LONGEST = 0x3FFFFFFF


def files(name, **config):
    d = fakeboard.workdir(name)
    cfg = {"profile": "zaikio", "base_url": url(), "scope": [SCOPE],
           "api_url": url("/api/v1/resource"), "interval": 5, "cycles": 2, "repl_window": 0,
           "watchdog": 60, "wifi_ssid": "home", "repl_flag": d + "/noloop"}
    cfg.update(config)
    fakeboard.write_json(d + "/config.json", cfg)
    fakeboard.write_json(d + "/secrets.json", {"client_id": CLIENT_ID,
                                               "client_secret": CLIENT_SECRET,
                                               "wifi_password": "wifi-pw"})
    return d + "/config.json", d + "/secrets.json"


def board(stop_after=None):
    from board import Board

    return fakeboard.RecordingBoard(Board(log=lambda *a: None), stop_after)


def run(name, b=None, **config):
    cfg, sec = files(name, **config)
    b = b or board()
    return mainloop.main(cfg, sec, b), b


def test_full_cycle_on_a_fake_esp32():
    machine, network, ntptime, _ = fakeboard.use()
    reset(profile="zaikio")
    a, b = run("full")
    assert a.roles == ["owner", "admin"] and a.last_error is None
    w = network.wlans[0]
    assert (w.ssid, w.key) == ("home", "wifi-pw")
    assert ntptime.calls == 1  # once: the next sync is due in a day
    wdts = [e[1] for e in machine.events if e[0] == "wdt"]
    assert wdts == [60000, LONGEST]  # armed, then re-armed for the REPL when the loop ended
    assert b.waits == [5]  # two cycles, one interval between them
    assert [e["path"] for e in token_requests()] == ["/oauth/access_token"]
    assert a.memory.load()["error"] is None and a.memory.load()["ntp"] > 1735689600
    st = a.client._store.load()
    assert st["token"] and st["refresh_token"]  # in RTC memory, the fake board has some
    assert machine.rtc_memory[:3] == b"oc1"


def test_keyboard_interrupt_reaches_repl_with_watchdog_rearmed():
    machine = fakeboard.use()[0]
    reset(profile="zaikio")
    raises(KeyboardInterrupt, run, "ctrlc", board(stop_after=1), cycles=0)
    assert [e[1] for e in machine.events if e[0] == "wdt"] == [60000, LONGEST]


def test_deep_sleep_then_wake_reuses_token_from_rtc_memory():
    machine, _, _, esp32 = fakeboard.use()
    reset(profile="zaikio")
    machine.pins[0] = 1
    a, b = run("deep", sleep="deep", cycles=0, interval=300, repl_pin=0)
    assert ("deepsleep", 300000) in machine.events and b.waits == []
    assert esp32.wake == [(0, False)]  # the REPL button wakes the board
    assert len(token_requests()) == 1
    machine.cause = machine.DEEPSLEEP_RESET  # the board boots again into main.py
    a2, _ = run("deep", sleep="deep", cycles=1)
    assert len(token_requests()) == 1  # the token came from RTC memory
    assert a2.roles == ["owner", "admin"]  # role order fetched again at boot


def test_wifi_failure_backs_off_without_touching_the_server():
    network = fakeboard.use()[1]
    network.clear(after=None)
    reset(profile="zaikio")
    a, b = run("wifi", cycles=3, wifi_timeout=0.1)
    assert b.waits == [10, 20]
    assert token_requests() == [] and a.memory.load()["error"] == "wifi: no connection"


def test_clock_from_the_servers_date_header_when_ntp_is_blocked():
    # Over https nothing can be verified before the clock is set (certificate dates), so the
    # app asks the token server's Date with no credentials, then verifies everything after.
    machine, _, ntptime, _ = fakeboard.use()
    ntptime.clear(failures=-1)
    reset(profile="zaikio")
    tls = os.getenv("STUB_TLS_URL")
    cfg, sec = files("clock", cycles=1, ntp_timeout=0.2, base_url=tls,
                     api_url=tls + "/api/v1/resource", ca=os.getenv("STUB_CA_DER"))
    from board import Board

    import oauthcc

    b = Board(log=lambda *a: None)
    conf, secrets = settings.load(cfg), settings.load(sec, "secrets.json")
    clock = fakeboard.BoardClock(machine)
    client = oauthcc.from_profile("zaikio", CLIENT_ID, CLIENT_SECRET, [SCOPE], tls,
                                  ca=conf["ca"], api_origins=[conf["api_url"]], clock=clock)
    a = app.App(conf, client, b, None, secrets, clock=clock)
    e = raises(oauthcc.OAuthError, client.token)
    assert e.error == "clock_not_set" and e.retryable  # refused before connecting
    a.clock()
    assert ntptime.calls >= 1
    assert machine.rtc_datetime is not None and machine.rtc_datetime[0] >= 2025
    probes = control("/_stub/log")
    assert [(p["method"], p["path"]) for p in probes] == [("HEAD", "/")]
    assert "authorization" not in probes[0]["headers"]  # nothing secret before verification
    client.reset()  # the app's next cycle would wait out the backoff instead
    assert a.cycle() == conf["interval"]
    assert [r["form"]["grant_type"] for r in token_requests()] == ["client_credentials"]
    calls = ntptime.calls
    a.clock()
    assert ntptime.calls == calls  # NTP is retried later, not on every cycle


def test_permanent_error_idles_and_is_remembered():
    fakeboard.use()
    reset(profile="zaikio", clients=[{"client_id": "other", "client_secret": "x"}])
    a, b = run("latched", cycles=2)
    assert a.client.latched.error == "invalid_client"
    # the app sleeps the library's long wait (the first: 30 min to 1 h), then asks once more
    assert len(b.waits) == 1 and 1800 <= b.waits[0] <= 3600 and len(token_requests()) == 1
    assert a.memory.load()["error"].startswith("invalid_client")


def test_missing_or_malformed_config_idles_instead_of_crashing():
    fakeboard.use()
    d = fakeboard.workdir("noconfig")
    b = board(stop_after=2)
    raises(KeyboardInterrupt, mainloop.main, d + "/config.json", d + "/secrets.json", b)
    assert b.waits == [60, 60] and b.window == 3  # the REPL window opens all the same
    with open(d + "/config.json", "w") as f:
        f.write("{nope")
    fakeboard.write_json(d + "/secrets.json", {"client_id": "x", "client_secret": "y"})
    b = board(stop_after=1)
    raises(KeyboardInterrupt, mainloop.main, d + "/config.json", d + "/secrets.json", b)
    assert b.waits == [60]


def test_config_values_of_the_wrong_kind_are_named_not_obeyed():
    # "interval": "300" once made the board sleep a day ("300" * 1000 is a long string, capped)
    fakeboard.use()
    reset(profile="zaikio")
    for bad, key in (({"interval": "300"}, "interval"), ({"scope": 123}, "scope"),
                     ({"watchdog": True}, "watchdog"), ({"interval": -5}, "interval"),
                     ({"sleep": "hibernate"}, "sleep"), ({"base_url": ["x"]}, "base_url"),
                     ({"scope": ["ok", 5]}, "scope")):
        cfg = dict(bad, profile="zaikio")
        e = raises(settings.ConfigError, settings.check, cfg)
        assert key in str(e), (key, str(e))
    settings.check({"interval": 0.5, "scope": ["a", "b"], "sleep": "deep", "asyncio": False})
    cfg, sec = files("badkind", interval="300")
    b = board(stop_after=1)
    raises(KeyboardInterrupt, mainloop.main, cfg, sec, b)
    assert b.waits == [60] and token_requests() == []  # idles, reported, asks nothing


def test_noloop_file_keeps_the_repl_free():
    machine = fakeboard.use()[0]
    cfg, sec = files("noloop")
    d = cfg.rsplit("/", 1)[0]
    with open(d + "/noloop", "w") as f:
        f.write("")
    assert mainloop.main(cfg, sec, board()) is None and machine.events == []
    control("/_stub/log")


def test_host_without_board_hardware_runs_cycles():
    fakeboard.forget()
    reset(profile="zaikio")
    d = fakeboard.workdir("host")
    a, b = run("host", cycles=2, state_file=d + "/state.json")
    assert a.roles == ["owner", "admin"] and b.waits == [5]
    with open(d + "/state.json") as f:
        assert "token" in json.load(f)["c"]  # a file, no RTC here


def test_every_config_example_builds_a_client():

    d = "config/examples"
    secrets = settings.load(d + "/secrets.json", "secrets.json")
    names = [n for n in os.listdir(d) if n.endswith(".config.json")]
    assert len(names) >= 4
    for n in names:
        conf = settings.load(d + "/" + n)
        assert conf["ca"]  # each names its CA file, which is not in the repo:
        err = raises(ValueError, app.make_client, conf, secrets)  # a settings.ConfigError
        assert "ca file" in str(err)  # a missing CA is a clear configuration error
        conf["ca"] = os.getenv("STUB_CA_PEM")
        c = app.make_client(conf, secrets)
        assert c.token_url.startswith(conf["base_url"])
        assert conf["wifi_ssid"] and "wifi_password" not in conf  # secrets stay apart


def test_api_failures_back_off_and_roles_are_fetched_again():
    from support import faults, log

    fakeboard.use()
    reset(profile="zaikio")
    # truncated answers: a connection closed before any answer would be retried once (the
    # roles call leaves it kept), one closed in the middle of the answer is not
    faults({"kind": "status", "status": 503, "path": "/api/v1/roles"},
           {"kind": "truncate", "path": "/api/v1/resource"},
           {"kind": "truncate", "path": "/api/v1/resource"})
    a, b = run("apifail", cycles=4, interval=60)
    # the token was fine: the app's own backoff, not 1 s; a failed role order is a failed
    # step (no API call in that cycle), like a failed API call
    assert b.waits == [5, 10, 20]
    assert len([e for e in log() if e["path"] == "/api/v1/roles"]) == 2
    assert a.roles == ["owner", "admin"] and a.last_error is None
    assert len(token_requests()) == 1


def test_no_ntp_after_a_deep_sleep_wake_when_the_last_sync_is_recent():
    machine, _, ntptime, _ = fakeboard.use()
    reset(profile="zaikio")
    run("ntpwake", sleep="deep", cycles=0, interval=300)
    assert ntptime.calls == 1
    machine.cause = machine.DEEPSLEEP_RESET
    run("ntpwake", sleep="deep", cycles=0, interval=300)
    assert ntptime.calls == 1  # the RTC kept time through deep sleep


def test_asyncio_mode_arms_no_watchdog_it_would_not_feed():
    machine = fakeboard.use()[0]
    reset(profile="zaikio")
    a, _ = run("aio", asyncio=True, cycles=1)
    assert a.roles == ["owner", "admin"]
    assert [e for e in machine.events if e[0] == "wdt"] == []


def test_zaikio_without_base_url_reads_roles_from_the_production_hub():
    # the profile's base URL is the default: App once raised KeyError for a missing base_url
    a = app.App(settings.check({"profile": "zaikio"}), None)
    assert a.roles_url == "https://hub.zaikio.com/api/v1/roles"
    a = app.App(settings.check({"profile": "heidelberg", "base_url": "https://h.example/"}), None)
    assert a.roles_url == "https://h.example/api/v1/roles"
    assert app.App(settings.check({"profile": "generic"}), None).roles_url is None


class Pool:
    """The socket module, keeping every socket it opens (plain HTTP: none detached by TLS)."""

    def __init__(self):
        import socket

        self._s = socket
        self.SOCK_STREAM = socket.SOCK_STREAM
        self.opened = []

    def getaddrinfo(self, *a):
        return self._s.getaddrinfo(*a)

    def socket(self, *a):
        s = self._s.socket(*a)
        self.opened.append(s)
        return s

    def still_open(self):
        return len([s for s in self.opened if s.fileno() != -1])


class SocketBoard(fakeboard.RecordingBoard):
    """A RecordingBoard that notes, at every wait and deep sleep, how many sockets are open."""

    def __init__(self, pool, stop_after=None):
        fakeboard.RecordingBoard.__init__(self, board().b, stop_after)
        self.pool = pool
        self.open = []

    def wait(self, seconds, light=False):
        self.open.append(self.pool.still_open())
        fakeboard.RecordingBoard.wait(self, seconds, light)

    def deepsleep(self, seconds):
        self.open.append(self.pool.still_open())
        return self.b.deepsleep(seconds)


def kept_app(name, **config):
    """(App, SocketBoard, Pool): the app of `files(name, **config)`, its client's transport
    given a counting socket pool."""
    cfg = settings.load(files(name, **config)[0])
    secrets = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "wifi_password": ""}
    c = app.make_client(cfg, secrets)
    pool = Pool()
    c._transport._pool = pool
    b = SocketBoard(pool)
    return app.App(cfg, c, b, None, secrets), b, pool


def test_one_connection_per_cycle_and_none_open_at_any_sleep():
    from support import log

    fakeboard.use()
    for mode in ("idle", "light", "deep"):
        reset(profile="zaikio")
        a, b, pool = kept_app("sockets", sleep=mode, deep_min=1)
        mainloop.run(a, b, 0 if mode == "deep" else 3)
        assert b.open and b.open == [0] * len(b.open), (mode, b.open)  # closed at every sleep
        cycles = 1 if mode == "deep" else 3
        n = [e["connection"] for e in log()]
        # the renewal cycle: token, role order, API call on one connection; then one a cycle
        assert len(n) == cycles + 2 and n[0] == n[1] == n[2], (mode, n)
        assert len(set(n)) == len(pool.opened) == cycles, (mode, n)
        assert pool.still_open() == 0  # and the loop, once over, left none


def test_a_failure_or_a_crash_closes_the_kept_connection():
    from support import faults

    fakeboard.use()
    reset(profile="zaikio")
    a, b, pool = kept_app("failsockets")
    assert a.cycle() == 5 and pool.still_open() == 1  # a cycle keeps it for the next request
    a.client.invalidate()
    faults({"kind": "status", "status": 503, "path": "/oauth/"})  # read whole: it could stay
    a.cycle()
    assert a.last_error.error == "http_503" and pool.still_open() == 0 and len(pool.opened) == 1
    a.client.reset()
    a.api_done = lambda call, r: 1 / 0  # a bug, after the API call's answer was read
    e = raises(ZeroDivisionError, a.cycle)
    assert pool.still_open() == 1
    a.crashed(e)
    assert pool.still_open() == 0
