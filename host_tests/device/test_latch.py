# The latch policy (issue 13, findings 3, 4 and 5): only a 4xx answer can latch; a latch allows
# one attempt after a long jittered backoff (30 min to 24 h) and at once when the
# configuration changes; the same for tls_verification_failed. Both runtimes.
import os

import fakeboard

import oauthcc
from oauthcc import OAuthError, TokenClient
from oauthcc.store import FileStore, MemoryStore
from oauthcc.transport import Response, Transport
from support import (
    CLIENT_ID,
    CLIENT_SECRET,
    ORG,
    FakeClock,
    Scripted,
    control,
    faults,
    log,
    raises,
    refusal,
    reset,
    token_requests,
    url,
)

NEEDS_STUB = True
NEEDS_TLS_STUB = True
MACHINES = ORG + ".zaikio.machines.rw"
H = 3_600_000  # an hour in ms
OK = (200, b'{"access_token": "t1", "token_type": "bearer", "expires_in": 600}')


class Script:
    """A transport that gives canned (status, body) answers in order and counts requests."""

    def __init__(self, *answers, ca=None):
        self.answers = list(answers)
        self.calls = 0
        self.ca = ca  # what the client's fingerprint reads of its transport
        self.verify = True

    def request(self, method, url, body=None, headers=None):
        self.calls += 1
        status, body = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return Response(status, {}, body)


def client(transport, clock, store=None, rand=lambda n: n, **kw):
    return TokenClient(kw.pop("token_url", "https://auth.example/token"),
                       kw.pop("client_id", CLIENT_ID), kw.pop("client_secret", CLIENT_SECRET),
                       kw.pop("scope", "read"), transport=transport, clock=clock, store=store,
                       rand=rand, **kw)


def error(status, code):
    return status, ('{"error": "%s"}' % code).encode()


def test_a_5xx_or_429_carrying_a_permanent_code_is_retried():
    # finding 3: 503 + invalid_client latched for good, across reboots
    for status, code in ((503, "invalid_client"), (502, "invalid_scope"),
                         (500, "unauthorized_client"), (429, "invalid_target"),
                         (408, "ungranted_scope"), (504, "unsupported_grant_type")):
        clock = FakeClock()
        store = MemoryStore()
        s = Script(error(status, code), OK)
        c = client(s, clock, store, backoff_base=2, backoff_cap=900)
        e = raises(OAuthError, c.token)
        assert e.error == code and e.retryable and not e.permanent, (status, code)
        assert c.latched is None and "latched" not in store.state, (status, code)
        wait = c.next_attempt_in_ms()
        assert 0 < wait <= 2000, (status, code, wait)  # the first short backoff window
        assert raises(OAuthError, c.token).error == "backoff" and s.calls == 1
        c2 = client(s, clock, store)  # and across a reboot
        assert c2.latched is None and c2.next_attempt_in_ms() <= wait + 2000
        clock.advance(c2.next_attempt_in_ms())  # whole seconds there, rounded up
        assert c2.token().access_token == "t1" and s.calls == 2


def test_a_5xx_with_a_permanent_code_against_the_stub():
    reset(profile="zaikio")
    clock = FakeClock()
    c = oauthcc.from_profile("zaikio", CLIENT_ID, CLIENT_SECRET, MACHINES, url(), clock=clock,
                             rand=lambda n: n)
    faults({"kind": "json", "status": 503, "body": {"error": "invalid_client"}})
    e = raises(OAuthError, c.token)
    assert e.error == "invalid_client" and e.status == 503 and not e.permanent
    clock.advance(c.next_attempt_in_ms())
    assert c.token().access_token and len(token_requests()) == 2


def test_a_200_carrying_a_permanent_code_is_backed_off_not_latched():
    clock = FakeClock()
    s = Script((200, b'{"error": "invalid_client"}'), OK)
    c = client(s, clock)
    e = raises(OAuthError, c.token)
    assert e.error == "invalid_client" and not e.permanent and c.latched is None
    assert c.next_attempt_in_ms() <= 2000


def test_a_bare_401_or_403_latches_like_invalid_client():
    # Glewlwyd refuses a wrong secret (and an unknown scope) with a bare 403: retrying it every
    # few minutes, forever, would hammer the server for a fault only a fix can cure
    for status in (401, 403):
        clock = FakeClock()
        s = Script((status, b""), OK)
        c = client(s, clock)
        e = raises(OAuthError, c.token)
        assert e.error == "http_%d" % status and e.permanent and c.latched is e
        assert c.next_attempt_in_ms() == H and s.calls == 1
    e = raises(OAuthError, client(Script((404, b"")), FakeClock()).token)
    assert e.error == "http_404" and not e.permanent  # not a refusal of the client: short


