# State that survives deep sleep: RTC memory (fake machine.RTC) or a file, on both runtimes.
import fakeboard
from state import RTCStore, Shared, open_store

from oauthcc import OAuthError, TokenClient
from oauthcc.store import FileStore
from oauthcc.transport import Response
from support import CLIENT_ID, CLIENT_SECRET, FakeClock, raises


def rtc():
    machine = fakeboard.use()[0]
    return machine, machine.RTC()


def test_rtc_store_round_trip_writes_only_on_change():
    machine, r = rtc()
    s = RTCStore(r)
    assert s.load() is None  # fresh RTC memory
    s.save({"a": {"error": "x"}, "c": {"failures": 2}})
    s.save({"a": {"error": "x"}, "c": {"failures": 2}})
    assert len([e for e in machine.events if e[0] == "rtc_memory"]) == 1
    assert RTCStore(r).load() == {"a": {"error": "x"}, "c": {"failures": 2}}


def test_corrupt_rtc_memory_is_ignored():
    machine, r = rtc()
    for junk in (b"", b"\xff" * 64, b"oc1{not json", b"oc1[1, 2]", b"oc1\xff\xfe", b"oc1"):
        machine.rtc_memory = junk
        assert RTCStore(r).load() is None
    s = RTCStore(r)
    s.load()
    s.save({"c": {"failures": 1}})  # and it is overwritten cleanly
    assert RTCStore(r).load() == {"c": {"failures": 1}}


def test_state_too_large_drops_the_token_first():
    machine, r = rtc()
    big = {"c": {"failures": 3, "latched": ["invalid_client", None, 401],
                 "token": {"access_token": "x" * 1700}, "refresh_token": "r" * 400},
           "a": {"error": "e"}}
    RTCStore(r).save(big)
    got = RTCStore(r).load()
    assert "token" not in got["c"] and got["c"]["refresh_token"] == "r" * 400
    assert got["c"]["latched"][0] == "invalid_client" and got["a"] == {"error": "e"}
    big["c"]["refresh_token"] = "r" * 2000
    RTCStore(r).save(big)
    got = RTCStore(r).load()
    assert "refresh_token" not in got["c"] and got["c"]["failures"] == 3
    assert len(machine.rtc_memory) <= 2048


def test_shared_parts_in_one_file_and_corrupt_file():
    path = fakeboard.workdir("shared") + "/state.json"
    sh = Shared(FileStore(path))
    sh.part("c").save({"failures": 1})
    sh.part("a").save({"error": "boom"})
    again = Shared(FileStore(path))
    assert again.part("c").load() == {"failures": 1}
    assert again.part("a").load() == {"error": "boom"}
    with open(path, "w") as f:
        f.write('{"c": [')
    assert Shared(FileStore(path)).part("c").load() is None


def _deep(n):
    x = []
    for _ in range(n):
        x = [x]
    return x


def test_a_part_that_cannot_be_encoded_does_not_block_the_other():
    # finding 6: 7,000 levels of nesting crashed json.dumps (RuntimeError, RecursionError)
    lines = []
    path = fakeboard.workdir("deep") + "/state.json"
    sh = Shared(FileStore(path), lines.append)
    sh.part("c").save({"token": {"extra": _deep(7000)}})  # never raises
    sh.part("a").save({"error": "e"})
    sh.part("c").save({"failures": 1})
    again = Shared(FileStore(path)).state
    assert again == {"a": {"error": "e"}, "c": {"failures": 1}}
    assert len(lines) == 2 and "not saved" in lines[0] and "saved again" in lines[1]
    machine = fakeboard.use()[0]
    r = RTCStore(machine.RTC())
    sh = Shared(r, lines.append)
    sh.part("c").save({"token": {"extra": _deep(7000)}})
    sh.part("a").save({"error": "e"})
    assert RTCStore(machine.RTC()).load() == {"a": {"error": "e"}}


class Unreadable:
    def load(self):
        raise RuntimeError("maximum recursion depth exceeded")  # CPython: 40 KB of "["

    def save(self, state):
        self.saved = state


def test_a_state_that_cannot_be_read_is_empty_and_rewritten():
    lines = []
    st = Unreadable()
    sh = Shared(st, lines.append)
    assert sh.part("c").load() is None and len(lines) == 1 and "afresh" in lines[0]
    sh.part("a").save({"error": None})
    assert st.saved == {"a": {"error": None}}
    path = fakeboard.workdir("brackets") + "/state.json"
    with open(path, "w") as f:
        f.write("[" * 40000)
    sh = Shared(FileStore(path), lines.append)
    assert sh.state == {}
    sh.part("a").save({"error": None})
    assert Shared(FileStore(path)).state == {"a": {"error": None}}


class Answer:
    """A transport that answers every request with one canned response."""

    def __init__(self, status, body, headers=None):
        self.r = Response(status, headers or {}, body)
        self.calls = 0

    def request(self, method, url, body=None, headers=None):
        self.calls += 1
        return self.r


def client(store, transport, clock):
    return TokenClient("https://auth.example/token", CLIENT_ID, CLIENT_SECRET, "read",
                       transport=transport, clock=clock, store=store, rand=lambda n: n)


def test_latch_and_backoff_survive_deep_sleep_in_rtc_memory():
    machine, r = rtc()
    clock = FakeClock()
    bad = Answer(401, b'{"error": "invalid_client"}')
    c = client(Shared(RTCStore(r)).part("c"), bad, clock)
    raises(OAuthError, c.token)
    # deep sleep: RAM is gone, RTC memory stays
    again = Answer(200, b'{"access_token": "t", "expires_in": 60}')
    c2 = client(Shared(RTCStore(r)).part("c"), again, clock)
    assert c2.latched.error == "invalid_client" and c2.next_attempt_in_ms() > 3_000_000
    assert raises(OAuthError, c2.token).error == "invalid_client" and again.calls == 0
    machine.rtc_memory = b""
    busy = Answer(503, b"", {"retry-after": "120"})
    c3 = client(Shared(RTCStore(r)).part("c"), busy, clock)
    raises(OAuthError, c3.token)
    c4 = client(Shared(RTCStore(r)).part("c"), again, clock)
    assert c4.next_attempt_in_ms() > 100_000
    assert raises(OAuthError, c4.token).error == "backoff" and again.calls == 0


def test_token_survives_deep_sleep_in_rtc_memory():
    machine, r = rtc()
    clock = FakeClock()
    ok = Answer(200, b'{"access_token": "tok-1", "expires_in": 600}')
    assert client(Shared(RTCStore(r)).part("c"), ok, clock).token().access_token == "tok-1"
    clock.advance(60_000)
    c2 = client(Shared(RTCStore(r)).part("c"), ok, clock)
    assert c2.token().access_token == "tok-1" and ok.calls == 1


def test_open_store_picks_rtc_memory_on_a_board_and_a_file_elsewhere():
    fakeboard.use()
    from board import Board

    assert isinstance(open_store(Board()), RTCStore)
    assert isinstance(open_store(Board(), "x.json"), FileStore)  # asked for: survives power
    fakeboard.forget()
    assert isinstance(open_store(Board(), "x.json"), FileStore)
