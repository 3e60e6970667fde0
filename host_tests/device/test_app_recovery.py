# Issue 13, the app side: a device never bricks itself. Whatever a cycle raises, a store that
# cannot write, a forged Date, corrupt state at boot, a latched error: the loops (blocking and
# asyncio) log it (sanitised, no secrets), back off and go on; a reset only for a MemoryError
# that persists, at most once a day. On both runtimes, with fake boards and the stub server.
import asyncio
import json
import os
import sys

import aioapp
import app
import fakeboard
import mainloop
import settings
from state import RTCStore, Shared

from oauthcc import OAuthError, Token, TokenClient
from oauthcc.http import Response
from oauthcc.store import FileStore, MemoryStore
from support import (
    CLIENT_ID,
    CLIENT_SECRET,
    PER,
    FakeClock,
    control,
    faults,
    raises,
    reset,
    token_requests,
    url,
)

NEEDS_STUB = True
SCOPE = PER + ">" + "Org/b1475f65-236c-58b8-96e1-e1778b43beb7.zaikio.machines.rw"
HOUR = 3600


class Capture:
    """Every line the app prints (app.emit), for the length of a test."""

    def __init__(self):
        self.lines = []
        self._emit = app.emit
        app.emit = self.lines.append

    def stop(self):
        app.emit = self._emit
        return self.lines

    def having(self, text):
        return [ln for ln in self.lines if text in ln]


def files(name, secrets=None, **config):
    d = fakeboard.workdir(name)
    cfg = {"profile": "zaikio", "base_url": url(), "scope": [SCOPE],
           "api_url": url("/api/v1/resource"), "interval": 5, "cycles": 2, "repl_window": 0,
           "watchdog": 60, "wifi_ssid": "home", "repl_flag": d + "/noloop"}
    cfg.update(config)
    fakeboard.write_json(d + "/config.json", cfg)
    fakeboard.write_json(d + "/secrets.json", secrets or {
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "wifi_password": "wifi-pw"})
    return d, d + "/config.json", d + "/secrets.json"


def board(stop_after=None):
    from board import Board

    return fakeboard.RecordingBoard(Board(log=lambda *a: None), stop_after)


def boot(cfg, sec, b=None):
    return mainloop.main(cfg, sec, b or board())


class Broken:
    """A client whose token() raises the given exceptions in turn, then returns a token."""

    latched = None

    def __init__(self, *errors, wait=0):
        self.errors = list(errors)
        self.wait = wait
        self.token_url = url("/oauth/access_token")

    def token(self):
        e = self.errors.pop(0) if self.errors else None
        if e is not None:  # None in the list: a good cycle between the errors
            raise e
        return Token("tok-%d" % len(self.errors), "Bearer", 600, None, None, {})

    def next_attempt_in_ms(self):
        return self.wait


def config(**kw):
    c = {"interval": 5, "wifi_ssid": "home", "ntp_timeout": 0.2}
    c.update(kw)
    return settings.check(c)


# -- 1. one rule for what escapes: log, back off, go on; a reset only as the last resort ----


def test_an_unexpected_error_is_backed_off_forever_never_a_reset():
    # finding 6: a bug (here a TypeError every cycle) waited 30, 60, 120, 240 s, then reset
    # the board, after every boot
    machine = fakeboard.use()[0]
    b = board()
    cap = Capture()
    try:
        a = app.App(config(), Broken(*[TypeError("unsupported types")] * 12), b)
        mainloop.run(a, b, 12)
    finally:
        lines = cap.stop()
    assert b.waits == [30, 60, 120, 240, 480, 900, 900, 900, 900, 900, 900]
    assert [e for e in machine.events if e[0] == "reset"] == []
    said = [ln for ln in lines if "TypeError: unsupported types" in ln]
    assert len(said) == 12 and "next try in 30 s" in said[0]
    assert "test_app_recovery" in said[0]  # where it was raised, for the person who reads it
    assert a.saved["error"].startswith("TypeError: unsupported types")


class Waits(app.App):
    """An App whose cycles return the given waits in turn: what no configuration gives now
    (the schema refuses 1e999), and what the loops must survive all the same."""

    def cycle(self):
        return self.script.pop(0)


class AsyncWaits(aioapp.AsyncApp):
    async def cycle(self):
        return self.script.pop(0)


WEIRD = [float("inf"), float("nan"), -5, "soon", 10 ** 400, 30]
# a day at most (what a board waits), IDLE_S for NaN or less than 0, a crash's 30 s for no
# number, a day for an int too long for a float
BOUNDED = [86_400, 60, 60, 30, 86_400]


def test_no_wait_a_cycle_returns_ends_either_loop():
    # finding 8 (red13): "interval": 1e999 made the first good cycle return inf, and round(inf)
    # in mainloop.run (asyncio.sleep(inf) in aioapp) ended the loop: the board at the REPL
    fakeboard.forget()
    b = board()
    a = Waits(config(), None, b)
    a.script = list(WEIRD)
    mainloop.run(a, b, 6)
    assert b.waits == BOUNDED and a.crashes == 1
    slept = []

    class Asyncio:  # what aioapp._cycles takes of asyncio, its sleeps recorded
        create_task = staticmethod(asyncio.create_task)

        @staticmethod
        async def sleep(s):
            slept.append(s)

    a = AsyncWaits(config(cycles=6), None)
    a.script = list(WEIRD)
    aioapp.asyncio = Asyncio
    try:
        asyncio.run(aioapp._cycles(a, ()))
    finally:
        aioapp.asyncio = asyncio
    assert slept == BOUNDED


