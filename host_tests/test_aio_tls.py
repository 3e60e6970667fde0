"""AsyncTokenClient over HTTPS against the stub with a test CA (trustme), on CPython in
process and on the MicroPython unix port in a subprocess: a verified server gets the
request; a server the CA did not sign, or a certificate for another name, is refused with
tls_verification_failed before anything is sent."""
import json
import os
import ssl
import subprocess
import sys

import pytest
import trustme
from conftest import DEVICE, micropython

from stub_server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, ORG, StubServer

SCOPE = ORG + ".zaikio.machines.rw"

# The same check on both runtimes: prints one JSON line with what happened.
SCRIPT = """
import asyncio, json, sys
sys.path.insert(0, %r)
from oauthcc import OAuthError
from oauthcc.aio import from_profile

async def main(base, ca):
    c = from_profile("zaikio", %r, %r, %r, base, ca=ca)
    try:
        t = await c.token()
        return {"ok": True, "scope": t.scope}
    except OAuthError as e:
        return {"ok": False, "error": e.error, "latched": c.latched is e}

print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2]))))
""" % (str(DEVICE), DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SCOPE)


def tls_stub(tmp_path, ca, name):
    cert = ca.issue_cert(name)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(ctx)
    stub = StubServer(profile="zaikio", tls=ctx).start()
    return stub, stub.url.replace("127.0.0.1", "localhost")


def run(runtime, tmp_path, base, ca):
    ca_file = tmp_path / "ca.der"  # DER: this unix port's mbedTLS refuses PEM cadata
    ca_file.write_bytes(ssl.PEM_cert_to_DER_cert(ca.cert_pem.bytes().decode()))
    script = tmp_path / "check.py"
    script.write_text(SCRIPT)
    if runtime == "cpython":
        exe = sys.executable
    else:
        exe = micropython()
        if not exe:
            pytest.fail("no micropython executable: `make test` installs it")
    p = subprocess.run([exe, str(script), base, str(ca_file)], capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL, env=dict(os.environ))
    assert p.returncode == 0, p.stdout + p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_verified_server_gets_the_request(runtime, tmp_path):
    ca = trustme.CA()
    stub, base = tls_stub(tmp_path, ca, "localhost")
    try:
        assert run(runtime, tmp_path, base, ca) == {"ok": True, "scope": "zaikio.machines.rw"}
        assert [e["grant_type"] for e in stub.log] == ["client_credentials"]
    finally:
        stub.stop()


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
@pytest.mark.parametrize("case", ["unknown CA", "other name"])
def test_unverified_server_is_refused_before_anything_is_sent(runtime, case, tmp_path):
    ca = trustme.CA()
    signer = trustme.CA() if case == "unknown CA" else ca
    stub, base = tls_stub(tmp_path, signer, "other.example" if case == "other name"
                          else "localhost")
    try:
        out = run(runtime, tmp_path, base, ca)
        assert out == {"ok": False, "error": "tls_verification_failed", "latched": True}
        assert stub.log == []  # no request reached the server: the secret never left
    finally:
        stub.stop()
