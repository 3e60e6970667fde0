"""The stub authorization server itself (CPython only: it is a host tool), driven with the
standard library's HTTP client so its behaviour is checked independently of oauthcc."""
import base64
import hashlib
import hmac
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from stub_server import _JWT_KEY, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, ORG, PER, StubServer

ROOT = Path(__file__).resolve().parent.parent
BASIC = "Basic " + base64.b64encode(
    ("%s:%s" % (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)).encode()).decode()


def post(url, form, headers=None):
    req = urllib.request.Request(url, form.encode(), dict(headers or {}, Authorization=BASIC))
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _unb64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def test_zaikio_person_token_is_a_signed_jwt_with_the_seed_fields():
    with StubServer("zaikio", lifetime=120) as stub:
        status, a = post(stub.url + "/oauth/access_token",
                         "grant_type=client_credentials&scope=" + PER + ".zaikio.machines.rw")
    assert status == 200
    assert a["token_type"] == "bearer" and a["expires_in"] == 120
    assert a["scope"] == "zaikio.machines.rw" and a["refresh_token"]
    assert a["audiences"] == ["directory"] and a["bearer"]["type"] == "Organization"
    assert a["bearer_on_behalf_of"]["roles"] == ["owner", "admin"]
    head, payload, sig = a["access_token"].split(".")
    good = hmac.new(_JWT_KEY, (head + "." + payload).encode(), hashlib.sha256).digest()
    assert _unb64(sig) == good
    claims = json.loads(_unb64(payload))
    assert claims["roles"] == 3 and claims["scope"] == ["zaikio.machines.rw"]
    assert claims["exp"] - claims["nbf"] == 120 and claims["sub"].startswith("Person/")


def test_error_answers_have_rfc_statuses():
    with StubServer("zaikio") as stub:
        token_url = stub.url + "/oauth/access_token"
        assert post(token_url, "grant_type=client_credentials&scope=%s.nope.r" % ORG) == (
            400, {"error": "ungranted_scope", "error_description": ORG + ".nope.r was not granted"})
        assert post(token_url, "grant_type=password")[1]["error"] == "unsupported_grant_type"
        req = urllib.request.Request(token_url, b"grant_type=client_credentials")
        try:
            urllib.request.urlopen(req, timeout=5)
            raise AssertionError("no Basic header accepted")
        except urllib.error.HTTPError as e:
            assert e.code == 401 and json.loads(e.read())["error"] == "invalid_client"
        assert [e["status"] for e in stub.log] == [400, 400, 401]


def test_command_line_serves_until_stopped(tmp_path):
    url_file = tmp_path / "url"
    p = subprocess.Popen([sys.executable, str(ROOT / "tools" / "stub_server.py"), "--profile",
                          "wicked", "--lifetime", "42", "--url-file", str(url_file)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):  # bounded: 10 s
            if url_file.exists():
                break
            time.sleep(0.1)
        base = url_file.read_text().split()[0]
        req = urllib.request.Request(base + "/auth/default/api/petstore/token",
                                     b"grant_type=client_credentials&client_id=%s&client_secret=%s"
                                     % (DEFAULT_CLIENT_ID.encode(), DEFAULT_CLIENT_SECRET.encode()))
        with urllib.request.urlopen(req, timeout=5) as r:
            a = json.loads(r.read())
        assert a["expires_in"] == 42 and "refresh_token" not in a
    finally:
        p.terminate()
        p.wait(10)
