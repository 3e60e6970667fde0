# Mutual TLS client authentication (RFC 8705 tls_client_auth) against the stub's listener
# that wants a client certificate, on both runtimes: client_cert= and client_key= in every
# form (DER or PEM, bytes, text or a file), the token request naming only the client; no or
# the wrong certificate gets no token; what the TLS library will not take is a ValueError
# when the client is made. Real servers: test_conformance_{oidc_provider,glewlwyd}.py.
import asyncio
import os

from oauthcc import OAuthError, TokenClient
from oauthcc.aio import AsyncTokenClient
from oauthcc.transport import Transport
from support import CLIENT_ID, FakeClock, log, raises, reset

NEEDS_STUB = True
NEEDS_TLS_STUB = True


def env(name):
    return os.getenv(name)


def read(name):
    with open(env(name), "rb") as f:
        return f.read()


def stub():
    reset(profile="generic", auth="tls", clients=[{"client_id": CLIENT_ID}])


def client(cert, key, cls=TokenClient, **kw):
    kw.setdefault("auth", "tls")
    return cls(env("STUB_TLS_MTLS_URL") + "/oauth/token", CLIENT_ID, None, "read",
               ca=env("STUB_CA_PEM"), client_cert=cert, client_key=key, clock=FakeClock(),
               rand=lambda n: n // 2, **kw)


def test_every_form_of_certificate_and_key_gets_a_token():
    stub()
    forms = ((env("STUB_CLIENT_CERT"), env("STUB_CLIENT_KEY")),
             (read("STUB_CLIENT_CERT"), read("STUB_CLIENT_KEY")),
             (read("STUB_CLIENT_CERT").decode(), read("STUB_CLIENT_KEY").decode()),
             (read("STUB_CLIENT_DER"), read("STUB_CLIENT_KEY_DER")),
             (env("STUB_CLIENT_DER"), env("STUB_CLIENT_KEY_DER")),
             (env("STUB_CLIENT_BOTH"), env("STUB_CLIENT_BOTH")))
    digests = set()
    for cert, key in forms:
        c = client(cert, key)
        assert c.token().access_token
        digests.add(c._transport.client_cert_digest)  # for the configuration fingerprint
    # the same bytes in every form of one file: the PEM key is SEC1, the DER one PKCS#8
    assert len(digests) == 2 and all(len(d) == 32 for d in digests)
    entries = log()
    assert len(entries) == len(forms)
    for e in entries:
        assert e["status"] == 200 and e["client_cert"] == "device-1"
        assert e["form"]["client_id"] == CLIENT_ID and "client_secret" not in e["form"]
        assert "authorization" not in e["headers"]


def test_auto_without_a_secret_but_with_a_certificate_is_tls():
    stub()
    c = client(env("STUB_CLIENT_CERT"), env("STUB_CLIENT_KEY"), auth="auto")
    assert c.token().access_token and log()[0]["client_cert"] == "device-1"


def test_the_asyncio_client_shows_the_certificate_too():
    stub()
    c = client(read("STUB_CLIENT_DER"), read("STUB_CLIENT_KEY_DER"), cls=AsyncTokenClient)
    assert asyncio.run(c.token()).access_token and log()[0]["client_cert"] == "device-1"


def test_no_certificate_or_one_of_another_ca_gets_no_token():
    stub()
    for cert, key in ((None, None), (env("STUB_WRONG_CLIENT_CERT"), env("STUB_WRONG_CLIENT_KEY"))):
        c = client(cert, key)
        raises((OAuthError, OSError), c.token)  # the server ends the handshake
        assert c.next_attempt_in_ms() != 0  # not retried at once
    assert [e for e in log() if e["status"] == 200] == []


def test_what_the_tls_library_will_not_take_is_refused_at_once():
    pem, key = env("STUB_CLIENT_CERT"), env("STUB_CLIENT_KEY")
    encrypted = (b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n"
                 b"-----END ENCRYPTED PRIVATE KEY-----\n")
    for cert, k, says in ((pem, None, "together"), (None, key, "together"),
                          ("/nonexistent/client.pem", key, "cannot be read"),
                          (b"junk", key, "client_cert"), (pem, b"\x30\x03\x02\x01\x00", "client_"),
                          (pem, pem, "no PEM private key"), (key, key, "no PEM certificate"),
                          (pem, encrypted, "encrypted"), (5, key, "client_cert"),
                          (read("STUB_CLIENT_DER")[:40], read("STUB_CLIENT_KEY_DER"), "client_")):
        e = raises(ValueError, TokenClient, env("STUB_TLS_MTLS_URL"), CLIENT_ID, None,
                   auth="tls", ca=env("STUB_CA_PEM"), client_cert=cert, client_key=k)
        assert says in str(e), (says, str(e))
        assert "PRIVATE" not in str(e).replace("PEM private key", "")  # no key material
    # without ca= too (MicroPython then refuses https at the first request, not here)
    e = raises(ValueError, TokenClient, env("STUB_TLS_MTLS_URL"), CLIENT_ID, None, auth="tls",
               client_cert=pem, client_key=pem)
    assert "no PEM private key" in str(e)


def test_a_transport_of_ones_own_gets_the_certificate_with_attach():
    from oauthcc.clientcert import attach

    stub()
    t = Transport(env("STUB_CA_DER"))
    attach(t, env("STUB_CLIENT_CERT"), env("STUB_CLIENT_KEY"))
    c = TokenClient(env("STUB_TLS_MTLS_URL") + "/oauth/token", CLIENT_ID, None, "read",
                    auth="tls", transport=t, clock=FakeClock())
    assert c.token().access_token and log()[0]["client_cert"] == "device-1"


def test_the_app_configuration_names_the_certificate_and_key_files():
    import app
    import settings

    stub()
    config = settings.check({"profile": "custom", "base_url": env("STUB_TLS_MTLS_URL"),
                             "token_path": "/oauth/token", "scope": "read", "auth": "tls",
                             "ca": env("STUB_CA_DER"), "client_cert": env("STUB_CLIENT_DER"),
                             "client_key": env("STUB_CLIENT_KEY_DER")})
    secrets = settings.check({"client_id": CLIENT_ID}, "secrets.json")
    assert app.make_client(config, secrets).token().access_token
    assert log()[0]["client_cert"] == "device-1"
    config["client_key"] = env("STUB_CLIENT_CERT")  # a certificate where the key should be
    raises(settings.ConfigError, app.make_client, config, secrets)
