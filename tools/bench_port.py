"""The bench's runs on a MicroPython binary: the .mpy it loads, one measured process
(tools/bench_device.py, or the whole device app) against the stub server, and the bisection
for the minimum heap.

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
import threading
from pathlib import Path

from toolchain import (
    DEVICE,
    LIBRARY,
    ROOT,
    ToolchainError,
    app_modules,
    build_app,
    build_library,
    check_mpy,
    loads_mpy,
    mpy_cross,
    mpy_header,
)

from stub_server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, ORG_ID, PERSON_ID, StubServer

TOOLS = ROOT / "tools"
SCOPE = "read"
APP_SCOPE = "Per/%s>Org/%s.zaikio.machines.rw" % (PERSON_ID, ORG_ID)
BENCH_MODULES = ("bench_device", "bench_naive", "bench_lib")
_WINDOW, _WINDOW_STEP = 2048, 256  # a min heap must hold for every size this far above it
# sys.path as on a board: the current directory, then frozen modules, then /lib
_PATH = ".:.frozen:lib"
_STATE = "oauthcc_state.json"  # where the app keeps its state on the unix port (no RTC memory)


class Port:
    """A micropython binary, the mpy-cross for it, and `out`, where the .mpy it runs go.

    frozen: the binary has the library and the app frozen in (manifest.py), so only the
    bench's own modules are compiled; romfs: it has a ROMFS image of them frozen in, which
    bench_romfs mounts at /rom before each run (bench_build.py); otherwise the library goes
    to out/lib/oauthcc/ and the app to out/, as `make deploy` lays them out on a board, as .mpy
    or, source, as the .py that `mip install github:...` puts there (compiled at each import).
    """

    def __init__(self, name, micropython, mpy_cross, out, mpy_args=(), frozen=False,
                 romfs=False, source=False):
        self.name = name
        self.micropython = micropython
        self.mpy_cross = mpy_cross
        self.out = out
        self.mpy_args = tuple(mpy_args)
        self.frozen = frozen
        self.romfs = romfs
        self.source = source

    def image_files(self):
        """What goes into a ROMFS image, {board path: .mpy}: the library and the app, compiled
        as for a board after deploy (this mpy-cross and options), beside out."""
        d = self.out.parent / (self.out.name + "-image")
        shutil.rmtree(d, ignore_errors=True)
        files = {"lib/oauthcc/" + f.name: f
                 for f in build_library(d, self.mpy_args, self.mpy_cross).values()}
        files.update((f.name, f) for f in build_app(d, self.mpy_cross).values())
        return files

    def argv(self, args):
        """The command line of a run: with a ROMFS, bench_romfs first mounts it, then imports
        the module (`-m bench_device ...`, or main.py as `main`)."""
        if not self.romfs:
            return list(args)
        rest = args[1:] if args[0] == "-m" else [args[0][:-3]] + args[1:]  # main.py: main
        return ["-m", "bench_romfs"] + list(rest)

    def build(self):
        """Compile the library (with mpy_args), the app and the bench scripts to .mpy, after
        checking that the binary loads what this mpy-cross writes (and, frozen, that it has
        what it must have frozen). {library module: .mpy bytes}, {} when frozen or source."""
        shutil.rmtree(self.out, ignore_errors=True)
        lib = {}
        if self.romfs:
            lib = {Path(p).stem: f for p, f in self.image_files().items()
                   if p.startswith("lib/")}
        elif self.source:
            (self.out / "lib" / "oauthcc").mkdir(parents=True)
            for f in LIBRARY.glob("*.py"):
                shutil.copy(f, self.out / "lib" / "oauthcc" / f.name)
            for m in app_modules():
                shutil.copy(DEVICE / (m + ".py"), self.out / (m + ".py"))
        elif not self.frozen:
            lib = build_library(self.out, self.mpy_args, self.mpy_cross)
            build_app(self.out, self.mpy_cross)
        for name in BENCH_MODULES:
            mpy_cross(TOOLS / (name + ".py"), self.out / (name + ".mpy"), name + ".py",
                      exe=self.mpy_cross)
        shutil.copy(ROOT / "main.py", self.out / "main.py")  # a board runs it as source
        loads = loads_mpy(self.micropython)
        version, _ = header = mpy_header(self.out / "bench_device.mpy")
        check_mpy(loads, header, "the unix port")
        self.mpy_version = "v%d bytecode (port: v%d.%d)" % (version, loads & 0xFF,
                                                             (loads >> 8) & 3)
        if self.frozen:
            p = subprocess.run([self.micropython, "-c", "import oauthcc, app, requests"],
                               capture_output=True, text=True, cwd=str(self.out), timeout=30,
                               env=dict(os.environ, MICROPYPATH=".frozen"))
            if p.returncode:
                raise ToolchainError("%s has not frozen oauthcc, app and requests: %s"
                                     % (self.micropython, p.stderr.strip()[-300:]))
        if self.romfs:
            p = subprocess.run([self.micropython, "-c", "import bench_romfs, oauthcc, app, "
                                "requests; print(oauthcc.__file__, app.__file__)"],
                               capture_output=True, text=True, cwd=str(self.out), timeout=30,
                               env=dict(os.environ, MICROPYPATH=".frozen"))
            if p.stdout.split() != ["/rom/lib/oauthcc/__init__.mpy", "/rom/app.mpy"]:
                raise ToolchainError("%s has no ROMFS image of oauthcc and app: %s"
                                     % (self.micropython, (p.stdout + p.stderr)[-300:]))
        return {name: p.stat().st_size for name, p in lib.items()}

    def runtime(self):
        p = subprocess.run([self.micropython, "-c", "import sys; print(64 if sys.maxsize > "
                            "1 << 32 else 32, sys.implementation.version, sys.version)"],
                           capture_output=True, text=True, check=True)
        bits, _, version = p.stdout.strip().partition(" ")
        return "MicroPython unix port, %s-bit, version %s" % (bits, version)


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
    """Runs bench_device.py, or the device app, on a Port against the stubs; the HTTPS one is
    verified with ca_file (copied beside the runs, as ca.der)."""

    def __init__(self, port, stubs, ca_file, timeout=120):
        self.port = port
        self.stubs = stubs  # scheme -> StubServer
        shutil.copy(ca_file, port.out / "ca.der")
        self.timeout = timeout
        self.runs = 0

    def _process(self, args, heap, on_line=None):
        """(returncode, output, cpu seconds) of micropython -X heapsize=heap args, in out;
        on_line(line) sees each line of its stdout as it comes (the process's timing)."""
        env = dict(os.environ, MICROPYPATH=_PATH)
        cmd = [self.port.micropython, "-X", "heapsize=%d" % heap] + self.port.argv(args)
        kw = dict(env=env, cwd=str(self.port.out), stdin=subprocess.DEVNULL, text=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        if on_line is None:
            try:
                p = subprocess.run(cmd, capture_output=True, timeout=self.timeout, **kw)
            except subprocess.TimeoutExpired:
                return None, "", 0.0
            rc, out = p.returncode, p.stdout + p.stderr
        else:
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)
            timer = threading.Timer(self.timeout, p.kill)
            timer.start()
            lines = []
            for line in p.stdout:
                lines.append(line)
                if on_line(line):  # the run has failed: no need to wait for its end
                    p.kill()
            rc = p.wait()
            timer.cancel()
            out = "".join(lines)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.runs += 1
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        return rc, out, cpu

    def run(self, mode, scheme, heap, cycles=1, report=False, refresh=False, base=None):
        """(ok, figures or None, cpu seconds) of one bench_device process. base: the server's
        URL when not the stub's own (a relay in front of it)."""
        stub = self.stubs[scheme]
        stub.reset({"profile": "generic", "refresh": refresh})
        if refresh:  # the first API call is answered 401: one renewal (refresh grant), one retry
            stub.faults({"kind": "status", "status": 401, "path": "/api/"})
        # paths relative to out, the cwd: they are strings in the heap, and the figures must
        # not depend on where the checkout is
        rc, out, cpu = self._process(
            ["-m", "bench_device", "lib" if mode.startswith("lib") else "naive",
             base or stub.url, SCOPE, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET,
             "ca.der" if scheme == "https" else "-", str(cycles), "1" if report else "0"], heap)
        ok = rc == 0 and "OK" in out.split()
        figures = None
        for line in out.splitlines():
            if line.startswith("BENCH "):
                figures = dict(json.loads(line[6:]), **(figures or {}))
            elif line.startswith("MODULES "):
                figures = dict(figures or {}, modules=line.split()[1:])
        if report and not ok:
            raise SystemExit("%s over %s on %s failed at heap %d:\n%s"
                             % (mode, scheme, self.port.name, heap, out[-3000:]))
        if ok:
            grants = [e.get("grant_type") for e in stub.log if e["path"].endswith("token")]
            figures = dict(figures or {}, token_requests=len(grants))
            if refresh:
                figures["grants"] = grants
        return ok, figures, cpu

    def app_config(self, base, cycles, interval=0):
        """config.json of the bench's app: Zaikio profile, a person token with roles (so a
        renewal cycle is token + role order + API call), HTTPS verified with ca.der."""
        return {"profile": "zaikio", "base_url": base, "scope": [APP_SCOPE],
                "api_url": base + "/api/v1/resource", "ca": "ca.der", "interval": interval,
                "cycles": cycles, "repl_window": 0}

    def run_app(self, heap, cycles=1, base=None, fresh=True, cycle_done=None):
        """(ok, output) of the device app (main.py, as a board boots) for `cycles` cycles
        against the HTTPS stub in the Zaikio profile. fresh: no saved state, a first boot
        (the stub reset); else the state the last run left, and the stub's tokens (a wake from
        deep sleep). cycle_done(): called as each cycle's API call is reported, with a second
        between cycles. ok: it exited normally, every cycle called the API and got 200, and
        no error was printed or remembered."""
        stub = self.stubs["https"]
        out = self.port.out
        state = out / _STATE
        if fresh:
            stub.reset({"profile": "zaikio"})
            if state.exists():
                state.unlink()
        seen = len(stub.log)
        config = self.app_config(base or stub.url, cycles, 1 if cycle_done else 0)
        (out / "config.json").write_text(json.dumps(config))
        (out / "secrets.json").write_text(json.dumps(
            {"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}))
        def on_line(line):
            if cycle_done and "/api/v1/resource -> " in line:
                cycle_done()
            # a boot that failed (a heap too small for it) waits a minute to try again: the
            # run has failed ("Error" in its output), so it ends here, not at the timeout
            return "not started" in line

        rc, text, _ = self._process(["main.py"], heap, on_line)
        remembered = state.read_text() if state.exists() else ""
        api = [e for e in stub.log[seen:] if e["path"] == "/api/v1/resource"]
        ok = (rc == 0 and text.count("/api/v1/resource -> 200") == cycles
              and len(api) == cycles and all(e.get("status") == 200 for e in api)
              and not any(w in text + remembered for w in ("Error", "Traceback", "failed")))
        return ok, text

    def min_heap(self, mode, scheme, step, hi=512 * 1024, refresh=False, cycles=1):
        """The smallest -X heapsize (to `step` bytes) with which the import and `cycles`
        cycles complete (cycles=0: the import alone), and every size up to 2 KB above it too."""
        return bisect(lambda heap: self.run(mode, scheme, heap, cycles, refresh=refresh)[0],
                      step, hi, "%s over %s on %s" % (mode, scheme, self.port.name))

    def app_min_heap(self, step, hi=512 * 1024):
        """The same for the whole device app, one renewal cycle over HTTPS from a first boot."""
        return bisect(lambda heap: self.run_app(heap)[0], step, hi,
                      "the app on %s" % self.port.name)


def bisect(ok, step, hi, what):
    """The smallest heap (to `step` bytes) for which ok(heap) holds, and for every size up to
    2 KB above it too.

    Near the limit the outcome is not monotonic in the heap size (where objects land
    decides whether a block fits), so a plain bisection can stop on a lucky size.
    """
    top = hi
    if not ok(top):
        raise SystemExit("%s fails even with a %d-byte heap" % (what, top))
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
    raise SystemExit("%s: no stable minimum heap" % what)
