# What CPython lacks of MicroPython, loaded by _port on CPython only: a board never reads it.
import time


def const(x):
    return x


# The same ticks arithmetic as the ESP32 port, wrapping at 2**30 ms, so host runs exercise
# the wrap instead of hiding it behind 64-bit time.
_PERIOD = 1 << 30
_HALF = 1 << 29


def ticks_ms():
    return int(time.monotonic() * 1000) & (_PERIOD - 1)


def ticks_add(t, delta):
    return (t + delta) & (_PERIOD - 1)


def ticks_diff(a, b):
    return ((a - b + _HALF) & (_PERIOD - 1)) - _HALF