def test_a_latch_allows_one_attempt_after_a_long_backoff_doubling_to_a_day():
    # finding 4: every latch was forever; a fleet whose grant was fixed needed a visit
    for rand, windows in ((lambda n: n, [1, 2, 4, 8, 16, 24, 24]),  # the longest waits
                          (lambda n: 0, [0.5, 1, 2, 4, 8, 12, 12])):  # the shortest
        clock = FakeClock()
        s = Script(error(400, "ungranted_scope"))
        c = client(s, clock, rand=rand)
        for i, hours in enumerate(windows):
            e = raises(OAuthError, c.token)
            assert e.error == "ungranted_scope" and e.permanent and c.latched is e
            assert s.calls == i + 1
            wait = c.next_attempt_in_ms()
            assert wait == int(hours * H), (i, wait, hours)
            clock.advance(wait - 1)
            assert raises(OAuthError, c.token) is e and s.calls == i + 1  # no traffic
            assert c.next_attempt_in_ms() == 1
            clock.advance(1)
            assert c.next_attempt_in_ms() == 0
        s.answers = [OK]  # the grant is made in the hub: the next allowed attempt gets a token
        assert c.token().access_token == "t1" and s.calls == len(windows) + 1
        assert c.latched is None and c.next_attempt_in_ms() == 0 and c.last_error is None


def test_the_first_latch_after_network_errors_waits_the_first_window():
    # a board boots into a flaky Wi-Fi: five connection errors, then the hub answers
    # ungranted_scope: the long wait doubles with permanent errors in a row only, so this
    # first one waits the first window (not 1 h << 5, cut to a day), also across a reboot,
    # and the next one doubles
    clock = FakeClock()
    store = MemoryStore()
    n = [0]

    def server(method, u, body, headers):
        n[0] += 1
        if n[0] <= 5:
            raise OSError(113, "EHOSTUNREACH")
        return refusal(400, "ungranted_scope")

    c = client(Scripted(server), clock, store)
    for _ in range(6):
        raises((OAuthError, OSError), c.token)
        if c.latched is None:
            clock.advance(c.next_attempt_in_ms())
    assert c.latched.error == "ungranted_scope" and store.state["failures"] == 6
    assert c.next_attempt_in_ms() == H and store.state["latches"] == 1
    c = client(c._transport, clock, store)  # a reboot: the count is in the state
    clock.advance(c.next_attempt_in_ms())
    raises(OAuthError, c.token)
    assert c.next_attempt_in_ms() == 2 * H and store.state["latches"] == 2


