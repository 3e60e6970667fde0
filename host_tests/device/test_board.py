# board.Board against fakes of machine, network, ntptime and esp32, on both runtimes.
import fakeboard

from oauthcc._port import ticks_diff, ticks_ms


def board():
    fakeboard.use()
    from board import Board

    return Board(log=lambda *a: None)


def test_wifi_connects_within_deadline_and_feeds_watchdog():
    b = board()
    import machine
    import network

    network.clear(after=3)
    b.arm(4000)
    assert b.connect("home", "pw", 5)
    w = network.wlans[0]
    assert (w.ssid, w.key, w.active()) == ("home", "pw", True)
    assert machine.feeds >= 3
    assert b.connect("home", "pw", 5) and w.connects == 1  # connected: nothing to do


def test_wifi_gives_up_at_deadline():
    b = board()
    import network

    network.clear(after=None)  # an access point that never answers
    start = ticks_ms()
    assert not b.connect("home", "pw", 0.3)
    took = ticks_diff(ticks_ms(), start)
    assert 250 <= took < 3000
    assert not network.wlans[0].isconnected()  # disconnected: the driver stops retrying


def test_wifi_without_ssid_or_without_network_module():
    b = board()
    import network

    assert not b.connect(None, "", 1)
    assert network.wlans[0].connects == 0
    fakeboard.forget()
    from board import Board

    assert Board(log=lambda *a: None).connect(None, None, 1)  # the host is online


def test_ntp_retries_within_its_deadline():
    b = board()
    import ntptime

    ntptime.clear(failures=2)
    assert b.sync_ntp("time.example", 5)
    assert ntptime.calls == 3 and ntptime.host == "time.example"
    ntptime.clear(failures=-1)
    start = ticks_ms()
    assert not b.sync_ntp(None, 0.5)
    assert ticks_diff(ticks_ms(), start) < 3000 and ntptime.calls >= 1


def test_a_malformed_ntp_answer_is_an_ntp_failure():
    # micropython-lib's ntptime unpacks msg[40:44]: a UDP answer under 44 bytes raises
    # ValueError (struct.error on CPython); any exception of settime is a failed sync
    b = board()
    import ntptime

    ntptime.clear()
    settime = ntptime.settime

    def short():
        ntptime.calls += 1
        raise ValueError("buffer too small")

    ntptime.settime = short
    try:
        assert not b.sync_ntp(None, 0.3) and ntptime.calls >= 1
    finally:
        ntptime.settime = settime


def test_a_watchdog_timeout_the_port_refuses_is_cut_to_its_longest():
    said = []
    b = board()
    b.log = said.append
    import machine

    machine.WDT_MAX_MS = 8388  # rp2: the default 120 s is refused
    assert b.arm(120_000) and b.wdt_ms == 8388
    assert machine.events == [("wdt", 8388)] and "armed at 8388 ms" in said[-1], said
    machine.clear()
    assert b.arm(3_000_000_000) and b.wdt_ms == 0x3FFFFFFF  # an ESP32 takes 2**30 - 1 ms
    b = board()
    b.log = said.append
    import machine  # board() imports the fakes anew

    machine.WDT_MAX_MS = 100  # none of the longest fits either: no watchdog, no exception
    assert not b.arm(120_000) and b.wdt is None and machine.events == []
    assert "none armed" in said[-1], said


def test_set_clock_writes_utc_into_the_rtc():
    b = board()
    import machine

    assert b.set_clock(1767225600 + 3723)  # Thu 2026-01-01 01:02:03 UTC
    assert machine.rtc_datetime == (2026, 1, 1, 3, 1, 2, 3, 0)


def test_disarm_rearms_watchdog_with_longest_timeout():
    b = board()
    import machine

    b.disarm()  # never armed: nothing to do
    assert machine.events == []
    b.arm(8000)
    b.disarm()
    assert machine.events == [("wdt", 8000), ("wdt", 0x3FFFFFFF)]
    machine.clear()
    machine.WDT_MAX_MS = 8388  # rp2
    b.arm(8000)
    b.disarm()
    assert machine.events[-1] == ("wdt", 8388)


