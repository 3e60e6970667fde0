# State that must survive deep sleep (backoff, latch, last error, a small token): RTC memory on
# the board, a file elsewhere. Both stores have oauthcc.store.FileStore's load()/save(); the
# client's part is its ClientCore.state() dict.
import json

from oauthcc.clock import const

_MAGIC = b"oc1"  # RTC memory holds garbage after a power cut: no magic, no state
_RTC_SIZE = const(2048)  # ESP32's RTC user memory
_SHRINK = ("token", "refresh_token")  # dropped, in this order, when the state does not fit


class RTCStore:
    """load() -> dict or None; save(dict), over machine.RTC().memory().

    RTC memory survives deep sleep and soft resets, not a power cut, and costs no flash wear.
    When the state does not fit (a long JWT), the token goes first, then the refresh token:
    backoff, latch and last error always fit.
    """

    def __init__(self, rtc, size=_RTC_SIZE):
        self._rtc = rtc
        self.size = size
        self._last = None

    def load(self):
        try:
            data = bytes(self._rtc.memory())
            if data[:3] != _MAGIC:
                return None
            state = json.loads(data[3:])
        except (ValueError, MemoryError, OSError, TypeError, UnicodeError):
            return None  # corrupt: start afresh rather than crash at every boot
        if not isinstance(state, dict):
            return None
        self._last = data
        return state

    def save(self, state):
        data = _encode(state)
        for key in _SHRINK:
            if len(data) <= self.size:
                break
            state = _without(state, key)
            data = _encode(state)
        if len(data) > self.size or data == self._last:
            return
        self._rtc.memory(data)
        self._last = data


def _encode(state):
    return _MAGIC + json.dumps(state).encode()


def _without(state, key):
    """A copy of state without `key`, at the top level and in each part."""
    out = {}
    for k, v in state.items():
        if k == key:
            continue
        out[k] = _without(v, key) if isinstance(v, dict) and k != "extra" else v
    return out


class Shared:
    """One store, several users: the TokenClient saves part "c", the app part "a".

    Each part(name) has load()/save(); a save writes the whole state through the store,
    which writes only when it changed.
    """

    def __init__(self, store):
        self.store = store
        state = store.load()
        self.state = state if isinstance(state, dict) else {}

    def part(self, name):
        return _Part(self, name)


class _Part:
    def __init__(self, shared, name):
        self._shared = shared
        self._name = name

    def load(self):
        v = self._shared.state.get(self._name)
        return v if isinstance(v, dict) else None

    def save(self, value):
        s = self._shared
        s.state[self._name] = value
        s.store.save(s.state)


def open_store(board, path=None):
    """A file when `path` is given (it survives power cuts), else RTC memory where the board
    has it, else the file oauthcc_state.json (unix port, CPython)."""
    rtc = board.rtc() if path is None else None
    if rtc is not None:
        return RTCStore(rtc)
    from oauthcc.store import FileStore

    return FileStore(path or "oauthcc_state.json")
