# The client's persisted state as a contract: ClientCore.state() and restore() are all a store
# sees, and the store module knows nothing of the client (both runtimes).
import json
import os
import sys

import fakeboard

from oauthcc import OAuthError, TokenClient
from oauthcc.store import FileStore, MemoryStore
from oauthcc.transport import Response
from support import (
    CLIENT_ID,
    CLIENT_SECRET,
    DAY_MS,
    SCRIPTED_API,
    FakeClock,
    Scripted,
    answer,
    raises,
    scripted_client,
)

OK = (200, b'{"access_token": "t1", "expires_in": 600, "refresh_token": "r1"}')


class Answers:
    """A transport that gives the canned responses in order."""

    def __init__(self, *answers):
        self.answers = [Response(s, {}, b) for s, b in answers]
        self.calls = 0

    def request(self, method, url, body=None, headers=None):
        self.calls += 1
        return self.answers.pop(0)


def client(transport, clock, store=None, secret=CLIENT_SECRET, log=None):
    return TokenClient("https://auth.example/token", CLIENT_ID, secret, "read",
                       transport=transport, clock=clock, store=store, rand=lambda n: n, log=log)


def test_state_is_a_json_dict_of_the_documented_fields():
    clock = FakeClock()
    c = client(Answers((200, b'{"access_token": "t1", "expires_in": 600, '
                             b'"refresh_token": "r1", "scope": "read"}')), clock)
    s = c.state()
    assert sorted(s) == ["failures", "key", "v"]  # nothing yet but which configuration
    c.token()
    s = c.state()
    # "auth" only once a search found a method other than the first
    # "at": when it was saved, beside a time (a clock set back since is not believed)
    assert sorted(s) == ["at", "failures", "key", "refresh_token", "token", "v"]
    assert s["v"] == 1 and s["at"] == clock.unix_time()
    assert s["failures"] == 0 and s["refresh_token"] == "r1"
    assert s["token"]["access_token"] == "t1" and s["token"]["exp"] == clock.unix_time() + 600
    assert json.loads(json.dumps(s)) == s
    assert CLIENT_SECRET not in json.dumps(s)  # the key is a hash, never the secret


def test_restore_takes_back_a_state_of_the_same_configuration_only():
    clock = FakeClock()
    c = client(Answers((200, b'{"access_token": "t1", "expires_in": 600}')), clock)
    c.token()
    saved = c.state()
    clock.advance(60_000)
    quiet = Answers()
    c2 = client(quiet, clock)
    c2.restore(saved)
    assert c2.token().access_token == "t1" and quiet.calls == 0
    # the second the wall clock's whole seconds may hide is taken off: never served longer
    assert c2.state()["token"]["exp"] == saved["token"]["exp"] - 1
    other = client(Answers(), clock, secret="another")
    for junk in (saved, None, [], "x", {"key": 1}):  # another secret, or not a state at all
        other.restore(junk)
        assert other.state()["failures"] == 0 and "token" not in other.state()


def test_latch_and_backoff_go_through_state_and_restore():
    clock = FakeClock()
    c = client(Answers((503, b""),), clock)
    raises(OAuthError, c.token)
    s = c.state()
    assert s["failures"] == 1 and s["next"] >= clock.unix_time()
    c2 = client(Answers(), clock)
    c2.restore(s)
    assert c2.next_attempt_in_ms() > 0
    c3 = client(Answers((401, b'{"error": "invalid_client"}'),), clock)
    raises(OAuthError, c3.token)
    assert c3.state()["latched"] == ["invalid_client", None, 401]
    c4 = client(Answers(), clock)
    c4.restore(c3.state())
    assert c4.latched.error == "invalid_client"
    assert 3_600_000 <= c4.next_attempt_in_ms() <= 3_602_000  # the long wait, in whole seconds


def test_a_store_gets_state_and_gives_it_back_to_the_constructor():
    clock = FakeClock()
    store = MemoryStore()
    c = client(Answers((200, b'{"access_token": "t1", "expires_in": 600}')), clock, store)
    c.token()
    assert store.state == c.state() and store.writes == 1
    quiet = Answers()
    assert client(quiet, clock, store).token().access_token == "t1" and quiet.calls == 0


def test_unset_wall_clock_keeps_times_out_of_the_state():
    clock = FakeClock(wall=None)
    c = client(Answers((200, b'{"access_token": "t1", "expires_in": 600, '
                             b'"refresh_token": "r1"}')), clock)
    c.token()
    s = c.state()
    assert "token" not in s and "next" not in s and s["refresh_token"] == "r1"