def test_wait_feeds_watchdog_every_half_timeout():
    b = board()
    import machine

    b.arm(200)
    b.wait(0.35)
    assert machine.feeds >= 4
    machine.clear()
    b.wait(0.25, light=True)
    sleeps = [e[1] for e in machine.events if e[0] == "lightsleep"]
    assert sleeps and max(sleeps) <= 100 and sum(sleeps) >= 200


def test_hold_loop_by_flag_file_pin_or_nothing():
    b = board()
    import machine

    d = fakeboard.workdir("hold")
    assert not b.hold_loop(d + "/noloop", None, 0.1)
    with open(d + "/noloop", "w") as f:
        f.write("")
    assert b.hold_loop(d + "/noloop", None, 0)
    machine.pins[0] = 0  # the BOOT button held
    assert b.hold_loop(d + "/none", 0, 0.5)
    assert b.wake_pin is not None


def test_deepsleep_wakes_on_the_repl_pin():
    b = board()
    import esp32
    import machine

    assert not b.woke_from_deepsleep()
    b.hold_loop("no-such-flag", 0, 0)
    assert b.deepsleep(30)
    assert machine.events[-1] == ("deepsleep", 30000)
    assert esp32.wake == [(0, esp32.WAKEUP_ALL_LOW)]
    machine.cause = machine.DEEPSLEEP_RESET
    assert b.woke_from_deepsleep()


RTC_PINS = (0, 2, 4, 12, 13, 14, 15, 25, 26, 27, 32, 33, 34, 35, 36, 37, 38, 39)


def test_a_repl_pin_that_cannot_wake_an_esp32_is_said_and_the_board_sleeps_without_it():
    # sleep "deep", repl_pin 5: not an RTC GPIO, so esp32.wake_on_ext0 raises ValueError
    # (modesp32.c); the sleep goes on without it, in one log line (red15: main() ended)
    fakeboard.use()
    import esp32
    import machine
    from board import Board

    said = []
    b = Board(log=said.append)

    def wake_on_ext0(pin, level):
        if pin.id not in RTC_PINS:
            raise ValueError("invalid pin")
        esp32.wake.append((pin.id, level))

    esp32.wake_on_ext0 = wake_on_ext0
    b.hold_loop("no-such-flag", 5, 0)
    assert b.deepsleep(30) and machine.events[-1] == ("deepsleep", 30000)
    assert esp32.wake == [] and said == [
        "[board] repl_pin cannot wake the board (invalid pin): sleeping without it"], said
    b.hold_loop("no-such-flag", 4, 0)  # an RTC GPIO wakes it
    assert b.deepsleep(30) and esp32.wake == [(4, esp32.WAKEUP_ALL_LOW)] and len(said) == 1


def test_a_repl_pin_the_board_lacks_is_said_and_ignored():
    # machine.Pin refuses it (40 on an ESP32, another board's "D3"): the flag file and Ctrl-C
    # still lead to the REPL, the loop starts (red15: the ValueError ended main())
    machine = fakeboard.use()[0]
    from board import Board

    class Checked(machine.Pin):
        def __init__(self, id, mode=-1, pull=-1):
            if id not in RTC_PINS:
                raise ValueError("invalid pin")
            machine.Pin.__init__(self, id, mode, pull)

    said = []
    b = Board(log=said.append)
    Pin, machine.Pin = machine.Pin, Checked
    try:
        assert not b.hold_loop("no-such-flag", "D3", 0.05)
    finally:
        machine.Pin = Pin
    assert b.wake_pin is None and said[0] == "[board] repl_pin 'D3' ignored (invalid pin)", said
    assert b.deepsleep(30) and machine.events[-1] == ("deepsleep", 30000)


def test_host_board_has_no_watchdog_rtc_or_deepsleep():
    fakeboard.forget()
    from board import Board

    b = Board(log=lambda *a: None)
    assert not b.arm(1000) and b.rtc() is None and not b.deepsleep(1)
    assert not b.sync_ntp(None, 1) and not b.set_clock(1767225600)
    b.disarm()
    b.wait(0.01)
