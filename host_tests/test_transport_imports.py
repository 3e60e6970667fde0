"""Which modules each client loads, in a fresh process of each runtime: the asyncio client
never loads the blocking transport (nor the blocking client asyncio), and a plain-HTTP fetch
loads no TLS code."""
import json
import subprocess
import sys

import pytest
from conftest import DEVICE, micropython

SCRIPT = """
import json, sys
sys.path.insert(0, %r)
if sys.argv[1] == "aio":
    import asyncio
    from oauthcc.aio import AsyncTokenClient
    c = AsyncTokenClient("http://127.0.0.1:1/token", "id", "secret", timeout=1)
    run = lambda: asyncio.run(c.token())
else:
    from oauthcc import TokenClient
    c = TokenClient("http://127.0.0.1:1/token", "id", "secret", timeout=1)
    run = c.token
try:
    run()  # refused: the whole request path has run
except OSError:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.startswith(("oauthcc", "asyncio")))))
""" % str(DEVICE)


def loaded(runtime, shell, tmp_path):
    script = tmp_path / "check.py"
    script.write_text(SCRIPT)
    exe = sys.executable if runtime == "cpython" else micropython()
    if not exe:
        pytest.fail("no micropython executable: `make test` installs it")
    p = subprocess.run([exe, str(script), shell], capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stdout + p.stderr
    return set(json.loads(p.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_the_asyncio_client_does_not_load_the_blocking_transport(runtime, tmp_path):
    got = loaded(runtime, "aio", tmp_path)
    assert {"oauthcc.aio", "oauthcc.aiotransport", "oauthcc.http"} <= got, got
    assert "oauthcc.transport" not in got and "oauthcc.tls" not in got, got


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_the_blocking_client_does_not_load_asyncio(runtime, tmp_path):
    got = loaded(runtime, "blocking", tmp_path)
    assert {"oauthcc.transport", "oauthcc.http"} <= got, got
    assert not {"oauthcc.aio", "oauthcc.aiotransport", "oauthcc.tls"} & got, got
    assert not [m for m in got if m.startswith("asyncio")], got


FETCH = """
import json, sys
sys.path.insert(0, %r)
from oauthcc import TokenClient
from oauthcc.http import Response

class T:  # the server's answers, as a transport gives them
    def request(self, method, url, body=None, headers=None):
        if url.endswith("/token"):
            return Response(200, {"content-type": "application/json"},
                            b'{"access_token":"abc","token_type":"Bearer","expires_in":3600,'
                            b'"scope":"read"}')
        return Response(200, {}, b'{"ok":true}')

c = TokenClient("http://127.0.0.1:1/token", "id", "secret", "read", transport=T())
if sys.argv[1] == "store":  # the state's code is let go with the renewal's
    from oauthcc.store import MemoryStore
    c = TokenClient("http://127.0.0.1:1/token", "id", "secret", "read", transport=T(),
                    store=MemoryStore())
if sys.argv[1] == "profile":  # the profile's tables are let go once the client is made
    from oauthcc import from_profile
    c = from_profile("generic", "id", "secret", "read", "http://127.0.0.1:1", transport=T())
c.request("GET", "http://127.0.0.1:1/api").json()  # a renewal, then the call
c.request("GET", "http://127.0.0.1:1/api").json()  # the cached token
c.invalidate()
c.request("GET", "http://127.0.0.1:1/api").json()  # a second renewal: loaded again
print(json.dumps(sorted(m for m in sys.modules if m.startswith("oauthcc"))))
""" % str(DEVICE)

# what only a failure, a feature or a configuration loads (README: footprint)
NOT_ON_A_FETCH = {"untrusted", "backoff", "clientauth", "assertion", "clientcert",
                  "clientstate", "store", "jwt", "roles", "scopes", "profiles", "httpdate",
                  "chunked", "tls", "handshake", "clock"}


@pytest.mark.parametrize("made", ["client", "store", "profile"])
@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_a_renewal_and_a_cached_token_call_load_no_failure_only_module(runtime, made, tmp_path):
    script = tmp_path / "fetch.py"
    script.write_text(FETCH)
    exe = sys.executable if runtime == "cpython" else micropython()
    p = subprocess.run([exe, str(script), made], capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stdout + p.stderr
    got = {m.partition(".")[2] for m in json.loads(p.stdout.strip().splitlines()[-1])}
    assert not got & NOT_ON_A_FETCH - {"store"}, got & NOT_ON_A_FETCH
    # what only a renewal (or the construction) needs is let go after it (client._AFTER)
    assert not got & {"grant", "answer", "encoding", "configure"}, got
    if runtime == "micropython":
        assert "_cpython" not in got, got


CONTEXT = """
import json, sys
sys.path.insert(0, %r)
from oauthcc import TokenClient
c = TokenClient("https://127.0.0.1:1/token", "id", "secret", ca=sys.argv[1])
print(json.dumps(sorted(m for m in sys.modules if m.startswith("oauthcc"))))
""" % str(DEVICE)


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_the_ca_decoding_is_let_go_once_the_context_is_built(runtime, tmp_path):
    import trustme

    ca = tmp_path / "ca.pem"
    ca.write_bytes(trustme.CA().cert_pem.bytes())
    script = tmp_path / "context.py"
    script.write_text(CONTEXT)
    exe = sys.executable if runtime == "cpython" else micropython()
    p = subprocess.run([exe, str(script), str(ca)], capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stdout + p.stderr
    got = set(json.loads(p.stdout.strip().splitlines()[-1]))
    assert "oauthcc.tls" in got and "oauthcc.tlsctx" not in got, got