# -- persistence is best effort (finding 1, the client's part) --------------------------------


class Failing:
    """A store that holds `state` and whose save raises `exc`, as a full or read-only flash."""

    def __init__(self, exc, state=None):
        self.exc = exc
        self.state = state
        self.saves = 0

    def load(self):
        return self.state

    def save(self, state):
        self.saves += 1
        raise self.exc


SAVE_FAILURES = (OSError(28), OSError(30), OSError(21), OSError("no space"), MemoryError(),
                 RuntimeError("maximum recursion depth exceeded"), ValueError("x"),
                 TypeError("x"), KeyError("access_token"))


def test_a_failing_save_never_costs_the_token_or_the_call():
    for exc in SAVE_FAILURES:
        clock = FakeClock()
        logs = []
        store = Failing(exc)
        s = Answers(OK, (200, b"{}"))
        c = client(s, clock, store, log=logs.append)
        t = c.token()  # received: kept in RAM, whatever the store did
        assert t.access_token == "t1" and c.token() is t and store.saves == 1, repr(exc)
        assert c.request("GET", "https://auth.example/api").status == 200 and s.calls == 2
        saved = [m for m in logs if m.startswith("state not saved")]
        assert saved == ["state not saved (%s%s)" % (type(exc).__name__, " %d" % exc.args[0]
                         if isinstance(exc, OSError) and isinstance(exc.args[0], int) else "")
                         ], (repr(exc), logs)


def test_a_failing_save_after_a_failure_keeps_the_backoff_and_the_latch():
    for a in ((503, b""), (400, b'{"error": "invalid_scope"}')):
        clock = FakeClock()
        c = client(Answers(a), clock, Failing(OSError(28)))
        e = raises(OAuthError, c.token)
        assert e.status == a[0] and c.next_attempt_in_ms() > 0
        assert raises(OAuthError, c.token).error in ("backoff", "invalid_scope")
        c.reset()  # and reset() saves too: best effort as well
        assert c.next_attempt_in_ms() == 0


def test_an_unwritable_state_file_costs_nothing_but_the_save():
    obstacle = "build/tests/%s/unwritable/state.json.tmp" % sys.implementation.name
    try:
        os.rmdir(obstacle)  # left by a run that failed (workdir() removes files only)
    except OSError:
        pass
    d = fakeboard.workdir("unwritable")
    cases = [d + "/state.json", d + "/missing/state.json"]
    os.mkdir(obstacle)  # a directory where the temporary file goes
    if hasattr(os, "symlink"):  # CPython: a temporary file on a full device
        os.symlink("/dev/full", d + "/full.json.tmp")
        cases.append(d + "/full.json")
    for path in cases:
        clock = FakeClock()
        logs = []
        c = client(Answers(OK), clock, FileStore(path), log=logs.append)
        assert c.token().access_token == "t1", path
        # IsADirectoryError, FileNotFoundError on CPython; OSError and the errno everywhere
        assert [m for m in logs if m.startswith("state not saved (") and "Error " in m], logs
    assert "state.json" not in os.listdir(d) and "full.json" not in os.listdir(d)
    os.rmdir(obstacle)


def test_a_store_whose_load_raises_starts_the_client_afresh():
    class Broken:
        def load(self):
            raise OSError(5)

        def save(self, state):
            pass

    logs = []
    c = client(Answers(OK), FakeClock(), Broken(), log=logs.append)
    assert c.token().access_token == "t1" and logs[0] == "state not loaded (OSError 5)"


# -- a state is validated field by field (finding 7) -----------------------------------------

NOW = 1767225600  # FakeClock's wall clock


def key():
    return client(Answers(), FakeClock()).state()["key"]


def deep(n):
    v = "x"
    for _ in range(n):
        v = [v]
    return v


