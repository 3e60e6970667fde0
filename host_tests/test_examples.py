"""Every script in examples/ runs against the stub server on both runtimes, as the docs say to
run it: `tools/mp examples/X.py ARGS` (the MicroPython unix port) and
`PYTHONPATH=device python3 examples/X.py ARGS` (CPython), and prints what it promises."""
import os
import subprocess
import sys

import pytest
from conftest import ROOT, micropython, stub_server, tls_stub

from stub_server import DEFAULT_CLIENT_SECRET

EXAMPLES = ROOT / "examples"
TIMEOUT = 60  # seconds for one run; one takes well under a second

# (id, script, arguments before the base URL, the stub's reset, lines the output must hold)
CASES = [
    ("blocking", "blocking.py", [], {"profile": "generic"},
     ["token: Bearer for 3600 s, scope read", "API: 200 {", "'client_id': 'device-1'"]),
    ("asyncio", "asyncio_client.py", [], {"profile": "generic"},
     ["API: 200 {", "sensor readings meanwhile: "]),
    ("zaikio", "zaikio.py", [], {"profile": "zaikio"},
     ["token: 599 s, scope zaikio.machines.rw for 29b276b7-c0fa-4514-a5b1-c0fb4ee40fa7",
      "roles: ['owner', 'admin']", "API: 200 {", "/api/v1/person"]),
    ("heidelberg", "heidelberg.py", [], {"profile": "heidelberg"},
     ["token: 599 s, scope warehouse.items.r refresh token: True", "API: 200 {",
      "/api/v1/organization"]),
    ("wicked", "wicked.py", [], {"profile": "wicked"},
     ["/auth/default/api/petstore/token", "token: 3600 s, scope read refresh token: None",
      "API: 200 {", "/petstore/v1/pets"]),
    ("generic", "generic.py", [], {"profile": "generic"},
     ["token: 3600 s, scope read:secrets", "API: 200 {", "'/secrets'"]),
    ("auth-auto", "client_auth.py", ["auto"], {"profile": "generic"},
     ["token with auth=auto: 3600 s", "API: 200"]),
    ("auth-basic", "client_auth.py", ["basic"], {"profile": "generic"},
     ["token with auth=basic: 3600 s", "API: 200"]),
    ("auth-post", "client_auth.py", ["post"], {"profile": "generic", "auth": "post"},
     ["token with auth=post: 3600 s", "API: 200"]),
    ("auth-jwt", "client_auth.py", ["jwt"], {"profile": "generic", "auth": "jwt"},
     ["token with auth=jwt: 3600 s", "API: 200"]),
]


def run(runtime, script, args):
    """(exit status, output) of an example, the way the docs run it."""
    if runtime == "micropython":
        if micropython() is None:
            pytest.skip("no MicroPython unix port (make venv)")
        cmd, env = [str(ROOT / "tools" / "mp")], dict(os.environ, MICROPYTHON=micropython())
    else:
        cmd, env = [sys.executable], dict(os.environ, PYTHONPATH=str(ROOT / "device"))
    p = subprocess.run(cmd + [str(EXAMPLES / script)] + args, cwd=str(ROOT), env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=TIMEOUT)
    return p.returncode, p.stdout


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_example_gets_a_token_and_calls_the_api(case, runtime):
    _, script, args, reset, expected = case
    stub = stub_server()
    stub.reset(reset)
    rc, out = run(runtime, script, args + [stub.url])
    assert rc == 0, out
    for line in expected:
        assert line in out, out
    assert DEFAULT_CLIENT_SECRET not in out
    grants = [e["grant_type"] for e in stub.log if e.get("grant_type")]
    assert grants == ["client_credentials"], stub.log
    if script != "asyncio_client.py":  # it closes the connection before every sleep
        assert len({e["connection"] for e in stub.log}) == 1, stub.log  # one handshake


def test_the_heaps_example_measures_a_fetch_on_micropython():
    stub = stub_server()
    stub.reset({"profile": "generic"})
    rc, out = run("micropython", "heaps.py", [stub.url])
    assert rc == 0, out
    for label in ("boot: gc free ", "import: gc free ", "cycle: gc free ", "max free sz"):
        assert label in out, out
    assert [e["path"] for e in stub.log] == ["/oauth/token", "/api/v1/resource"], stub.log


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_an_example_over_https_with_the_ca_it_is_given(runtime):
    stub_server().reset({"profile": "zaikio"})
    tls_stub()
    rc, out = run(runtime, "zaikio.py", [os.environ["STUB_TLS_URL"], os.environ["STUB_CA_DER"]])
    assert rc == 0, out
    assert "roles: ['owner', 'admin']" in out and "API: 200 {" in out, out


def test_every_example_is_run():
    run_here = {c[1] for c in CASES} | {"heaps.py"}
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(run_here)