def test_roles_that_are_not_strings_are_ignored_not_a_crash():
    # finding 6: a role order [1, 2], or names [null, 1] in bearer_on_behalf_of, raised
    # TypeError in the app (its ", ".join), which counted it as a crash
    fakeboard.use()
    reset(profile="zaikio")
    faults({"kind": "json", "status": 200, "body": [1, 2], "path": "/api/v1/roles"})
    _, cfg, sec = files("roles_types")
    a = boot(cfg, sec)
    assert a.roles == [] and a.last_error is None and a.board.waits == [5]
    fakeboard.use()  # RTC memory cleared: no saved token
    reset(profile="zaikio", token_format="opaque")
    faults({"kind": "patch", "path": "/oauth/",
            "fields": {"bearer_on_behalf_of": {"roles": [None, 1, "owner", {"x": 1}]}}})
    _, cfg, sec = files("roles_types2")
    a = boot(cfg, sec)
    assert a.roles == ["owner"] and a.board.waits == [5]


def _memory_boot(path, clock):
    from board import Board

    b = fakeboard.ClockedBoard(Board(log=lambda *a: None), clock)
    a = app.App(config(interval=60), Broken(*[MemoryError()] * 400), b,
                Shared(FileStore(path)).part("a"), clock=clock)
    return a, b


def test_a_memory_error_that_persists_resets_the_board_at_most_once_a_day():
    # the one reset left: a MemoryError through every cycle for an hour, gc.collect() before
    # each retry; remembered in the app's state, so the reset cannot loop
    machine = fakeboard.use()[0]
    for wall in (1796083200 + 7 * 86400, None):  # the wall clock set, and unset
        path = fakeboard.workdir("memreset") + "/state.json"
        clock = FakeClock(wall=wall)
        a, b = _memory_boot(path, clock)
        raises(machine.ResetCalled, mainloop.run, a, b)
        assert b.waits == [30, 60, 120, 240, 480, 900, 900, 900]  # 3,630 s: over an hour
        assert a.memory.load()["reset"] == (wall and clock.unix_time() or 0)
        a, b = _memory_boot(path, clock)  # the board boots again, and memory is still short
        raises(machine.ResetCalled, mainloop.run, a, b)
        assert 86400 <= sum(b.waits) < 86400 + 900, sum(b.waits)  # a day before the next
        assert len([e for e in machine.events if e[0] == "reset"]) == 2
        del machine.events[:]


def test_a_memory_error_that_passes_never_resets():
    machine = fakeboard.use()[0]
    clock = FakeClock()
    from board import Board

    b = fakeboard.ClockedBoard(Board(log=lambda *a: None), clock)
    errors = [MemoryError()] * 7  # 30 + 60 + ... + 900 s: over half an hour, then a good cycle
    a = app.App(config(interval=60), Broken(*(errors + [None] + errors)), b, clock=clock)
    mainloop.run(a, b, 16)
    assert [e for e in machine.events if e[0] == "reset"] == []
    crash = [30, 60, 120, 240, 480, 900, 900]
    assert b.waits == crash + [60] + crash


def test_the_crash_backoff_grows_across_deep_sleep_too():
    # a board in deep sleep boots for every cycle: a backoff kept in RAM would stay at 30 s
    from oauthcc.store import MemoryStore

    machine = fakeboard.use()[0]
    store = MemoryStore()
    for ms in (30_000, 60_000, 120_000):
        b = board()
        a = app.App(config(sleep="deep"), Broken(TypeError("bug")), b, Shared(store).part("a"))
        mainloop.run(a, b)  # the fake deep sleep returns: the board would boot again
        assert machine.events[-1] == ("deepsleep", ms) and b.waits == []
    a = app.App(config(sleep="deep"), Broken(), board(), Shared(store).part("a"))
    mainloop.run(a, a.board, 1)  # a good cycle: the next error starts at 30 s again
    assert "crashes" not in store.state["a"] and a.saved["error"] is None


def test_keyboard_interrupt_and_system_exit_from_a_cycle_reach_the_repl():
    fakeboard.use()
    for exc in (KeyboardInterrupt, SystemExit):
        b = board()
        a = app.App(config(), Broken(exc()), b)
        raises(exc, mainloop.run, a, b)
        assert b.waits == []


class AsyncBroken(Broken):
    async def token(self):
        return Broken.token(self)


class QuickApp(aioapp.AsyncApp):
    """An AsyncApp that records the waits it asks for and sleeps 10 ms instead."""

    def crashed(self, e):
        wait, reset_now = aioapp.AsyncApp.crashed(self, e)
        self.asked.append((wait, reset_now))
        return 0.01, reset_now


def test_aioapp_survives_any_error_and_the_users_tasks_keep_running():
    # aioapp.run had no crash handling: any error ended the app and cancelled every task
    ticks = []

    async def ticker():
        while True:
            ticks.append(1)
            await asyncio.sleep(0.005)

    a = QuickApp(config(cycles=4), AsyncBroken(TypeError("bug"), MemoryError(), KeyError("x")))
    a.asked = []

    async def main():
        t = asyncio.create_task(ticker())
        got = await aioapp._cycles(a, ())
        alive = not t.done()
        t.cancel()
        return got, alive

    got, alive = asyncio.run(main())
    assert got is a and alive and len(ticks) >= 3
    assert a.asked == [(30, False), (60, False), (120, False)]  # never a reset on asyncio
    assert a.last_error is None


def test_aioapp_keyboard_interrupt_reaches_the_repl():
    a = QuickApp(config(cycles=3), AsyncBroken(KeyboardInterrupt()))
    a.asked = []
    raises(KeyboardInterrupt, asyncio.run, aioapp._cycles(a, ()))


