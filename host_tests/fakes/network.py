# Fake of MicroPython's network module, for tests only.
STA_IF = 0
STAT_CONNECTING = 1001

connect_after = 0  # isconnected() polls after connect() before it says True; None: never
wlans = []


def clear(after=0):
    global connect_after
    connect_after = after
    del wlans[:]


class WLAN:
    def __init__(self, interface=STA_IF):
        self._active = False
        self._polls = -1  # not connecting
        self.ssid = None
        self.key = None
        self.connects = 0
        wlans.append(self)

    def active(self, on=None):
        if on is None:
            return self._active
        self._active = bool(on)

    def connect(self, ssid, key=None):
        self.ssid, self.key = ssid, key
        self.connects += 1
        self._polls = 0

    def disconnect(self):
        self._polls = -1

    def isconnected(self):
        if self._polls < 0 or connect_after is None:
            return False
        self._polls += 1
        return self._polls > connect_after

    def status(self):
        return STAT_CONNECTING
