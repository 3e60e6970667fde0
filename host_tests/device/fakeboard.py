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
        if len(self.waits) > 50:  # a loop test that never ends is a failure, not a hang
            raise AssertionError("more than 50 waits: %r" % self.waits[:10])
        if self.stop_after is not None and len(self.waits) >= self.stop_after:
            raise KeyboardInterrupt()