# -- 2. a store that cannot write never ends the app --------------------------------------


def test_unwritable_rtc_memory_never_ends_the_app():
    # finding 1: the token was received, the save raised, token() raised, App.failed saved
    # again and raised again
    machine = fakeboard.use()[0]
    machine.rtc_fail = OSError(28)  # ENOSPC, on every write
    reset(profile="zaikio")
    _, cfg, sec = files("rtcfail", cycles=3)
    cap = Capture()
    try:
        a = boot(cfg, sec)
    finally:
        lines = cap.stop()
    assert a.last_error is None and a.roles == ["owner", "admin"] and a.board.waits == [5, 5]
    assert len(token_requests()) == 1  # the token received is kept in RAM and used
    assert len(cap.having("[state] not saved")) == 1, lines  # said once, not every cycle


def test_unwritable_state_file_never_ends_the_app():
    # a directory where the temporary file goes (any host), a full flash (/dev/full, where
    # os.symlink exists), a read-only directory (where the tests do not run as root)
    fakeboard.use()
    tmp = "build/tests/%s/tmpdir/state.json.tmp" % sys.implementation.name
    for rm in (os.rmdir, os.remove):  # left by an interrupted run, workdir() cannot clear it
        try:
            rm(tmp)
        except OSError:
            pass
    d = fakeboard.workdir("tmpdir")
    _, cfg, sec = _files_in(d, cycles=3, state_file=d + "/state.json")
    blocks = [(os.mkdir, os.rmdir)]
    if hasattr(os, "symlink"):
        blocks.append((lambda p: os.symlink("/dev/full", p), os.remove))
    if hasattr(os, "getuid") and os.getuid() != 0:
        blocks.append((lambda p: os.chmod(d, 0o500), lambda p: os.chmod(d, 0o700)))
    for block, unblock in blocks:
        block(tmp)
        try:
            reset(profile="zaikio")
            cap = Capture()
            try:
                a = boot(cfg, sec)
            finally:
                lines = cap.stop()
            assert a.last_error is None and a.roles == ["owner", "admin"]
            assert a.board.waits == [5, 5] and len(token_requests()) == 1
            assert len(cap.having("[state] not saved")) == 1, lines
        finally:
            try:
                unblock(tmp)
            except OSError:  # FileStore removes a temporary file it could not write
                pass


def _files_in(d, **config):
    cfg = {"profile": "zaikio", "base_url": url(), "scope": [SCOPE],
           "api_url": url("/api/v1/resource"), "interval": 5, "cycles": 2, "repl_window": 0,
           "watchdog": 60, "wifi_ssid": "home", "repl_flag": d + "/noloop"}
    cfg.update(config)
    fakeboard.write_json(d + "/config.json", cfg)
    fakeboard.write_json(d + "/secrets.json", {"client_id": CLIENT_ID,
                                               "client_secret": CLIENT_SECRET})
    return d, d + "/config.json", d + "/secrets.json"


# -- 3. the Date fallback: an implausible date is refused, a wrong one does not stay ------


class Tls:
    """A client that fails certificate verification: latched, the next attempt in `wait`."""

    def __init__(self, wait):
        self.token_url = url("/oauth/access_token")
        self.wait = wait
        self.fail()

    def fail(self, error=None):
        self.latched = self.error = error or OAuthError("tls_verification_failed",
                                                        "certificate not yet valid")

    def token(self):
        raise self.error

    def next_attempt_in_ms(self):
        return self.wait


def _heads():
    return [e for e in control("/_stub/log") if e["method"] == "HEAD"]


def test_the_date_fallback_refuses_an_implausible_date():
    # finding 5: the RTC was set to 2100-01-01 and to 9999-12-31 by the token server's Date
    from board import Board

    machine, _, ntptime, _ = fakeboard.use()
    ntptime.clear(failures=-1)
    reset(profile="zaikio")
    a = app.App(config(), Tls(HOUR * 1000), Board(log=lambda *a: None),
                clock=fakeboard.BoardClock(machine))
    for date in ("Fri, 01 Jan 2100 00:00:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT",
                 "Tue, 01 Jan 2019 00:00:00 GMT", "Mon, 30 Nov 2026 23:59:59 GMT",
                 "Sun, 01 Jan 2040 00:00:00 GMT"):
        faults({"kind": "status", "status": 200, "headers": {"Date": date}, "path": "/"})
        a.clock_from_server()
        assert machine.rtc_datetime is None, date
    assert len(_heads()) == 5
    a.clock_from_server()  # the stub's own Date: now, after the release
    assert machine.rtc_datetime is not None and machine.rtc_datetime[0] >= 2026
    assert a.saved["date"] > 1796083200  # set by the fallback: not verified yet


def test_a_garbage_ntp_time_in_the_state_does_not_widen_the_date_window():
    # red13 finding 13: "ntp" in another firmware's milliseconds (or a forged NTP answer's
    # 2160) made the window end never: a Date of 9999-12-31 set the RTC
    from board import Board

    machine, _, ntptime, _ = fakeboard.use()
    ntptime.clear(failures=-1)
    reset(profile="zaikio")
    in_2040 = {"kind": "status", "status": 200, "path": "/",
               "headers": {"Date": "Sun, 01 Jan 2040 00:00:00 GMT"}}
    for ntp, date in ((1796083200 * 1000, "Fri, 31 Dec 9999 23:59:59 GMT"),
                      (6_000_000_000, "Fri, 31 Dec 9999 23:59:59 GMT"),
                      (1796083200 * 1000, "Sun, 01 Jan 2040 00:00:00 GMT")):
        mem = MemoryStore()
        mem.state = {"ntp": ntp}
        a = app.App(config(), Tls(HOUR * 1000), Board(log=lambda *a: None), mem,
                    clock=fakeboard.BoardClock(machine))
        assert a.saved["ntp"] == ntp  # kept, but it widens nothing
        faults(dict(in_2040, headers={"Date": date}))
        a.clock_from_server()
        assert machine.rtc_datetime is None, ntp
    import dateclock

    # a true last sync (2036-01-01) still moves the window: 2040 is within five years of it
    faults(in_2040)
    assert dateclock.read(url("/t"), 2_082_844_800)[0] == 2_208_988_800