def test_the_latch_wait_is_jittered_and_never_shorter_than_half_the_window():
    waits = set()
    for _ in range(40):
        clock = FakeClock()
        c = TokenClient("https://auth.example/token", CLIENT_ID, CLIENT_SECRET, "read",
                        transport=Script(error(401, "invalid_client")), clock=clock)
        raises(OAuthError, c.token)
        w = c.next_attempt_in_ms()
        assert H // 2 <= w <= H, w
        waits.add(w // 60_000)
    assert len(waits) > 10, waits  # a fleet spreads over the half hour


def test_a_latch_and_its_wait_survive_a_reboot():
    clock = FakeClock()
    store = MemoryStore()
    s = Script(error(401, "invalid_client"))
    c = client(s, clock, store)
    raises(OAuthError, c.token)
    assert store.state["latched"] == ["invalid_client", None, 401]
    clock.advance(H // 2)
    c2 = client(s, clock, store)
    assert c2.latched.error == "invalid_client" and s.calls == 1
    assert H // 2 <= c2.next_attempt_in_ms() <= H // 2 + 2000  # whole seconds, never early
    assert raises(OAuthError, c2.token).error == "invalid_client" and s.calls == 1
    clock.advance(c2.next_attempt_in_ms())
    raises(OAuthError, client(s, clock, store).token)
    assert s.calls == 2 and store.state["failures"] == 2  # the next wait doubles


def test_a_retryable_failure_after_the_latch_backs_off_short():
    clock = FakeClock()
    s = Script(error(400, "invalid_scope"), (503, b""), OK)
    c = client(s, clock)
    raises(OAuthError, c.token)
    clock.advance(c.next_attempt_in_ms())
    assert raises(OAuthError, c.token).error == "http_503" and c.latched is None
    assert c.next_attempt_in_ms() <= 900_000  # the short backoff's cap
    clock.advance(c.next_attempt_in_ms())
    assert c.token().access_token == "t1"


def test_reset_clears_the_latch_at_once():
    clock = FakeClock()
    s = Script(error(400, "invalid_scope"), OK)
    c = client(s, clock, MemoryStore())
    raises(OAuthError, c.token)
    assert c.next_attempt_in_ms() > 0
    c.reset()
    assert c.latched is None and c.next_attempt_in_ms() == 0 and c.state()["failures"] == 0
    assert c.token().access_token == "t1" and s.calls == 2


# -- a configuration change clears latch and backoff (the fingerprint) ----------------------

CHANGES = (
    ("token URL", {"token_url": "https://auth.example/v2/token"}),
    ("client id", {"client_id": "device-2"}),
    ("secret", {"client_secret": "rotated"}),
    ("scope", {"scope": "read write"}),
    ("auth method", {"auth": "post"}),
    ("basic encoding", {"basic_encode": False}),
    ("params", {"params": {"audience": "https://api.example/"}}),
    ("params as pairs", {"params": [("resource", "https://api.example/")]}),
)


def test_every_part_of_the_configuration_clears_the_latch():
    for name, change in CHANGES:
        clock = FakeClock()
        store = MemoryStore()
        s = Script(error(400, "invalid_scope"))
        raises(OAuthError, client(s, clock, store).token)
        same = client(Script(OK), clock, store)
        assert same.latched is not None and same.next_attempt_in_ms() > 0, name
        fixed = Script(OK)
        c = client(fixed, clock, store, **change)
        assert c.latched is None and c.next_attempt_in_ms() == 0, name
        assert c.token().access_token == "t1" and fixed.calls == 1, name
        assert "latched" not in store.state and store.state["failures"] == 0, name


def test_the_same_params_in_another_order_are_the_same_configuration():
    clock = FakeClock()
    store = MemoryStore()
    raises(OAuthError, client(Script(error(400, "invalid_scope")), clock, store,
                              params={"a": "1", "b": "2"}).token)
    c = client(Script(OK), clock, store, params={"b": "2", "a": "1"})
    assert c.latched is not None


def test_new_ca_bytes_clear_the_latch_in_memory_or_in_the_same_file():
    path = fakeboard.workdir("latch-ca") + "/ca.pem"
    for ca_of in (lambda b: b, lambda b: path):  # the bytes, or a file whose bytes change
        with open(path, "wb") as f:
            f.write(b"old CA")
        clock = FakeClock()
        store = MemoryStore()
        s = Script(error(400, "invalid_scope"), ca=ca_of(b"old CA"))
        raises(OAuthError, client(s, clock, store).token)
        assert client(Script(OK, ca=ca_of(b"old CA")), clock, store).latched is not None
        with open(path, "wb") as f:
            f.write(b"new CA")
        fixed = Script(OK, ca=ca_of(b"new CA"))
        c = client(fixed, clock, store)
        assert c.latched is None and c.token().access_token == "t1" and fixed.calls == 1


def tls_client(ca, store, clock, verify=True):
    return oauthcc.from_profile("zaikio", CLIENT_ID, CLIENT_SECRET, MACHINES,
                                os.getenv("STUB_TLS_URL"), store=store, clock=clock,
                                transport=Transport(ca, verify, clock=clock), rand=lambda n: n)


def test_a_wrong_ca_latches_and_the_right_ca_pem_in_the_same_file_clears_it():
    # finding 4 as reported: a wrong CA latched tls_verification_failed; the right ca.pem
    # deployed to the same path brought the same latched line back, only base_url cleared it
    reset(profile="zaikio")
    d = fakeboard.workdir("latch-tls")
    ca, state = d + "/ca.pem", d + "/state.json"

    def deploy(name):
        with open(os.getenv(name), "rb") as f, open(ca, "wb") as g:
            g.write(f.read())

    clock = FakeClock()
    deploy("STUB_WRONG_CA")
    e = raises(OAuthError, tls_client(ca, FileStore(state), clock).token)
    assert e.error == "tls_verification_failed" and e.permanent and log() == []
    c = tls_client(ca, FileStore(state), clock)  # a reboot, the same wrong CA: still latched
    assert c.latched.error == "tls_verification_failed" and 0 < c.next_attempt_in_ms() <= H + 2000
    deploy("STUB_CA_PEM")  # the right ca.pem, same path
    c = tls_client(ca, FileStore(state), clock)
    assert c.latched is None and c.next_attempt_in_ms() == 0
    assert c.token().access_token and len(token_requests()) == 1


def test_a_captive_portal_certificate_is_retried_after_the_long_wait():
    # finding 5: a certificate that fails verification (a captive portal, a wrong clock) latched
    # for good; now the real server is asked again after the long wait
    reset(profile="zaikio")
    clock = FakeClock()
    store = MemoryStore()
    with open(os.getenv("STUB_CA_PEM"), "rb") as f:
        right = f.read()
    portal = oauthcc.from_profile("zaikio", CLIENT_ID, CLIENT_SECRET, MACHINES,
                                  os.getenv("STUB_TLS_OTHER_HOST_URL"), store=store,
                                  clock=clock, ca=right, rand=lambda n: n)
    e = raises(OAuthError, portal.token)
    assert e.error == "tls_verification_failed" and portal.latched is e
    assert portal.next_attempt_in_ms() == H
    clock.advance(H)
    s = Script(OK, ca=right)  # the portal is gone: the same configuration reaches the server
    s.verify = True
    c = oauthcc.from_profile("zaikio", CLIENT_ID, CLIENT_SECRET, MACHINES,
                             os.getenv("STUB_TLS_OTHER_HOST_URL"), store=store, clock=clock,
                             transport=s, rand=lambda n: n)
    assert c.latched is not None and c.next_attempt_in_ms() <= 2000  # rounded up to seconds
    clock.advance(c.next_attempt_in_ms())
    assert c.token().access_token == "t1" and c.latched is None
    control("/_stub/log")
