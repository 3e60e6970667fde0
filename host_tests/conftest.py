"""Collect every test in host_tests/device/ twice: [cpython] in this process, [micropython]
in a subprocess of the MicroPython unix port that runs the identical function and reports
sys.implementation.name, so an id cannot claim a runtime that did not run it."""
import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEVICE = ROOT / "device"
DEVICE_TESTS = ROOT / "host_tests" / "device"
TOOLS = ROOT / "tools"
for p in (DEVICE, DEVICE_TESTS, TOOLS):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

MP_TIMEOUT = 120  # seconds for one test under MicroPython; every test is bounded far below


def micropython():
    """$MICROPYTHON, else the venv's unix port as the tools find it; None if there is none."""
    from toolchain import ToolchainError, find

    try:
        return os.environ.get("MICROPYTHON") or find("micropython")
    except ToolchainError:
        return None


_stub = None


def stub_server():
    """One stub authorization server for the session; tests reset it to the profile they need."""
    global _stub
    if _stub is None:
        from stub_server import StubServer

        _stub = StubServer(port=0, admin_port=0).start()
        os.environ["STUB_URL"] = _stub.url
        os.environ["STUB_ADMIN_URL"] = _stub.admin_url
    return _stub


_tls = None


def tls_stub():
    """HTTPS listeners that share the stub's state (one log, one control port), with a
    trustme test CA: STUB_TLS_URL has a certificate for its host, STUB_TLS_OTHER_HOST_URL one
    for "other.example", STUB_TLS_EXPIRED_URL one that expired in 2021, STUB_TLS_MTLS_URL is
    STUB_TLS_URL's twin that wants a client certificate from the same CA. The CA is written to
    a temp dir as PEM, DER, a PEM bundle with other roots (STUB_CA_PEM, STUB_CA_DER,
    STUB_CA_BUNDLE), and a wrong CA too (STUB_WRONG_CA); a client certificate for common name
    "device-1" with its key as PEM and DER (STUB_CLIENT_CERT, STUB_CLIENT_KEY, STUB_CLIENT_DER,
    STUB_CLIENT_KEY_DER, and both in one PEM file, STUB_CLIENT_BOTH), and one from the wrong
    CA (STUB_WRONG_CLIENT_CERT, STUB_WRONG_CLIENT_KEY)."""
    global _tls
    if _tls is None:
        import datetime
        import socket
        import ssl
        import tempfile

        import trustme
        from cryptography.hazmat.primitives import serialization

        from stub_server import StubServer

        state = stub_server().state
        ca, wrong = trustme.CA(), trustme.CA()
        d = Path(tempfile.mkdtemp(prefix="oauthcc-tls-"))
        pem = ca.cert_pem.bytes()
        me = ca.issue_cert("device-1.example", common_name="device-1")
        cert, key = me.cert_chain_pems[0].bytes(), me.private_key_pem.bytes()
        key_der = serialization.load_pem_private_key(key, None).private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())
        other = wrong.issue_cert("device-1.example", common_name="device-1")
        files = {"STUB_CA_PEM": ("ca.pem", pem),
                 "STUB_CA_DER": ("ca.der", ssl.PEM_cert_to_DER_cert(pem.decode())),
                 "STUB_CA_BUNDLE": ("bundle.pem", wrong.cert_pem.bytes() + ca.cert_pem.bytes()
                                    + trustme.CA().cert_pem.bytes()),
                 "STUB_WRONG_CA": ("wrong.pem", wrong.cert_pem.bytes()),
                 "STUB_CLIENT_CERT": ("client.pem", cert),
                 "STUB_CLIENT_KEY": ("client.key", key),
                 "STUB_CLIENT_DER": ("client.der", ssl.PEM_cert_to_DER_cert(cert.decode())),
                 "STUB_CLIENT_KEY_DER": ("client.key.der", key_der),
                 "STUB_CLIENT_BOTH": ("client-both.pem", key + cert),
                 "STUB_WRONG_CLIENT_CERT": ("wrong-client.pem",
                                            other.cert_chain_pems[0].bytes()),
                 "STUB_WRONG_CLIENT_KEY": ("wrong-client.key", other.private_key_pem.bytes())}
        for env, (name, data) in files.items():
            (d / name).write_bytes(data)
            os.environ[env] = str(d / name)
        # "localhost" when it resolves to the stub's 127.0.0.1 first, else the IP (the
        # certificate names both; mbedTLS 3.x matches IP addresses too)
        first = socket.getaddrinfo("localhost", 80, 0, socket.SOCK_STREAM)[0][4][0]
        host = "localhost" if first == "127.0.0.1" else "127.0.0.1"
        servers = []
        expired = {"not_before": datetime.datetime(2020, 1, 1),
                   "not_after": datetime.datetime(2021, 1, 1)}
        for env, names, dates in (("STUB_TLS_URL", ("localhost", "127.0.0.1"), {}),
                                  ("STUB_TLS_OTHER_HOST_URL", ("other.example",), {}),
                                  ("STUB_TLS_EXPIRED_URL", ("localhost", "127.0.0.1"), expired),
                                  ("STUB_TLS_MTLS_URL", ("localhost", "127.0.0.1"), {})):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ca.issue_cert(*names, **dates).configure_cert(ctx)
            if env == "STUB_TLS_MTLS_URL":
                ctx.verify_mode = ssl.CERT_REQUIRED
                ca.configure_trust(ctx)
            s = StubServer(admin_port=None, tls=ctx, state=state).start()
            servers.append(s)
            os.environ[env] = "https://%s:%d" % (host, s.port)
        _tls = (servers, d)
    return _tls