def bad_states(k):
    """(name, state): each breaks one field of an otherwise empty state of this configuration
    (or the whole state). Loaded, none may raise; the client asks the server afresh."""
    tok = {"access_token": "t0", "token_type": "Bearer", "expires_in": 600, "scope": None,
           "extra": {}, "exp": NOW + 600}
    base = {"v": 1, "key": k, "failures": 0}
    fields = [
        ("latched a string", {"latched": "invalid_client"}),
        ("latched too short", {"latched": ["invalid_client"]}),
        ("latched of the wrong types", {"latched": [5, None, 401]}),
        ("latched with a status string", {"latched": ["invalid_client", None, "401"]}),
        ("latched description a dict", {"latched": ["invalid_client", {}, 401]}),
        ("latched not permanent (a 503)", {"latched": ["invalid_client", None, 503]}),
        ("latched unknown code", {"latched": ["http_500", None, 400]}),
        ("next a float", {"next": NOW + 600.5}),
        ("next a string", {"next": "soon"}),
        ("next negative", {"next": -1}),
        ("next a bool", {"next": True}),
        ("failures a float", {"failures": 1.5}),
        ("failures negative", {"failures": -3}),
        ("failures huge", {"failures": 10 ** 30}),
        ("failures a string", {"failures": "2"}),
        ("refresh_token a number", {"refresh_token": 5}),
        ("refresh_token empty", {"refresh_token": ""}),
        ("token a string", {"token": "t0"}),
        ("token without access_token", {"token": dict(tok, access_token=None)}),
        ("access_token a number", {"token": dict(tok, access_token=5)}),
        ("access_token with CR LF", {"token": dict(tok, access_token="t0\r\nX-Evil: 1")}),
        ("access_token with a space", {"token": dict(tok, access_token="t0 t0")}),
        ("token exp a float", {"token": dict(tok, exp=NOW + 600.5)}),
        ("token exp a string", {"token": dict(tok, exp="later")}),
        ("token exp negative", {"token": dict(tok, exp=-5)}),
        ("token exp missing", {"token": dict(tok, exp=None)}),
        ("token extra a list", {"token": dict(tok, extra=[1])}),
        ("token extra nested deep", {"token": dict(tok, extra={"a": deep(40)})}),
    ]
    out = [(n, dict(base, **f)) for n, f in fields]
    if "token" not in out[-1][1]:
        raise AssertionError("the table lost its last row")
    whole = [("no version", {"key": k, "latched": ["invalid_client", None, 401]}),
             ("version 2", {"v": 2, "key": k, "latched": ["invalid_client", None, 401]}),
             ("version a string", {"v": "1", "key": k, "latched": ["invalid_client", None, 401]}),
             ("version a bool", {"v": True, "key": k, "latched": ["invalid_client", None, 401]}),
             ("a list", [k]), ("a string", "x"), ("a number", 5), ("null", None)]
    return out + whole


def check_clean(c, store_state, name):
    t = c.token()
    assert t.access_token == "t1" and c.latched is None, name
    s = store_state()
    assert s == c.state() and s["v"] == 1 and s["token"]["access_token"] == "t1", (name, s)


def test_malformed_states_in_a_memory_store_are_dropped_and_rewritten():
    k = key()
    for name, bad in bad_states(k):
        store = MemoryStore()
        store.state = bad
        c = client(Answers(OK), FakeClock(), store)  # the constructor raised TypeError, KeyError
        assert c.latched is None and c.next_attempt_in_ms() == 0, name
        assert c.state()["failures"] == 0 and "token" not in c.state(), name
        check_clean(c, lambda s=store: s.state, name)


def test_malformed_states_in_a_file_are_dropped_and_rewritten():
    d = fakeboard.workdir("malformed")
    k = key()
    texts = [(name, json.dumps(bad)) for name, bad in bad_states(k)]
    texts += [("40 KB of [", "[" * 40_000),  # RecursionError on CPython
              ("not JSON", '{"v": 1, "key": '), ("not UTF-8", "\udcff"), ("empty", "")]
    for name, text in texts:
        path = d + "/state.json"
        if text == "\udcff":
            with open(path, "wb") as f:
                f.write(b"\xff\xfe{")
        else:
            with open(path, "w") as f:
                f.write(text)
        c = client(Answers(OK), FakeClock(), FileStore(path))
        assert c.latched is None and c.next_attempt_in_ms() == 0, name

        def saved(path=path):
            with open(path) as f:
                return json.load(f)

        check_clean(c, saved, name)


