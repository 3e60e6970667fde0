"""The bench's runs on a MicroPython binary: the .mpy it loads, one measured process
(tools/bench_device.py) against the stub server, and the bisection for the minimum heap.

A Port is one binary and the mpy-cross that writes what it loads; another build (32-bit,
frozen) is another Port, measured by the same Runner.
"""
import contextlib
import json
import os
import resource
import shutil
import ssl
import subprocess

from toolchain import ROOT, build_library, check_mpy, loads_mpy, mpy_cross, mpy_header

from stub_server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, StubServer

TOOLS = ROOT / "tools"
SCOPE = "read"
BENCH_MODULES = ("bench_device", "bench_naive", "bench_lib")
_WINDOW, _WINDOW_STEP = 2048, 256  # a min heap must hold for every size this far above it


class Port:
    """A micropython binary, the mpy-cross for it, and `out`, where the .mpy it runs go."""

    def __init__(self, micropython, mpy_cross, out, mpy_args=()):
        self.micropython = micropython
        self.mpy_cross = mpy_cross
        self.out = out
        self.mpy_args = tuple(mpy_args)

    def build(self):
        """Compile the library (with mpy_args) and the bench scripts to .mpy, after checking
        that the binary loads what this mpy-cross writes. {library module: .mpy bytes}."""
        shutil.rmtree(self.out, ignore_errors=True)
        lib = build_library(self.out, self.mpy_args, self.mpy_cross)
        for name in BENCH_MODULES:
            mpy_cross(TOOLS / (name + ".py"), self.out / (name + ".mpy"), name + ".py",
                      exe=self.mpy_cross)
        loads = loads_mpy(self.micropython)
        version, _ = header = mpy_header(lib["client"])
        check_mpy(loads, header, "the unix port")
        self.mpy_version = "v%d bytecode (port: v%d.%d)" % (version, loads & 0xFF,
                                                             (loads >> 8) & 3)
        return {name: p.stat().st_size for name, p in lib.items()}

    def runtime(self):
        p = subprocess.run([self.micropython, "-c", "import sys; print(sys.implementation.version,"
                            " sys.version)"], capture_output=True, text=True, check=True)
        return "MicroPython unix port (x86-64), version " + p.stdout.strip()


def tls_context(ca_file):
    """A server context for the stub from a trustme test CA, whose DER goes to ca_file."""
    import trustme

    ca = trustme.CA()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    ca_file.write_bytes(ssl.PEM_cert_to_DER_cert(ca.cert_pem.bytes().decode()))
    return ctx


@contextlib.contextmanager
def stubs(ca_file):
    """{"http": stub, "https": stub} (generic profile), the HTTPS one's CA in ca_file."""
    servers = {"http": StubServer("generic").start(),
               "https": StubServer("generic", tls=tls_context(ca_file)).start()}
    try:
        yield servers
    finally:
        for s in servers.values():
            s.stop()


class Runner:
    """Runs bench_device.py on a Port against the stubs, the HTTPS one verified with ca_file."""

    def __init__(self, port, stubs, ca_file, timeout=120):
        self.port = port
        self.stubs = stubs  # scheme -> StubServer
        self.ca_file = ca_file
        self.timeout = timeout
        self.runs = 0

    def run(self, mode, scheme, heap, cycles=1, report=False, refresh=False):
        """(ok, figures or None, cpu seconds) of one micropython process."""
        stub = self.stubs[scheme]
        stub.reset({"profile": "generic", "refresh": refresh})
        if refresh:  # the first API call is answered 401: one renewal (refresh grant), one retry
            stub.faults({"kind": "status", "status": 401, "path": "/api/"})
        out = self.port.out
        # paths relative to out, the cwd: they are strings in the heap, and the figures must
        # not depend on where the checkout is
        ca = os.path.relpath(self.ca_file, out) if scheme == "https" else "-"
        env = dict(os.environ, MICROPYPATH=".:lib:.frozen")
        cmd = [self.port.micropython, "-X", "heapsize=%d" % heap, "-m", "bench_device",
               "lib" if mode.startswith("lib") else "naive", stub.url, SCOPE, DEFAULT_CLIENT_ID,
               DEFAULT_CLIENT_SECRET, ca, str(cycles), "1" if report else "0"]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout,
                               env=env, cwd=str(out), stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return False, None, 0.0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.runs += 1
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        ok = p.returncode == 0 and "OK" in p.stdout.split()
        figures = None
        for line in p.stdout.splitlines():
            if line.startswith("BENCH "):
                figures = dict(json.loads(line[6:]), **(figures or {}))
            elif line.startswith("MODULES "):
                figures = dict(figures or {}, modules=line.split()[1:])
        if report and not ok:
            raise SystemExit("%s over %s failed at heap %d:\n%s%s"
                             % (mode, scheme, heap, p.stdout[-2000:], p.stderr[-2000:]))
        if ok:
            grants = [e.get("grant_type") for e in stub.log if e["path"].endswith("token")]
            figures = dict(figures or {}, token_requests=len(grants))
            if refresh:
                figures["grants"] = grants
        return ok, figures, cpu

    def min_heap(self, mode, scheme, step, hi=512 * 1024, refresh=False, cycles=1):
        """The smallest -X heapsize (to `step` bytes) with which the import and `cycles`
        cycles complete (cycles=0: the import alone), and every size up to 2 KB above it too.

        Near the limit the outcome is not monotonic in the heap size (where objects land
        decides whether a block fits), so a plain bisection can stop on a lucky size.
        """
        def ok(heap):
            return self.run(mode, scheme, heap, cycles, refresh=refresh)[0]

        top = hi
        if not ok(top):
            raise SystemExit("%s over %s fails even with a %d-byte heap" % (mode, scheme, top))
        lo = 1024
        for _ in range(8):  # bounded: each round moves lo up past a failing size
            while hi - lo > step:
                mid = (lo + hi) // 2 // 64 * 64
                if ok(mid):
                    hi = mid
                else:
                    lo = mid
            bad = [h for h in range(hi + _WINDOW_STEP, hi + _WINDOW, _WINDOW_STEP) if not ok(h)]
            if not bad:
                return hi
            lo, hi = bad[-1], top
        raise SystemExit("%s over %s: no stable minimum heap" % (mode, scheme))