# Real OAuth 2.0 servers for device modules that declare NEEDS_SERVERS = ("oidc_provider", ...):
# the Node ones by conformance/launch.mjs, the others (a Debian package, a PyPI library) by
# conformance/launch.py. Each starts once per session; the test gets its ready line (URLs,
# clients) as JSON in env SERVER_<NAME>, and the test PKI's folder in CONFORMANCE_PKI. Under
# CI a server that cannot be had fails the test; elsewhere the test is skipped with the reason.
CONFORMANCE = ROOT / "conformance"
NODE_SERVERS = ("oidc_provider", "oauth2_mock", "node_oauth2_server")  # the rest are launch.py's
SERVER_START_TIMEOUT = 30  # seconds; a start takes one or two
_servers = {}  # name -> (process or None, reason for not having it or None)
_started = []  # names, in start order, for the summary line
_pki = None


def conformance_pki():
    """The servers' test CA, their certificates and the clients' (conformance/pki.py), made
    once per session in a temp dir named by env CONFORMANCE_PKI."""
    global _pki
    if _pki is None:
        import importlib.util
        import tempfile

        spec = importlib.util.spec_from_file_location("conformance_pki", CONFORMANCE / "pki.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        _pki = mod.make(Path(tempfile.mkdtemp(prefix="oauthcc-pki-")))
        os.environ["CONFORMANCE_PKI"] = str(_pki)
    return _pki


def real_server(name):
    """Start the named server once; returns None when it runs, else why it does not."""
    if name not in _servers:
        _servers[name] = _start_server(name)
        if _servers[name][1] is None:
            _started.append(name)
    return _servers[name][1]


def conformance_server(name):
    """The ready line of a real server, for a host test (no runtime twin): started once, skipped
    (or failed, under CI) like a device test when it cannot be had."""
    import json

    reason = real_server(name)
    if reason and os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        raise ServerUnavailable(reason)
    if reason:
        pytest.skip(reason)
    return json.loads(os.environ["SERVER_" + name.upper()])


def _launcher(name):
    """(command, None) that starts the named server, or (None, why it cannot)."""
    if name not in NODE_SERVERS:
        return [sys.executable, str(CONFORMANCE / "launch.py"), name], None
    node = shutil.which("node")
    if not node:
        return None, "node is not installed (Node.js 20.19 or later; .ci/run installs it)"
    if not (CONFORMANCE / "node_modules" / ".package-lock.json").exists():
        return None, "conformance/node_modules is missing: `make conformance` runs npm ci"
    return [node, str(CONFORMANCE / "launch.mjs"), name], None


def _start_server(name):
    import json
    import selectors
    import time

    cmd, why = _launcher(name)
    if cmd is None:
        return None, why
    conformance_pki()
    logdir = ROOT / "build" / "conformance"
    logdir.mkdir(parents=True, exist_ok=True)
    log = open(logdir / ("%s.log" % name), "wb")
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                         cwd=str(CONFORMANCE))
    log.close()
    t0 = time.monotonic()
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    line = b""
    while not line.endswith(b"\n") and time.monotonic() - t0 < SERVER_START_TIMEOUT:
        if sel.select(timeout=0.5):
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                break
            line += chunk
    sel.close()
    try:
        info = json.loads(line)
    except ValueError:
        info = {}
    if info.get("ready") != name:
        try:
            p.wait(timeout=1)  # did it exit, or is it stuck?
        except subprocess.TimeoutExpired:
            pass
        how = "exited %s" % p.poll() if p.poll() is not None else \
            "not ready within %d s" % SERVER_START_TIMEOUT
        p.kill()
        p.wait(timeout=10)
        tail = (logdir / ("%s.log" % name)).read_text(errors="replace")[-1500:]
        return None, "%s %s: %s" % (name, how, tail or line[-500:].decode(errors="replace")
                                      or "no output")
    info["start_seconds"] = round(time.monotonic() - t0, 2)
    os.environ["SERVER_" + name.upper()] = json.dumps(info)
    return p, None


