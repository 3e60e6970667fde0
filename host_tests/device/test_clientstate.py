# The client's persisted state as a contract: ClientCore.state() and restore() are all a store
# sees, and the store module knows nothing of the client (both runtimes).
import json

from oauthcc import OAuthError, TokenClient
from oauthcc.store import MemoryStore
from oauthcc.transport import Response
from support import CLIENT_ID, CLIENT_SECRET, FakeClock, raises


class Answers:
    """A transport that gives the canned responses in order."""

    def __init__(self, *answers):
        self.answers = [Response(s, {}, b) for s, b in answers]
        self.calls = 0

    def request(self, method, url, body=None, headers=None):
        self.calls += 1
        return self.answers.pop(0)


def client(transport, clock, store=None, secret=CLIENT_SECRET):
    return TokenClient("https://auth.example/token", CLIENT_ID, secret, "read",
                       transport=transport, clock=clock, store=store, rand=lambda n: n)


def test_state_is_a_json_dict_of_the_documented_fields():
    clock = FakeClock()
    c = client(Answers((200, b'{"access_token": "t1", "expires_in": 600, '
                             b'"refresh_token": "r1", "scope": "read"}')), clock)
    s = c.state()
    assert sorted(s) == ["failures", "key"]  # nothing yet but which configuration
    c.token()
    s = c.state()
    assert sorted(s) == ["failures", "key", "refresh_token", "token"]  # "auth": if searched
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
    assert c2.state()["token"]["exp"] == saved["token"]["exp"]
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
    assert c4.next_attempt_in_ms() is None and c4.latched.error == "invalid_client"


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
