# Fake of MicroPython's ntptime module, for tests only.
host = "pool.ntp.org"
timeout = 1
fail = 0  # settime() calls that fail before one succeeds; -1: all fail
calls = 0


def clear(failures=0):
    global fail, calls, host, timeout
    fail, calls, host, timeout = failures, 0, "pool.ntp.org", 1


def settime():
    global calls
    calls += 1
    if fail < 0 or calls <= fail:
        raise OSError(110)  # ETIMEDOUT: UDP blocked
