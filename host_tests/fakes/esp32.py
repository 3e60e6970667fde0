# Fake of MicroPython's esp32 module, for tests only.
WAKEUP_ALL_LOW = False
WAKEUP_ANY_HIGH = True

wake = []


def clear():
    del wake[:]


def wake_on_ext0(pin, level):
    wake.append((pin.id, level))
