"""tools/mp: the unix port with this checkout's library importable from any directory, the
frozen modules kept (https needs their ssl; MICROPYPATH=device alone drops them)."""
import os
import subprocess

from conftest import ROOT, micropython, stub_server, tls_stub

from stub_server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, ORG_ID

SCOPE = "Org/%s.warehouse.items.r" % ORG_ID


def test_mp_gets_a_token_over_https_from_any_directory(tmp_path):
    stub_server().reset({"profile": "zaikio"})
    tls_stub()
    code = ("import oauthcc\nc = oauthcc.from_profile('zaikio', %r, %r, [%r], %r, ca=%r)\n"
            "print('TOKEN', c.token().scope)" % (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SCOPE,
                                                 os.environ["STUB_TLS_URL"],
                                                 os.environ["STUB_CA_PEM"]))
    p = subprocess.run([str(ROOT / "tools" / "mp"), "-c", code], cwd=str(tmp_path),
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, MICROPYTHON=micropython()))
    assert "TOKEN warehouse.items.r" in p.stdout, p.stdout + p.stderr

    # what it is for: the path a reader would set by hand loses the frozen ssl module
    p = subprocess.run([micropython(), "-c", "import ssl"], cwd=str(tmp_path), timeout=60,
                       capture_output=True, text=True,
                       env=dict(os.environ, MICROPYPATH=str(ROOT / "device")))
    assert "no module named 'ssl'" in p.stdout + p.stderr