def test_a_tls_failure_while_the_clock_came_from_the_fallback_takes_the_clock_again():
    # a captive portal's Date (plausible, wrong): every certificate looks expired; the latch
    # allows one attempt after the long backoff, and the clock is taken again before it
    from board import Board

    machine, _, ntptime, _ = fakeboard.use()
    clock = FakeClock()
    for wait in (None, HOUR * 1000):  # today's latch (None), and latch13's long wait
        ntptime.clear(failures=-1)  # UDP blocked: NTP never answers
        machine.rtc_datetime = None
        reset(profile="zaikio")
        c = Tls(wait)
        a = app.App(config(ntp_timeout=0.1), c, Board(log=lambda *a: None),
                    clock=fakeboard.BoardClock(machine, clock))
        a.clock()  # NTP fails, the clock is unset: the Date fallback
        assert machine.rtc_datetime is not None and len(_heads()) == 1 and a.saved["date"]
        calls = ntptime.calls
        assert a.cycle() >= 60  # TLS fails: the long wait, and the clock is suspect
        clock.advance(60_000)
        a.clock()  # before the next attempt: NTP first, then the Date again
        assert ntptime.calls > calls and len(_heads()) == 2
        calls = ntptime.calls
        a.cycle()  # the same latch again, refused without the network: nothing to retake
        clock.advance(60_000)
        a.clock()
        assert ntptime.calls == calls and len(_heads()) == 2
        # NTP answers again (its retry every ten minutes): it overrides the fallback
        ntptime.clear()
        clock.advance(600_000)
        a.clock()
        assert ntptime.calls == 1 and "date" not in a.saved and a.saved["ntp"]
        c.fail()  # a new TLS failure with the clock from NTP: NTP again, not the Date
        a.cycle()
        a.clock()
        assert ntptime.calls == 2 and len(_heads()) == 2


def test_a_suspect_clock_is_taken_again_after_deep_sleep():
    # the flag that asks for the clock again lives in RAM; the suspicion itself ("date" in
    # the state) survives deep sleep, and a wake with it takes the clock again
    from board import Board

    from oauthcc.store import MemoryStore

    machine, _, ntptime, _ = fakeboard.use()
    ntptime.clear(failures=-1)
    reset(profile="zaikio")
    store, clock = MemoryStore(), FakeClock()

    def wake():
        return app.App(config(ntp_timeout=0.1), Tls(HOUR * 1000), Board(log=lambda *a: None),
                       Shared(store).part("a"), clock=fakeboard.BoardClock(machine, clock))

    a = wake()
    a.clock()
    a.cycle()  # TLS fails; the board deep-sleeps through the long wait
    assert len(_heads()) == 1 and store.state["a"]["date"]
    clock.advance(HOUR * 1000)
    wake().clock()  # the RTC kept running, so the clock is set, but it is still suspect
    assert len(_heads()) == 2


# -- 4. corrupt state at boot never loops ----------------------------------------------------


def test_corrupt_app_state_at_boot_is_discarded_and_rewritten():
    # finding 7: "configuration rejected every 60 s forever"; on CPython 40 KB of "[" raised
    # RecursionError at boot
    machine = fakeboard.use()[0]
    reset(profile="zaikio")
    for junk in ('{"a": "a", "c": 5}', '{"a": {"error": 5, "ntp": "x", "reset": -1, "z": 1}}',
                 '{"a": {"ntp": 1e999, "date": [1], "error": "' + "e" * 3000 + '"}}',
                 "[" * 40000, '{"a": {"ntp": {"a": {}}}, "c": {"key": 7, "failures": "x"}}'):
        d = fakeboard.workdir("corrupt")
        with open(d + "/state.json", "w") as f:
            f.write(junk)
        _, cfg, sec = _files_in(d, cycles=2, state_file=d + "/state.json")
        a = boot(cfg, sec)
        assert a.last_error is None and a.board.waits == [5], junk[:40]
        with open(d + "/state.json") as f:
            st = json.load(f)  # rewritten at the next save
        assert sorted(st) == ["a", "c"] and "token" in st["c"], junk[:40]
        assert sorted(st["a"]) == ["error", "ntp"] and st["a"]["error"] is None
    for junk in (b"oc1" + b"[" * 2000, b'oc1{"a": {"ntp": "x"}}', b"oc1" + b"\x00" * 100):
        machine = fakeboard.use()[0]
        machine.rtc_memory = junk
        reset(profile="zaikio")
        _, cfg, sec = files("corrupt_rtc")
        a = boot(cfg, sec)
        assert a.last_error is None and a.board.waits == [5], junk[:40]
        assert RTCStore(machine.RTC()).load()["a"]["error"] is None


