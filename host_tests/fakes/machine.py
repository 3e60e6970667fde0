# Fake of MicroPython's machine module, for tests only (host_tests/fakes is on the path only
# there). It records what the app does to the board in `events`.
import time

PWRON_RESET = 1
DEEPSLEEP_RESET = 4
WDT_MAX_MS = 0x3FFFFFFF  # set lower to play a port with a short watchdog (rp2: 8388)

cause = PWRON_RESET
events = []
feeds = 0
rtc_memory = b""
rtc_datetime = None
rtc_fail = None  # an exception that every RTC memory write raises (a failing store)
pins = {}  # pin id -> level; absent pins read high (pull-up)


class ResetCalled(Exception):
    pass


def clear():
    global cause, feeds, rtc_memory, rtc_datetime, rtc_fail, WDT_MAX_MS
    cause = PWRON_RESET
    feeds = 0
    rtc_memory = b""
    rtc_datetime = None
    rtc_fail = None
    WDT_MAX_MS = 0x3FFFFFFF
    del events[:]
    pins.clear()


def reset_cause():
    return cause


def reset():
    events.append(("reset",))
    raise ResetCalled()


def deepsleep(ms=0):
    events.append(("deepsleep", ms))  # a real board never returns from here


def lightsleep(ms=0):
    events.append(("lightsleep", ms))
    time.sleep(ms / 1000)


class WDT:
    def __init__(self, id=0, timeout=5000):
        if timeout > WDT_MAX_MS:
            raise ValueError("WDT timeout too long")
        events.append(("wdt", timeout))

    def feed(self):
        global feeds
        feeds += 1


class RTC:
    def memory(self, data=None):
        global rtc_memory
        if data is None:
            return rtc_memory
        if rtc_fail is not None:
            raise rtc_fail
        if len(data) > 2048:
            raise ValueError("buffer too long")
        rtc_memory = bytes(data)
        events.append(("rtc_memory", len(data)))

    def datetime(self, t=None):
        global rtc_datetime
        if t is None:
            return rtc_datetime
        rtc_datetime = tuple(t)
        events.append(("rtc_datetime", rtc_datetime))


class Pin:
    IN = 1
    OUT = 3
    PULL_UP = 1

    def __init__(self, id, mode=-1, pull=-1):
        self.id = id

    def value(self, v=None):
        return pins.get(self.id, 1)
