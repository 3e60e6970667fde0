# State that must survive deep sleep (backoff, latch, last error, a small token): RTC memory on
# the board, a file elsewhere. Both stores have oauthcc.store.FileStore's load()/save(); the
# client's part is its ClientCore.state() dict. Best effort: through Shared, a store that
# cannot read is an empty state and one that cannot write is said once; neither ends the app.
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
        except Exception:  # corrupt (RecursionError on CPython): afresh, not a crash per boot
            return None
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
    which writes only when it changed. Neither raises: a state that cannot be read is empty
    (the next save rewrites it); a save that fails is said once through log, and the state
    stays in RAM (a flash that fails) or the part keeps its last value (a value that cannot
    be written at all, so it does not block the other part's saves).
    """

    def __init__(self, store, log=print):
        self.store = store
        self.log = log
        self.failing = False
        try:
            state = store.load()
        except Exception as e:
            log("[state] unreadable (%s): starting afresh" % type(e).__name__)
            state = None
        self.state = state if isinstance(state, dict) else {}

    def part(self, name):
        return _Part(self, name)

    def _said(self, e):
        if e is None:
            if self.failing:
                self.log("[state] saved again")
        elif not self.failing:
            self.log("[state] not saved (%s: %s): going on, kept in RAM"
                     % (type(e).__name__, e))
        self.failing = e is not None


class _Part:
    def __init__(self, shared, name):
        self._shared = shared
        self._name = name

    def load(self):
        v = self._shared.state.get(self._name)
        return v if isinstance(v, dict) else None

    def save(self, value):
        s = self._shared
        old = s.state.get(self._name)
        s.state[self._name] = value
        try:
            s.store.save(s.state)
        except OSError as e:  # the flash (full, read-only): the next save tries again
            s._said(e)
        except Exception as e:  # not JSON, or nested too deep to write: not kept
            if old is None:
                s.state.pop(self._name, None)
            else:
                s.state[self._name] = old
            s._said(e)
        else:
            s._said(None)


def open_store(board, path=None):
    """A file when `path` is given (it survives power cuts), else RTC memory where the board
    has it, else the file oauthcc_state.json (unix port, CPython)."""
    rtc = board.rtc() if path is None else None
    if rtc is not None:
        return RTCStore(rtc)
    from oauthcc.store import FileStore

    return FileStore(path or "oauthcc_state.json")