def test_client_state_that_breaks_the_client_is_discarded_not_a_configuration_error():
    # finding 7: once the key matched, fields of the wrong type made the client constructor
    # raise, which the app reported as "configuration rejected", every 60 s, forever
    fakeboard.use()
    d = fakeboard.workdir("badclient")
    _, cfg, sec = _files_in(d, cycles=2, state_file=d + "/state.json")
    key = app.make_client(settings.load(cfg), settings.load(sec, "secrets.json")).state()["key"]
    for bad in ({"latched": "invalid_client"}, {"next": "soon", "failures": 1.5},
                {"token": {"exp": 4102444800}}, {"failures": None, "latched": [1, 2, 3, 4, 5]}):
        reset(profile="zaikio")
        bad["key"] = key
        fakeboard.write_json(d + "/state.json", {"c": bad})
        cap = Capture()
        try:
            a = boot(cfg, sec, board(stop_after=5))
        finally:
            lines = cap.stop()
        assert cap.having("configuration rejected") == [], (bad, lines)
        assert a.last_error is None and a.board.waits == [5], bad
        assert len(token_requests()) == 1
        with open(d + "/state.json") as f:
            assert "token" in json.load(f)["c"]


def test_a_boot_failure_that_is_not_the_configuration_is_not_called_one():
    fakeboard.use()
    reset(profile="zaikio")
    _, cfg, sec = files("bootfail")
    real, calls = mainloop.make_client, []

    def flaky(*args, **kw):
        calls.append(1)
        if len(calls) < 3:
            raise MemoryError("memory allocation failed, allocating 4096 bytes")
        return real(*args, **kw)

    mainloop.make_client = flaky
    cap = Capture()
    try:
        a = boot(cfg, sec)
    finally:
        mainloop.make_client = real
        lines = cap.stop()
    assert a.last_error is None and a.board.waits == [60, 60, 5]
    assert cap.having("configuration") == [], lines
    assert len(cap.having("MemoryError: memory allocation failed")) == 2, lines


def test_aioapp_boots_over_a_corrupt_state_file():
    reset(profile="zaikio")
    d = fakeboard.workdir("aiocorrupt")
    with open(d + "/state.json", "w") as f:
        f.write("[" * 40000)
    cfg = {"profile": "zaikio", "base_url": url(), "interval": 0.01, "cycles": 2,
           "scope": [SCOPE], "api_url": url("/api/v1/resource"), "state_file": d + "/state.json"}
    a = asyncio.run(aioapp.run(cfg, {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}))
    assert a.last_error is None and a.roles == ["owner", "admin"]
    with open(d + "/state.json") as f:
        assert "token" in json.load(f)["c"]  # the same layout as the blocking app's


# -- 5. the app sleeps the library's wait, and says a latch once ----------------------------


def test_a_permanent_error_is_said_once_per_latch_with_the_next_attempt():
    fakeboard.use()
    for wait, waits, when in ((None, [60, 60, 60], "after a configuration change"),
                              (HOUR * 1000, [3600, 3600, 3600], "in 3600 s (20")):
        b = board()
        c = Tls(wait)
        c.fail(OAuthError("invalid_client", "Client authentication failed", 401))
        cap = Capture()
        try:
            a = app.App(config(), c, b, clock=FakeClock())
            mainloop.run(a, b, 4)
            c.fail(OAuthError("invalid_client", "again, after the long wait", 401))
            mainloop.run(a, b, 1)  # a new latch (the one attempt failed): said again
        finally:
            lines = cap.stop()
        said = cap.having("permanent error")
        assert b.waits == waits and len(said) == 2, lines
        assert when in said[0] and "invalid_client" in said[0], said[0]
        assert a.saved["error"].startswith("invalid_client")


def test_a_latch_flag_works_as_well_as_the_latched_error():
    # the client may say "latched" as a flag (True/False) rather than the error: the app then
    # tells latches apart by the error raised, and False is no latch
    fakeboard.use()
    b = board()
    c = Tls(HOUR * 1000)
    c.latched = True
    cap = Capture()
    try:
        a = app.App(config(), c, b, clock=FakeClock())
        mainloop.run(a, b, 3)
        c.latched, c.wait = False, 2000
        mainloop.run(a, b, 1)
    finally:
        lines = cap.stop()
    assert len(cap.having("permanent error")) == 1 and b.waits == [3600, 3600], lines
    assert len(cap.having("failed: tls_verification_failed")) == 1, lines


def test_no_failure_sleeps_in_a_tight_loop():
    fakeboard.use()
    b = board()
    errors = [OSError(113)] * 6 + [OAuthError("http_503", status=503)] * 3
    c = Broken(*errors, wait=0)
    a = app.App(config(interval=0), c, b)
    mainloop.run(a, b, 9)
    assert min(b.waits) >= 5 and len(b.waits) == 8, b.waits
    c.wait = -5  # a library that says "now" or less while failing: the app's own floor
    c.errors = [OSError(110)] * 3
    mainloop.run(a, b, 3)
    assert min(b.waits) >= 5


# -- 6. logs: server text sanitised, no secret in any line ----------------------------------


def _clean(lines):
    for ln in lines:
        for bad in ("\r", "\n", "\x1b", "\x00", "\x9b"):
            assert bad not in ln, repr(ln)
        assert len(ln) <= 260, len(ln)