def pytest_sessionfinish(session):
    if _tls is not None:
        for s in _tls[0]:
            s.stop()
        shutil.rmtree(_tls[1], ignore_errors=True)
    if _stub is not None:
        _stub.stop()
    for p, _ in _servers.values():
        if p is not None:
            p.stdin.close()  # the launcher exits when its stdin ends
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
    if _pki is not None:
        shutil.rmtree(_pki, ignore_errors=True)


_runtime_counts = {}  # (runtime, outcome) -> device tests, for the summary line


def pytest_runtest_logreport(report):
    runtime = report.nodeid.rsplit("[", 1)[-1].rstrip("]")
    if runtime in ("cpython", "micropython") and (report.when == "call" or report.outcome
                                                  != "passed"):
        key = (runtime, report.outcome)
        _runtime_counts[key] = _runtime_counts.get(key, 0) + 1


def pytest_terminal_summary(terminalreporter):
    import json

    # say per runtime what ran: a [micropython] pass means the unix port printed its own
    # sys.implementation.name, so this line cannot claim a runtime that did not run
    for runtime in ("cpython", "micropython"):
        got = ["%d %s" % (n, outcome) for (r, outcome), n in sorted(_runtime_counts.items())
               if r == runtime]
        if got:
            terminalreporter.write_line("device tests on %s: %s" % (runtime, ", ".join(got)))

    for name in _started:
        info = json.loads(os.environ["SERVER_" + name.upper()])
        terminalreporter.write_line("conformance server %s %s started in %.2f s" % (
            info["server"], info["version"], info["start_seconds"]))


def pytest_pycollect_makemodule(module_path, parent):
    if Path(module_path).parent == DEVICE_TESTS and module_path.name.startswith("test_"):
        return DeviceModule.from_parent(parent, path=Path(module_path))
    return None


class DeviceModule(pytest.File):
    def collect(self):
        mod = importlib.import_module(self.path.stem)
        names = [n for n, f in vars(mod).items() if n.startswith("test_") and callable(f)]
        for name in names:
            for runtime in ("cpython", "micropython"):
                yield DeviceItem.from_parent(self, name="%s[%s]" % (name, runtime),
                                             func=getattr(mod, name), runtime=runtime,
                                             needs_stub=getattr(mod, "NEEDS_STUB", False),
                                             needs_tls=getattr(mod, "NEEDS_TLS_STUB", False),
                                             needs_servers=getattr(mod, "NEEDS_SERVERS", ()))


class MicroPythonFailure(Exception):
    pass


class ServerUnavailable(Exception):
    pass


class DeviceItem(pytest.Item):
    def __init__(self, *, func, runtime, needs_stub, needs_tls=False, needs_servers=(), **kw):
        super().__init__(**kw)
        self.func = func
        self.needs_stub = needs_stub
        self.needs_tls = needs_tls
        self.needs_servers = needs_servers
        self.runtime = runtime
        self.add_marker(getattr(pytest.mark, runtime))

    def runtest(self):
        if self.needs_stub:
            stub_server()
        if self.needs_tls:
            tls_stub()
        for name in self.needs_servers:
            reason = real_server(name)
            if reason and os.environ.get("CI", "").lower() in ("true", "1", "yes"):
                raise ServerUnavailable(reason)  # CI must prove conformance, not skip it
            if reason:
                pytest.skip(reason)
        if self.runtime == "cpython":
            self.func()
            return
        exe = micropython()
        if not exe:
            raise MicroPythonFailure("no micropython executable: `make test` installs it")
        cmd = [exe, str(ROOT / "host_tests" / "mp_run.py"), str(DEVICE), str(DEVICE_TESTS),
               self.parent.path.stem, self.func.__name__]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=MP_TIMEOUT,
                           cwd=str(ROOT), stdin=subprocess.DEVNULL)
        out = p.stdout + p.stderr
        if "MP-RESULT pass micropython" not in out or p.returncode != 0:
            raise MicroPythonFailure(out[-4000:] or "exit %d, no output" % p.returncode)

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, MicroPythonFailure):
            return "MicroPython unix port:\n" + str(excinfo.value)
        if isinstance(excinfo.value, ServerUnavailable):
            return "conformance server unavailable (CI): " + str(excinfo.value)
        # show the test's own frames, not pytest's machinery
        tb = excinfo.traceback.filter(lambda e: str(e.path).startswith(str(ROOT))
                                      and Path(str(e.path)).name != "conftest.py")
        excinfo.traceback = tb or excinfo.traceback
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, "%s::%s" % (self.path.name, self.name)