def test_good_fields_beside_a_bad_one_are_kept():
    k = key()
    store = MemoryStore()
    store.state = {"v": 1, "key": k, "failures": 2, "latched": ["invalid_client", None, 401],
                   "next": NOW + 3600, "refresh_token": 5, "token": {"access_token": "t0"}}
    c = client(Answers(), FakeClock(), store)
    assert c.latched.error == "invalid_client" and 3600_000 <= c.next_attempt_in_ms() <= 3601_000
    s = c.state()
    assert s["failures"] == 2 and "refresh_token" not in s and "token" not in s
    store.state = {"v": 1, "key": k, "token": {
        "access_token": "t0", "token_type": 5, "expires_in": "x", "scope": 5, "extra": {},
        "exp": NOW + 600}}
    t = client(Answers(), FakeClock(), store).token()  # a token of odd details is kept
    assert (t.access_token, t.token_type, t.expires_in, t.scope) == ("t0", "Bearer", None, None)


def test_a_wait_or_token_longer_than_a_day_is_cut_to_one():
    k = key()
    store = MemoryStore()
    store.state = {"v": 1, "key": k, "failures": 1, "next": NOW + 10 ** 9,
                   "token": {"access_token": "t0", "token_type": "Bearer", "expires_in": None,
                             "scope": None, "extra": {}, "exp": NOW + 10 ** 12}}
    c = client(Answers(), FakeClock(), store)
    assert c.next_attempt_in_ms() == 86_400_000
    assert c.state()["token"]["exp"] == NOW + 86_400


# -- a wall clock set back between the save and the boot (issue 13, second round) -----------


def test_a_wall_clock_set_back_drops_a_restored_token():
    # the wall clock was an hour fast (a skewed Date, a deploy in local time), NTP sets it
    # back, the board boots 11 minutes later: the clock reads earlier than at the save, so it
    # cannot tell how old the 10-minute token is: dropped, one request (not served for 70 min)
    clock = FakeClock()
    store = MemoryStore()
    s = Scripted(lambda m, u, b, h: answer("tok%d" % len(s.sent)))
    scripted_client(s, clock, store=store).token()
    clock.wall_ms -= 3_600_000  # NTP: an hour back; no time has passed
    clock.advance(660_000)  # 11 minutes later the board wakes: the token lived 10
    c = scripted_client(s, clock, store=store)
    assert c.token().access_token == "tok2" and len(s.tokens()) == 2
    assert store.state["at"] == clock.unix_time()  # saved again by the clock now believed


def test_a_wall_clock_set_back_restores_a_wait_as_it_was_left():
    # a 503 backed off a second or two, the clock set back an hour (a year), a boot: the wait
    # is restored as it was left at the save, never the hour (a day) that "next" now lies ahead
    for back in (3_600_000, 365 * DAY_MS):
        clock = FakeClock()
        store = MemoryStore()
        s = Scripted(lambda m, u, b, h: Response(503, {}, b""))
        c = scripted_client(s, clock, store=store)
        raises(OAuthError, c.token)
        before = c.next_attempt_in_ms()
        clock.wall_ms -= back
        after = scripted_client(s, clock, store=store).next_attempt_in_ms()
        assert 0 < after <= before + 3000, "a %d ms backoff restored as %d s" % (
            before, after // 1000)


def test_the_401_storm_rule_survives_a_reboot():
    # the API answers 401 to everything (its own fault), the device deep-sleeps between calls:
    # the refused token's mark is saved with it ("refused"), so no boot forces a renewal of
    # that token again (red15: a token request at every wake)
    clock = FakeClock()
    n = [0]

    def srv(m, u, b, h):
        if u == SCRIPTED_API:
            return Response(401, {}, b"")
        n[0] += 1
        return answer("tok-%d" % n[0], expires_in=3600)

    server = Scripted(srv)
    store = MemoryStore()
    c = scripted_client(server, clock, store=store)
    assert c.request("GET", SCRIPTED_API).status == 401  # token, 401, renewal, 401
    assert c.request("GET", SCRIPTED_API).status == 401  # refused: no renewal
    assert len(server.tokens()) == 2
    for _ in range(3):  # three wakes, a minute apart
        clock.advance(60_000)
        c = scripted_client(server, clock, store=store)
        assert c.request("GET", SCRIPTED_API).status == 401
    assert len(server.tokens()) == 2, len(server.tokens())  # observed: 5
    assert c._store.state["token"]["refused"] is True
    # the mark is data like the rest: anything but true is no mark
    s = dict(c._store.state)
    s["token"] = dict(s["token"], refused="yes")
    store = MemoryStore()
    store.state = s
    c = scripted_client(server, clock, store=store)
    assert c.request("GET", SCRIPTED_API).status == 401
    assert len(server.tokens()) == 3