def test_server_text_in_the_apps_log_lines_is_sanitised():
    # finding 11: error_description was logged raw, so a server could forge log lines
    from board import Board

    fakeboard.use()
    reset(profile="zaikio")
    forged = "line1\r\n[app] roles: owner, admin\x1b[2J\x00\x9b" + "x" * 5000
    faults({"kind": "json", "status": 400, "path": "/oauth/",
            "body": {"error": "invalid_request", "error_description": forged}},
           {"kind": "patch", "path": "/oauth/", "fields": {"scope": "a\r\nb\x1b[31m"}},
           {"kind": "json", "status": 200, "path": "/api/v1/roles",
            "body": ["own\x1b[31mer", "ad\r\nmin"]})
    _, cfg, sec = files("sanitise", cycles=3, interval=60)
    cfg, sec = settings.load(cfg), settings.load(sec, "secrets.json")
    clock = FakeClock()
    b = fakeboard.ClockedBoard(Board(log=lambda *a: None), clock)
    cap = Capture()
    try:
        a = app.App(cfg, app.make_client(cfg, sec, clock=clock), b, Shared(RTCStore(
            fakeboard.use()[0].RTC())).part("a"), sec, clock=clock)
        mainloop.run(a, b, 3)
    finally:
        lines = cap.stop()
    assert a.last_error is None and len(token_requests()) == 2
    assert cap.having("invalid_request: line1") and cap.having("[oauthcc]")
    assert cap.having("token: scope=a") and cap.having("roles: own?[31mer, ad??min")
    _clean(lines)
    assert 0 < len(a.memory.load()["error"] or "x") <= 120


def test_no_secret_or_token_in_the_apps_log_lines():
    # test_leaks.py searches the library's lines; this, the app's new paths: a crash whose
    # text holds the secret and the token, a latch, a store that fails, the Date fallback
    machine, _, ntptime, _ = fakeboard.use()
    secret, wifi = "Sup3r:s3cret/+%&= \u00fc-xxxxxxxx", "wifi-Pa55-word"
    reset(profile="zaikio", clients=[{"client_id": CLIENT_ID, "client_secret": secret,
                                      "granted_scopes": None}])
    machine.rtc_fail = OSError(28)
    ntptime.clear(failures=-1)
    secrets = {"client_id": CLIENT_ID, "client_secret": secret, "wifi_password": wifi}
    _, cfg, sec = files("nosecret", secrets, cycles=2, ntp_timeout=0.2)
    cap = Capture()
    try:
        a = boot(cfg, sec)
        t = a._token
        b = a.board
        a.client = Broken(ValueError("bad %s and %s or %s" % (t.access_token, secret, wifi)),
                          ValueError("refresh %s" % t.refresh_token))
        mainloop.run(a, b, 2)
        reset(profile="zaikio")  # the secret is refused now: invalid_client, latched
        a.client = app.make_client(a.config, secrets)
        mainloop.run(a, b, 2)
        a.saved.pop("ntp", None)
        machine.rtc_datetime = None
        a.clock_from_server()
    finally:
        lines = cap.stop()
    assert cap.having("ValueError: bad ***") and cap.having("permanent error")
    assert cap.having("[state] not saved") and cap.having("clock set from")
    text = "\n".join(lines + [repr(a.saved)])
    for needle in (secret, wifi, t.access_token, t.refresh_token, "Pa55", "s3cret/"):
        assert needle not in text, "a secret in the app's log lines"


# -- 7. what red13 found (second round): the watchdog, NTP, the role order -----------------

TOKEN_URL = "http://as.example/oauth/token"
API = "http://as.example/api/v1/resource"
ROLES = "http://as.example/api/v1/roles"


def answer(at, expires_in=600, refresh_token=None):
    d = {"access_token": at, "token_type": "bearer", "expires_in": expires_in}
    if refresh_token is not None:
        d["refresh_token"] = refresh_token
    return Response(200, {"content-type": "application/json"}, json.dumps(d).encode())


class Server:
    """A transport: answer(method, url, form body, headers) gives each Response; `took` ms of
    the fake clock pass per request (a slow server). Keeps what was asked."""

    def __init__(self, answer, clock=None, took=0):
        self.answer = answer
        self.clock = clock
        self.took = took
        self.sent = []

    def request(self, method, url, body=None, headers=None, max_body=None):
        self.sent.append((method, url, body or "", dict(headers or {})))
        if self.took:
            self.clock.advance(self.took)
        return self.answer(method, url, body or "", headers or {})

    def close(self):  # keep-alive: the app closes the connection before every sleep
        pass

    def tokens(self):
        return [s for s in self.sent if s[1] == TOKEN_URL]


