# Puts host_tests/fakes (machine, network, ntptime, esp32) first on the path: tests only.
import os
import sys

FAKES = __file__.rsplit("/", 2)[0] + "/fakes"
_NAMES = ("machine", "network", "ntptime", "esp32")


def use():
    """The fake modules, cleared; Board() created afterwards sees them."""
    if FAKES not in sys.path:
        sys.path.insert(0, FAKES)
    for n in _NAMES:
        sys.modules.pop(n, None)
    import esp32
    import machine
    import network
    import ntptime

    for m in (machine, network, ntptime, esp32):
        m.clear()
    return machine, network, ntptime, esp32


def forget():
    """Back to the runtime's own modules (none on CPython, a partial machine on unix)."""
    while FAKES in sys.path:
        sys.path.remove(FAKES)
    for n in _NAMES:
        sys.modules.pop(n, None)


def workdir(name):
    """An empty folder under build/ for one test and runtime (no tempfile on MicroPython)."""
    path = ""
    for part in ("build", "tests", sys.implementation.name, name):
        path += ("/" if path else "") + part
        try:
            os.mkdir(path)
        except OSError:
            pass
    for f in os.listdir(path):
        os.remove(path + "/" + f)
    return path


def write_json(path, obj):
    import json

    with open(path, "w") as f:
        f.write(json.dumps(obj))


class RecordingBoard:
    """A board.Board whose waits are recorded, not slept: loop tests run in milliseconds."""

    limit = 50  # a loop test that never ends is a failure, not a hang

    def __init__(self, board, stop_after=None):
        self.b = board
        self.waits = []
        self.stop_after = stop_after

    def __getattr__(self, name):
        return getattr(self.b, name)

    def hold_loop(self, flag="noloop", pin=None, window_s=0):
        self.window = window_s  # recorded; the boot window itself is tested in test_board
        return self.b.hold_loop(flag, pin, 0)

    def wait(self, seconds, light=False):
        self.waits.append(seconds)
        if len(self.waits) > self.limit:
            raise AssertionError("more than %d waits: %r" % (self.limit, self.waits[:10]))
        if self.stop_after is not None and len(self.waits) >= self.stop_after:
            raise KeyboardInterrupt()


class ClockedBoard(RecordingBoard):
    """A RecordingBoard whose waits advance a support.FakeClock: a day of backoff in
    milliseconds, the ticks wrapping on the way."""

    def __init__(self, board, clock, stop_after=None, limit=400):
        RecordingBoard.__init__(self, board, stop_after)
        self.clock = clock
        self.limit = limit

    def wait(self, seconds, light=False):
        self.clock.advance(int(seconds * 1000))
        RecordingBoard.wait(self, seconds, light)


class BoardClock:
    """The library's clock on a board whose RTC starts in 2000: unix_time() is None until the
    (fake) RTC has been set, as oauthcc.clock.unix_time() is on an ESP32 before NTP. Ticks
    and the time once set come from `clock` (a support.FakeClock), else the runtime's."""

    def __init__(self, machine, clock=None):
        if clock is None:
            from oauthcc import clock
        self.machine = machine
        self.ticks_ms, self.ticks_diff, self.ticks_add = (
            clock.ticks_ms, clock.ticks_diff, clock.ticks_add)
        self._real = clock.unix_time

    def unix_time(self):
        return None if self.machine.rtc_datetime is None else self._real()
