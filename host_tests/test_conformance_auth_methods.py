"""What each real server expects for client_secret_jwt, tls_client_auth and
self_signed_tls_client_auth, proven here with the standard library, independently of the
library (whose own requests the device conformance tests send on both runtimes:
check_client_secret_jwt, check_mutual_tls in host_tests/device/conformance.py); see
conformance/SERVERS.md. A method a server does not offer is asserted refused."""
import base64
import hashlib
import hmac
import json
import os
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest
from conftest import conformance_server

from conformance import secret  # host_tests/device/conformance.py

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
HTTPS_SERVERS = ("oidc_provider", "glewlwyd", "authlib", "lemonldap")
# which server takes which method (over HTTPS; client_secret_jwt over HTTP too)
OFFERS = {"oidc_provider": {"client_secret_jwt", "tls_client_auth", "self_signed_tls_client_auth"},
          "glewlwyd": {"client_secret_jwt", "tls_client_auth", "self_signed_tls_client_auth"},
          "authlib": {"client_secret_jwt"},
          "lemonldap": set()}
# does a client assertion for the other listener's token URL fail? (authlib: our glue lists
# both URLs in get_audiences, which has no request to tell them apart)
AUD_IS_THE_REQUEST_URL = {"oidc_provider": True, "glewlwyd": True, "authlib": False,
                          "lemonldap": True}


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def client_secret_jwt(client_id, secret, aud, lifetime=60):
    """RFC 7523 2.2: HS256 over the client secret; iss = sub = client id, aud the token URL."""
    now = int(time.time())
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps({"iss": client_id, "sub": client_id, "aud": aud, "iat": now,
                              "exp": now + lifetime, "jti": uuid.uuid4().hex}).encode())
    mac = hmac.new(secret.encode(), ("%s.%s" % (head, body)).encode(), hashlib.sha256)
    return "%s.%s.%s" % (head, body, b64url(mac.digest()))


def token_request(url, fields, cert=None):
    """POST a client-credentials request; (status, JSON body or None). cert: a PKI name
    ("client", "selfsigned") whose certificate and key the TLS handshake presents."""
    pki = os.environ["CONFORMANCE_PKI"]
    ctx = None
    if url.startswith("https:"):
        ctx = ssl.create_default_context(cafile=os.path.join(pki, "ca.pem"))
        if cert:
            ctx.load_cert_chain(os.path.join(pki, cert + ".pem"), os.path.join(pki, cert + ".key"))
    body = urllib.parse.urlencode(dict(fields, grant_type="client_credentials", scope="read"))
    req = urllib.request.Request(url, body.encode(), {
        "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        data = e.read()
        return e.code, json.loads(data) if data else None


def jwt_fields(info, client_id, url, **kw):
    return {"client_id": client_id, "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": client_secret_jwt(client_id, secret(info, client_id), url, **kw)}


@pytest.mark.parametrize("name", HTTPS_SERVERS)
@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_client_secret_jwt(name, tls):
    info = conformance_server(name)
    url = info["tls_token_url" if tls else "token_url"]
    for cid in ("conf-jwt", "conf-special-jwt"):
        status, body = token_request(url, jwt_fields(info, cid, url))
        if "client_secret_jwt" not in OFFERS[name]:
            assert status in (400, 401) and body["error"] == "invalid_client", (status, body)
            return
        assert status == 200 and body["scope"] == "read", (cid, status, body)
    other = info["token_url" if tls else "tls_token_url"]
    status, _ = token_request(url, jwt_fields(info, "conf-jwt", other))
    assert (status in (400, 401, 403)) == AUD_IS_THE_REQUEST_URL[name], status
    status, _ = token_request(url, jwt_fields(info, "conf-jwt", url + "/elsewhere"))
    assert status in (400, 401, 403)
    # the secret itself never works for this client
    status, _ = token_request(url, {"client_id": "conf-jwt",
                                    "client_secret": secret(info, "conf-jwt")})
    assert status in (400, 401, 403)


@pytest.mark.parametrize("name", HTTPS_SERVERS)
@pytest.mark.parametrize("method,client_id,cert", [
    ("tls_client_auth", "conf-mtls", "client"),
    ("self_signed_tls_client_auth", "conf-selfsigned", "selfsigned")])
def test_mutual_tls(name, method, client_id, cert):
    info = conformance_server(name)
    url = info["tls_token_url"]
    status, body = token_request(url, {"client_id": client_id}, cert=cert)
    if method not in OFFERS[name]:
        assert status in (400, 401) and body["error"] == "invalid_client", (status, body)
        return
    assert status == 200 and body["scope"] == "read", (status, body)
    # without the certificate, or with the other one: refused
    for other in (None, "selfsigned" if cert == "client" else "client"):
        status, _ = token_request(url, {"client_id": client_id}, cert=other)
        assert status in (400, 401, 403), (other, status)
