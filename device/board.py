# The only app module that touches the hardware: Wi-Fi, clock, watchdog, sleep, RTC memory.
# machine, network, ntptime and esp32 are imported inside the methods, after _has() said they
# exist: the unix port has no network and CPython none of them, and there the same app runs
# on the host's network and clock. Plain import statements (not __import__) let the type
# check against micropython-esp32-stubs see every call.
import time

from oauthcc.clock import DAY_MS, EPOCH_OFFSET, const, ticks_add, ticks_diff, ticks_ms

_POLL_MS = const(200)  # Wi-Fi status poll, NTP retry pause
_SLICE_MS = const(1000)  # longest idle sleep between watchdog feeds and Ctrl-C checks
# The ESP32 watchdog cannot be stopped: before the REPL it is re-armed with the longest
# timeout it takes (2**30 - 1 ms, about 12 days; a small int on every port). rp2 takes at
# most 8388 ms, so a smaller value is tried when the port refuses the first.
WDT_LONGEST_MS = (0x3FFFFFFF, 8388)


def _sleep_ms(ms):
    time.sleep(ms / 1000)  # CPython has no sleep_ms; every port takes a float


def _has(module, attr):
    """True when `module` can be imported and has `attr`."""
    try:
        return hasattr(__import__(module), attr)
    except ImportError:
        return False


