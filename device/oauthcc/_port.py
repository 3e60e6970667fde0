# The one place that knows CPython from MicroPython. Everything else imports from here.
try:
    from micropython import const

    MICROPYTHON = True  # for the few places whose workaround only MicroPython needs
except ImportError:
    from ._cpython import const  # a module CPython alone loads: no bytes of it on a board

    MICROPYTHON = False


try:
    from binascii import a2b_base64, b2a_base64  # noqa: F401 (re-exported)
except ImportError:  # firmware before 1.20 has only the u-prefixed name
    from ubinascii import a2b_base64, b2a_base64  # type: ignore  # noqa: F401

import time

try:
    ticks_ms = time.ticks_ms
    ticks_add = time.ticks_add
    ticks_diff = time.ticks_diff
except AttributeError:  # CPython: ticks that wrap at 2**30 ms as on the ESP32
    from ._cpython import ticks_add, ticks_diff, ticks_ms  # noqa: F401 (re-exported)


# No ticks deadline lies further ahead than a day: ticks_diff is valid to 2**29 ms on ESP32.
DAY_MS = const(86_400_000)

# The ESP32 port counts wall-clock seconds from 2000, CPython and the unix port from 1970.
EPOCH_OFFSET = 946684800 if time.gmtime(0)[0] == 2000 else 0


def unix_time():
    """Wall clock in Unix seconds (1970 epoch), or None while the clock is not set."""
    t = int(time.time()) + EPOCH_OFFSET
    return t if t >= 1735689600 else None  # 2025-01-01: anything earlier is an unset RTC


def release(names):
    """Let go of these modules of the package (names without the package's): sys.modules and
    the package's attributes forget them, so their code goes back to the heap once nothing
    else holds it; the next import loads them again. For code that serves one moment (the
    boot, a renewal): the steady state runs in the heap it took."""
    import sys

    p = __name__.rpartition(".")[0]
    d = sys.modules[p].__dict__
    for m in names:
        sys.modules.pop(p + "." + m, None)
        d.pop(m, None)  # the package's attribute, set by the import
