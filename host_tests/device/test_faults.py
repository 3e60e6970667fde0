# Every fault the stub can inject, through TokenClient.token(), on both runtimes: the outcome
# docs/security.md's fault table documents, and recovery on the next allowed attempt.
import oauthcc
from oauthcc import OAuthError
from support import (
    CLIENT_ID,
    CLIENT_SECRET,
    ORG,
    FakeClock,
    faults,
    log,
    raises,
    reset,
    token_requests,
    url,
)

NEEDS_STUB = True
MACHINES = ORG + ".zaikio.machines.rw"
HTML = "<html><body><h1>502 Bad Gateway</h1></body></html>"
DATE = "Sun, 06 Nov 1994 08:49:37 GMT"
OK = "ok"

# (name, fault, outcome): outcome is OK (a token), OSError, or (error, retryable, retry_after)
FAULTS = [
    ("500", {"kind": "status", "status": 500, "body": "oops"}, ("http_500", True, None)),
    ("503 Retry-After seconds", {"kind": "status", "status": 503,
                                 "headers": {"Retry-After": "7"}}, ("http_503", True, 7)),
    ("503 Retry-After HTTP date", {"kind": "status", "status": 503, "headers": {
        "Date": DATE, "Retry-After": "Sun, 06 Nov 1994 08:51:37 GMT"}}, ("http_503", True, 120)),
    ("429 Retry-After", {"kind": "status", "status": 429, "headers": {"Retry-After": "3"}},
     ("http_429", True, 3)),
    ("429 with a JSON error", {"kind": "json", "status": 429, "body": {"error": "slow_down"}},
     ("slow_down", True, None)),
    ("slow answer beyond the read timeout", {"kind": "slow", "seconds": 1.5}, OSError),
    ("one byte per 0.2 s beyond the deadline", {"kind": "drip", "interval": 0.2}, OSError),
    ("connection closed without answer", {"kind": "close"}, OSError),
    ("connection reset", {"kind": "reset"}, OSError),
    ("truncated body", {"kind": "truncate", "keep": 5}, OSError),
    ("not HTTP at all", {"kind": "raw", "data": "SSH-2.0-OpenSSH_9\r\n\r\n"},
     ("invalid_response", False, None)),
    ("malformed JSON", {"kind": "status", "status": 200, "content_type": "application/json",
                        "body": '{"access_token": "x",'}, ("invalid_response", False, None)),
    ("JSON that is not an object", {"kind": "json", "status": 200, "body": ["access_token"]},
     ("invalid_response", False, None)),
    ("missing access_token", {"kind": "patch", "fields": {"access_token": None}},
     ("invalid_response", False, None)),
    ("HTML error page", {"kind": "status", "status": 502, "body": HTML,
                         "content_type": "text/html"}, ("http_502", True, None)),
    ("HTML page with 200 (captive portal)", {"kind": "status", "status": 200, "body": HTML,
                                             "content_type": "text/html"},
     ("invalid_response", False, None)),
    ("oversized body", {"kind": "oversize", "size": 100_000},
     ("response_too_large", False, None)),
    ("chunked encoding", {"kind": "chunked"}, OK),
    ("expires_in as a string", {"kind": "patch", "fields": {"expires_in": "120"}}, OK),
    ("token_type Bearer", {"kind": "patch", "fields": {"token_type": "Bearer"}}, OK),
    ("token_type bearer", {"kind": "patch", "fields": {"token_type": "bearer"}}, OK),
    ("token_type mac", {"kind": "patch", "fields": {"token_type": "mac"}},
     ("unsupported_token_type", False, None)),
    ("200 carrying a retryable error", {"kind": "json", "status": 200,
                                        "body": {"error": "temporarily_unavailable"}},
     ("temporarily_unavailable", True, None)),
    ("200 carrying a permanent error", {"kind": "json", "status": 200,
                                        "body": {"error": "invalid_client"}},
     ("invalid_client", False, None)),
    ("302 redirect", {"kind": "status", "status": 302,
                      "headers": {"Location": "/elsewhere/oauth/access_token"}},
     ("http_302", False, None)),
]


def client(clock, **kw):
    return oauthcc.from_profile("zaikio", CLIENT_ID, CLIENT_SECRET, MACHINES, url(),
                                clock=clock, rand=lambda n: n // 2, timeout=0.5, deadline=1, **kw)


def check(name, fault, outcome):
    reset(profile="zaikio")
    clock = FakeClock()
    c = client(clock)
    faults(fault)
    if outcome == OK:
        t = c.token()
        assert t.access_token and t.token_type == "Bearer", name
        if "expires_in" in fault.get("fields", {}):
            assert t.expires_in == 120, name
        return
    if outcome is OSError:
        e = raises(OSError, c.token)
        assert not isinstance(e, OAuthError), name
        if fault["kind"] == "drip":  # each byte came within the read timeout: the deadline hit
            assert "deadline" in str(e), "%s: %r" % (name, e)
    else:
        error, retryable, retry_after = outcome
        e = raises(OAuthError, c.token)
        assert (e.error, e.retryable) == (error, retryable), "%s: %r" % (name, e)
        assert e.retry_after == retry_after, "%s: retry_after %r" % (name, e.retry_after)
    assert len(token_requests()) == 1, name  # one request: nothing retried, nothing followed
    wait = c.next_attempt_in_ms()
    if isinstance(e, OAuthError) and e.permanent:
        assert c.latched is e and wait >= 1_800_000, name  # the long wait
        assert raises(OAuthError, c.token) is e, name  # raised again, no traffic
        assert len(token_requests()) == 1, name
        c.reset()
    else:
        assert wait > 0, name
        assert raises(OAuthError, c.token).error == "backoff", name
        assert wait >= 1000 * (getattr(e, "retry_after", 0) or 0), name  # not before Retry-After
        clock.advance(wait)
    assert c.token().access_token, name  # and the fault is survived
    assert len(token_requests()) == 2, name


def test_server_faults_of_every_kind():
    for name, fault, outcome in FAULTS:
        check(name, fault, outcome)


def test_redirect_is_never_followed():
    check("302", {"kind": "status", "status": 302, "headers": {"Location": url("/steal")}},
          ("http_302", False, None))
    assert [e["path"] for e in log() if "steal" in e["path"]] == []


def test_connection_refused_is_oserror_and_backs_off():
    clock = FakeClock()
    c = oauthcc.TokenClient("http://127.0.0.1:1/token", CLIENT_ID, CLIENT_SECRET, clock=clock,
                            timeout=0.5, deadline=1)
    e = raises(OSError, c.token)
    assert not isinstance(e, OAuthError)
    assert c.next_attempt_in_ms() > 0 and raises(OAuthError, c.token).error == "backoff"