class Board:
    """What the app needs from the board, each step bounded. Missing hardware (unix port,
    CPython) turns a step into a no-op: no Wi-Fi to join, no watchdog, no RTC memory."""

    def __init__(self, log=print):
        self.log = log
        self.wdt = None
        self.wdt_ms = 0
        self.wlan = None
        self.wake_pin = None  # the REPL button: it wakes the board from deep sleep too

    # -- network -----------------------------------------------------------------------------

    def connect(self, ssid, password, timeout_s=20):
        """Join Wi-Fi; True when connected. Gives up after timeout_s (no endless wait)."""
        if not _has("network", "WLAN"):
            return True  # unix port or CPython: the host is online already
        import network

        wlan = self.wlan
        if wlan is None:
            wlan = self.wlan = network.WLAN(network.STA_IF)
        if wlan.isconnected():
            return True
        if not ssid:
            self.log("[board] no wifi_ssid in config.json")
            return False
        wlan.active(True)
        wlan.connect(ssid, password)
        deadline = ticks_add(ticks_ms(), int(timeout_s * 1000))
        while not wlan.isconnected():
            if ticks_diff(deadline, ticks_ms()) <= 0:
                self.log("[board] Wi-Fi %r: no connection within %s s (status %s)"
                         % (ssid, timeout_s, wlan.status()))
                wlan.disconnect()  # stop the driver's own retries until the next attempt
                return False
            self.feed()
            _sleep_ms(_POLL_MS)
        return True

    # -- clock -------------------------------------------------------------------------------

    def sync_ntp(self, host=None, timeout_s=5):
        """Set the RTC from NTP (UTC); True on success. Bounded by timeout_s in total."""
        if not _has("ntptime", "settime"):
            return False
        import ntptime

        if host:
            ntptime.host = host
        deadline = ticks_add(ticks_ms(), int(timeout_s * 1000))
        while True:
            left = ticks_diff(deadline, ticks_ms())
            if left <= 0:
                return False
            ntptime.timeout = max(1, min(left // 1000, 2))  # one UDP exchange at most this long
            self.feed()
            try:
                ntptime.settime()
                return True
            except Exception as e:  # timeout, DNS, a short or garbled answer: all NTP failures
                self.log("[board] NTP %s: %r" % (ntptime.host, e))
            _sleep_ms(_POLL_MS)

    def set_clock(self, unix_s):
        """Set the RTC to unix_s (UTC), e.g. from an HTTPS answer's Date header."""
        if not _has("machine", "RTC"):
            return False
        import machine

        tm = time.gmtime(unix_s - EPOCH_OFFSET)  # the ESP32 port counts from 2000
        machine.RTC().datetime((tm[0], tm[1], tm[2], tm[6], tm[3], tm[4], tm[5], 0))
        return True

    def rtc(self):
        """machine.RTC() when it has user memory (survives deep sleep), else None."""
        if not _has("machine", "RTC"):
            return None
        import machine

        r = machine.RTC()
        return r if hasattr(r, "memory") else None

    # -- watchdog ----------------------------------------------------------------------------

    def arm(self, timeout_ms):
        """Start the hardware watchdog (once started, it cannot be stopped on ESP32). A timeout
        the port refuses (rp2 takes at most 8388 ms; an ESP32 cannot convert 3e9 ms) is cut to
        the longest it takes below it, and said so. Never raises: False when none is armed."""
        if not timeout_ms or not _has("machine", "WDT"):
            return False
        import machine

        want = int(timeout_ms)
        for ms in (want,) + WDT_LONGEST_MS:
            if ms > want:
                continue
            try:
                self.wdt = machine.WDT(timeout=ms)
            except Exception:  # ValueError, OverflowError: too long for this port
                continue
            self.wdt_ms = ms
            if ms < want:
                self.log("[board] watchdog: %d ms refused, armed at %d ms" % (want, ms))
            return True
        self.log("[board] watchdog: %d ms refused, none armed" % want)
        return False

    def feed(self):
        if self.wdt is not None:
            self.wdt.feed()

    def disarm(self):
        """Before the REPL: re-arm the watchdog with its longest timeout, so a person at the
        REPL has days, not seconds, before it resets the board."""
        if self.wdt is not None:
            self.arm(WDT_LONGEST_MS[0])  # or the longest below it the port takes (rp2)
            self.feed()

    # -- sleeping ----------------------------------------------------------------------------

    def wait(self, seconds, light=False):
        """Sleep, feeding the watchdog at least every half timeout. Plain sleep keeps Ctrl-C
        working; light=True uses machine.lightsleep (less power, Ctrl-C only between slices)."""
        ms = min(int(seconds * 1000), DAY_MS)
        light = light and _has("machine", "lightsleep")
        step = 60_000 if light else _SLICE_MS
        if self.wdt_ms:
            step = min(step, self.wdt_ms // 2)
        end = ticks_add(ticks_ms(), ms)
        while True:
            left = ticks_diff(end, ticks_ms())
            if left <= 0:
                break
            self.feed()
            if light:
                import machine

                machine.lightsleep(min(left, step))
            else:
                _sleep_ms(min(left, step))
        self.feed()

    def deepsleep(self, seconds):
        """Deep sleep; on a board this does not return (it boots again into main.py).
        False where the port has no deep sleep: the caller waits instead."""
        if not _has("machine", "deepsleep"):
            return False
        import machine

        if self.wake_pin is not None and _has("esp32", "wake_on_ext0"):
            import esp32

            # pressing the REPL button wakes the board, and hold_loop() then sees it held; only
            # an RTC GPIO can (0, 2, 4, 12-15, 25-27, 32-39): any other sleeps without it
            try:
                esp32.wake_on_ext0(self.wake_pin, esp32.WAKEUP_ALL_LOW)
            except Exception as e:  # ValueError("invalid pin")
                self.log("[board] repl_pin cannot wake the board (%s): sleeping without it" % e)
        machine.deepsleep(min(int(seconds * 1000), DAY_MS))
        return True

    def woke_from_deepsleep(self):
        if not _has("machine", "DEEPSLEEP_RESET"):
            return False
        import machine

        return machine.reset_cause() == machine.DEEPSLEEP_RESET

    def reset(self):
        if not _has("machine", "reset"):
            raise SystemExit(1)  # unix port, CPython: end the process instead
        import machine

        machine.reset()

    # -- the way back to the REPL ------------------------------------------------------------

    def hold_loop(self, flag="noloop", pin=None, window_s=0):
        """True when the loop must not start, so the REPL stays free: the file `flag` exists,
        or GPIO `pin` is low (a button to ground) during the boot window. Ctrl-C during the
        window raises KeyboardInterrupt, which reaches the REPL."""
        import os

        try:
            os.stat(flag)
            self.log("[board] %s exists: loop not started (remove it to run)" % flag)
            return True
        except OSError:
            pass
        p = None
        if pin is not None and _has("machine", "Pin"):
            import machine

            try:
                p = self.wake_pin = machine.Pin(pin, machine.Pin.IN, machine.Pin.PULL_UP)
            except Exception as e:  # a pin this board lacks: the flag and Ctrl-C still work
                self.log("[board] repl_pin %r ignored (%s)" % (pin, e))
        if window_s:
            self.log("[board] Ctrl-C within %s s for the REPL" % window_s)
        end = ticks_add(ticks_ms(), int(window_s * 1000))
        while True:
            if p is not None and p.value() == 0:
                self.log("[board] pin %s held low: loop not started" % pin)
                return True
            if ticks_diff(end, ticks_ms()) <= 0:
                return False
            self.feed()
            _sleep_ms(min(100, max(1, ticks_diff(end, ticks_ms()))))
