# HTTPS against the stub with a trustme test CA, on both runtimes: the right CA in every form
# works; a wrong CA, a wrong host name and a missing CA are refused with
# OAuthError("tls_verification_failed") before any HTTP request (so before the secret) leaves.
import os
import sys
import time

import oauthcc
from oauthcc import OAuthError
from oauthcc.transport import Transport
from support import CLIENT_ID, CLIENT_SECRET, ORG, FakeClock, control, log, raises, reset

NEEDS_STUB = True
NEEDS_TLS_STUB = True
MACHINES = ORG + ".zaikio.machines.rw"


def env(name):
    return os.getenv(name)


def read(name):
    with open(env(name), "rb") as f:
        return f.read()


def client(ca=None, base=None, **kw):
    return oauthcc.from_profile("zaikio", CLIENT_ID, CLIENT_SECRET, MACHINES,
                                base or env("STUB_TLS_URL"), ca=ca, clock=FakeClock(),
                                rand=lambda n: n // 2, **kw)


def tls_failures(at_least=0):
    # the server counts a failed handshake on its own thread: wait for it, bounded
    for _ in range(50):
        n = control("/_stub/tls")["tls_failures"]
        if n >= at_least:
            return n
        time.sleep(0.05)
    return n


def refused(c):
    e = raises(OAuthError, c.token)
    assert e.error == "tls_verification_failed" and not e.retryable, repr(e)
    return e


def test_right_ca_in_every_form():
    reset(profile="zaikio")
    forms = (read("STUB_CA_DER"), env("STUB_CA_DER"), env("STUB_CA_PEM"), read("STUB_CA_PEM"),
             read("STUB_CA_PEM").decode(), env("STUB_CA_BUNDLE"), read("STUB_CA_BUNDLE"))
    for ca in forms:
        c = client(ca, api_origins=[env("STUB_TLS_URL")])
        assert c.token().access_token
        r = c.request("GET", env("STUB_TLS_URL") + "/api/v1/roles")  # same CA for the API
        assert r.status == 200 and r.json()[0] == "owner"
    assert len([e for e in log() if e["path"] == "/oauth/access_token"]) == len(forms)
    assert tls_failures() == 0
    # the handshake's code served the handshake only: let go, not resident for the answer
    assert "oauthcc.handshake" not in sys.modules and not hasattr(oauthcc, "handshake")


def test_wrong_ca_refused_before_anything_is_sent_and_latched():
    reset(profile="zaikio")
    c = client(env("STUB_WRONG_CA"))
    e = refused(c)
    assert tls_failures(1) == 1  # the server saw a handshake ...
    assert log() == []  # ... and no HTTP request: the secret never left
    assert c.latched is e and c.next_attempt_in_ms() == 2_700_000  # permanent: the long wait
    assert raises(OAuthError, c.token) is e  # again, without touching the network
    assert tls_failures() == 1 and log() == []
    c.reset()  # after a configuration change the next attempt goes out (and fails again)
    refused(c)
    assert tls_failures(2) == 2 and log() == []


def test_wrong_host_name_refused():
    reset(profile="zaikio")
    refused(client(env("STUB_CA_PEM"), env("STUB_TLS_OTHER_HOST_URL")))
    assert tls_failures(1) == 1 and log() == []


def test_expired_certificate_refused():
    reset(profile="zaikio")
    refused(client(env("STUB_CA_DER"), env("STUB_TLS_EXPIRED_URL")))
    assert tls_failures(1) == 1 and log() == []


def test_missing_ca_refused():
    reset(profile="zaikio")
    e = refused(client(None))
    if sys.implementation.name == "micropython":
        # no trust store: refused before connecting, with a message that says what to do
        assert "ca=" in str(e) and "verify=False" in str(e), str(e)
        assert tls_failures() == 0
    else:
        assert tls_failures(1) == 1  # the system trust store does not know the test CA
    assert log() == []


def test_verify_false_is_an_explicit_opt_out():
    reset(profile="zaikio")
    c = client(None, env("STUB_TLS_OTHER_HOST_URL"), verify=False)
    assert c.token().access_token


def test_bad_ca_is_a_configuration_error_at_once():
    for ca in ("/nonexistent/ca.pem", b"", b"not a certificate", b"-----BEGIN CERTIFICATE-----"):
        e = raises(ValueError, Transport, ca)
        assert "ca" in str(e), str(e)


def test_unset_wall_clock_is_retryable_not_a_latched_verification_failure():
    # an ESP32 before NTP thinks it is 2000: every certificate would be "not yet valid"
    reset(profile="zaikio")
    clock = FakeClock(wall=None)
    c = client(env("STUB_CA_DER"), transport=Transport(env("STUB_CA_DER"), clock=clock))
    e = raises(OAuthError, c.token)
    assert e.error == "clock_not_set" and e.retryable and "NTP" in str(e)
    assert 0 < c.next_attempt_in_ms() <= 2000 and c.latched is None  # backing off, short
    assert tls_failures() == 0 and log() == []  # refused before connecting