def scripted(server, clock):
    return TokenClient(TOKEN_URL, "dev-1", "s3cret", "read", api_origins=[API, ROLES],
                       transport=server, clock=clock, rand=lambda n: n // 2)


def scripted_config(**kw):
    return config(api_url=API, roles_url=ROLES, interval=60, **kw)


class Watched(fakeboard.ClockedBoard):
    """A board whose waits advance the fake clock, keeping the time of each watchdog feed
    (board.wait feeds every second while it sleeps, test_board)."""

    def __init__(self, clock):
        from board import Board

        fakeboard.ClockedBoard.__init__(self, Board(log=lambda *a: None), clock)
        self.fed = [clock.ticks_ms()]

    def feed(self):
        self.fed.append(self.clock.ticks_ms())

    def wait(self, seconds, light=False):
        self.waits.append(seconds)
        for _ in range(int(seconds)):
            self.feed()
            self.clock.advance(1000)
        self.feed()

    def longest_unfed_ms(self):
        self.feed()
        f = self.fed
        return max(self.clock.ticks_diff(f[i + 1], f[i]) for i in range(len(f) - 1))


def test_the_watchdog_is_fed_before_every_request_of_a_slow_cycle():
    # red13 finding 1: fed only while the board waited, joined Wi-Fi or asked NTP, so a server
    # answering after 29 s (within the 30 s deadline) made a five-request cycle (token, roles,
    # API 401, renewal, API) 145 s without a feed: a reset mid-cycle, every cycle
    fakeboard.forget()
    clock = FakeClock()
    seen = []

    def slow(method, u, body, headers):
        if u == TOKEN_URL:
            return answer("tok%d" % len(seen), refresh_token="rt")
        if u == API:
            seen.append(headers.get("Authorization"))
            return Response(401 if len(seen) == 1 else 200, {}, b"{}")
        return Response(200, {}, b'["owner"]')

    s = Server(slow, clock, took=29_000)
    b = Watched(clock)
    a = app.App(scripted_config(), scripted(s, clock), b, clock=clock)
    mainloop.run(a, b, 2)
    # five, then the next cycle's role order (a new token) and API call
    assert a.last_error is None and len(s.sent) == 7, s.sent
    assert b.longest_unfed_ms() == 29_000  # one request's time, not a cycle's


def test_a_watchdog_cut_by_the_port_cuts_the_requests_deadline_to_fit():
    # red15 finding 2: on an rp2 (its WDT takes at most 8388 ms) the default watchdog (120 s)
    # was cut, the client kept its 30 s deadline and 10 s timeout: a request slower than
    # 8.4 s reset the board, in every cycle. Now both fit in it (a quarter left for DNS and
    # the work between feeds), said in one line
    machine = fakeboard.use()[0]
    cap = Capture()
    try:
        machine.WDT_MAX_MS = 8388
        reset(profile="zaikio")
        _, cfg, sec = files("wdt_cut", cycles=1, watchdog=120)
        a = boot(cfg, sec)
        t = a.client._transport
        assert [e[1] for e in machine.events if e[0] == "wdt"][0] == 8388
        assert (t.deadline_ms, t.timeout_ms) == (6291, 6291), (t.deadline_ms, t.timeout_ms)
        assert cap.having("[app] watchdog 8388 ms: request deadline 30000 ms, timeout 10000 "
                          "ms cut to 6291 ms"), cap.lines
        # a watchdog the port takes as configured changes nothing
        machine.clear()
        reset(profile="zaikio")
        _, cfg, sec = files("wdt_kept", cycles=1, watchdog=60)
        a = boot(cfg, sec)
        t = a.client._transport
        assert (t.deadline_ms, t.timeout_ms) == (30000, 10000)
        assert len(cap.having("cut to")) == 1
        # the rule: the margin (20 s) is left, or a quarter of the watchdog when that is less
        for wdt_ms, deadline_ms, timeout_ms in ((50_000, 30_000, 10_000), (36_000, 27_000,
                                                10_000), (12_000, 9_000, 9_000)):
            a.client._transport = t = Options()
            mainloop.fit(a.client, wdt_ms, 20_000)
            assert (t.deadline_ms, t.timeout_ms) == (deadline_ms, timeout_ms), wdt_ms
    finally:
        cap.stop()
        fakeboard.forget()


class Options:
    deadline_ms = 30_000
    timeout_ms = 10_000


RTC_PINS = (0, 2, 4, 12, 13, 14, 15, 25, 26, 27, 32, 33, 34, 35, 36, 37, 38, 39)


def test_a_repl_pin_that_cannot_wake_an_esp32_does_not_end_the_loop():
    # red15 finding 1: sleep "deep", repl_pin 5 (no RTC GPIO): esp32.wake_on_ext0 raised
    # ValueError in Board.deepsleep, outside the cycle's try: main() ended at the REPL after
    # one cycle. Now the board sleeps without the wake pin
    machine = fakeboard.use()[0]
    import esp32

    def wake_on_ext0(pin, level):
        if pin.id not in RTC_PINS:
            raise ValueError("invalid pin")
        esp32.wake.append((pin.id, level))

    esp32.wake_on_ext0 = wake_on_ext0
    try:
        reset(profile="zaikio")
        _, cfg, sec = files("wake_pin", sleep="deep", repl_pin=5, interval=300, cycles=0)
        a = boot(cfg, sec)
        assert a.last_error is None and len(token_requests()) == 1
        assert ("deepsleep", 300_000) in machine.events and esp32.wake == []
    finally:
        fakeboard.forget()


def test_a_repl_pin_the_board_lacks_does_not_keep_the_loop_from_starting():
    # red15 finding 1: machine.Pin's ValueError in Board.hold_loop left main() before the
    # loop: the device never ran. Now the pin is ignored (the flag file and Ctrl-C still work)
    machine = fakeboard.use()[0]
    Pin = machine.Pin

    class Checked(Pin):
        def __init__(self, id, mode=-1, pull=-1):
            if id not in RTC_PINS:
                raise ValueError("invalid pin")
            Pin.__init__(self, id, mode, pull)

    machine.Pin = Checked
    try:
        reset(profile="zaikio")
        _, cfg, sec = files("lacks_pin", repl_pin=40, cycles=1)
        a = boot(cfg, sec)
        assert a is not None and a.last_error is None and len(token_requests()) == 1
    finally:
        machine.Pin = Pin
        fakeboard.forget()


class Refusing(fakeboard.RecordingBoard):
    """A board whose light and deep sleeps raise, as a port may refuse them."""

    def wait(self, seconds, light=False):
        if light:
            raise OSError(22, "lightsleep refused")
        fakeboard.RecordingBoard.wait(self, seconds)

    def deepsleep(self, seconds):
        raise OSError(22, "deepsleep refused")


def test_a_sleep_the_port_refuses_is_said_and_the_loop_idles_instead():
    # nothing Board does between the cycles ends the loop: a lightsleep or deepsleep that
    # raises is logged, and the board waits as with sleep "idle"
    fakeboard.use()
    cap = Capture()
    try:
        from board import Board

        for mode in ("light", "deep"):
            reset(profile="zaikio")
            _, cfg, sec = files("refused_" + mode, sleep=mode, interval=30, cycles=3)
            b = Refusing(Board(log=lambda *a: None))
            a = boot(cfg, sec, b)
            assert a.last_error is None and b.waits == [30, 30], (mode, b.waits)
            assert len(cap.having("[app] sleep failed (OSError: ")) == 2, cap.lines
            del cap.lines[:]
    finally:
        cap.stop()
        fakeboard.forget()


def test_a_malformed_ntp_answer_is_an_ntp_failure_and_the_cycles_go_on():
    # red13 finding 2: ntptime's ValueError on an answer under 44 bytes escaped sync_ntp, so
    # App.clock() raised before it planned the next sync: every cycle a crash, no token ever,
    # though the clock was set
    machine, _, ntptime, _ = fakeboard.use()
    try:
        machine.rtc_datetime = (2026, 12, 2, 2, 12, 0, 0, 0)  # the clock is set

        def short():
            ntptime.calls += 1
            raise ValueError("buffer too small")

        ntptime.settime = short
        clock = FakeClock()
        s = Server(lambda m, u, b, h: answer("tok") if u == TOKEN_URL else
                   Response(200, {}, b'["owner"]'))
        from board import Board

        b = fakeboard.RecordingBoard(Board(log=lambda *a: None))
        cap = Capture()
        try:
            a = app.App(scripted_config(), scripted(s, clock), b, clock=clock)
            mainloop.run(a, b, 3)
        finally:
            lines = cap.stop()
        assert ntptime.calls >= 1 and a.last_error is None
        assert len(s.tokens()) == 1 and len(s.sent) == 5, s.sent  # token, roles, 3 API calls
        assert not [ln for ln in lines if "unexpected error" in ln], lines
    finally:
        fakeboard.forget()


def test_a_watchdog_timeout_the_port_refuses_is_cut_and_the_loop_runs():
    # red13 finding 5: Board.arm let the port's ValueError out of main() before the first
    # cycle: the default 120 s on an rp2 (8388 ms at most), 3,000,000 s on an ESP32
    for most, watchdog, armed in ((8388, 120, 8388), (0x3FFFFFFF, 3_000_000, 0x3FFFFFFF)):
        machine = fakeboard.use()[0]
        machine.WDT_MAX_MS = most
        reset(profile="zaikio")
        _, cfg, sec = files("wdt_refused", watchdog=watchdog, cycles=1)
        cap = Capture()
        try:
            a = boot(cfg, sec)
        finally:
            cap.stop()
        assert a is not None and a.last_error is None and a.board.wdt_ms == armed, most
        assert [e[1] for e in machine.events if e[0] == "wdt"][0] == armed


def test_a_role_order_that_is_no_list_is_a_failed_step_backed_off():
    # red13 finding 6 (the app's part): a roles endpoint answering 401 counted each cycle a
    # success, fetched again at once; now a failed step, the app's own backoff (the token
    # requests its 401s force are the library's rule, test_red13)
    fakeboard.forget()
    clock = FakeClock()
    s = Server(lambda m, u, b, h: answer("tok%d" % len(s.sent)) if u == TOKEN_URL else
               Response(401 if u == ROLES else 200, {}, b"{}"))
    from board import Board

    b = fakeboard.ClockedBoard(Board(log=lambda *a: None), clock)
    cap = Capture()
    try:
        a = app.App(scripted_config(), scripted(s, clock), b, clock=clock)
        mainloop.run(a, b, 5)
    finally:
        lines = cap.stop()
    assert b.waits == [5, 10, 20, 40] and a.last_error.error == "invalid_roles"
    assert not [x for x in s.sent if x[1] == API]  # no API call on a token without roles
    assert cap.having("failed: invalid_roles: GET %s -> 401: not a role order" % ROLES), lines


def test_a_deeply_nested_role_order_is_refused_cheaply():
    # red13 finding 7: 32 KB of [ and ] (within max_body) raised RecursionError on CPython, a
    # crash every cycle, and took 1.1 MB of heap on MicroPython: a MemoryError every cycle on
    # a board, then a reset a day. Now refused before json.loads, as a failed step, and so
    # is a wide one (4 KB of empty lists took 100 KB) or one of more than 129 names.
    import gc

    a = app.App(config(roles_url=ROLES), None)
    t = Token("tok", extra={"bearer_on_behalf_of": {"roles": ["owner"]}})
    mp = sys.implementation.name == "micropython"
    wide = b"[" + b"[]," * 1364 + b"[]]"  # 4 KB: 1365 lists, 100 KB of heap on the unix port
    names = b"[" + b'"a",' * 200 + b'"a"]'
    for body in (b"[" * 16000 + b"]" * 16000, b"[[[" + b'"x", ' * 1000 + b"]]]",
                 b'["' + b"x" * 5000 + b'"]', wide, names, b'[["owner"], "admin"]'):
        gc.collect()
        if mp:
            gc.disable()  # nothing collected: mem_alloc() grows by all that is allocated
            before = gc.mem_alloc()
        try:
            e = raises(OAuthError, a.roles_from, t, Response(200, {}, body))
            used = gc.mem_alloc() - before if mp else 0
        finally:
            gc.enable()
        assert e.error == "invalid_roles" and a.roles is None, body[:10]
        assert used <= 16 * 1024, "%d KB of heap for a role order" % (used // 1024)
    a.roles_from(t, Response(200, {}, b'["ad[m{in", "owner"' + b', "x"' * 126 + b"]"))
    assert a.roles == ["owner"]  # a flat list of 128 names: read ("[" in a name is no nesting)
