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
    exe = os.environ.get("MICROPYTHON")
    beside = Path(sys.executable).parent / "micropython"  # the venv pytest runs from
    if not exe and beside.exists():
        exe = str(beside)
    return exe or shutil.which("micropython")


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


def pytest_sessionfinish(session):
    if _stub is not None:
        _stub.stop()


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
                                             needs_stub=getattr(mod, "NEEDS_STUB", False))


class MicroPythonFailure(Exception):
    pass


class DeviceItem(pytest.Item):
    def __init__(self, *, func, runtime, needs_stub, **kw):
        super().__init__(**kw)
        self.func = func
        self.needs_stub = needs_stub
        self.runtime = runtime
        self.add_marker(getattr(pytest.mark, runtime))

    def runtest(self):
        if self.needs_stub:
            stub_server()
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
        # show the test's own frames, not pytest's machinery
        tb = excinfo.traceback.filter(lambda e: str(e.path).startswith(str(ROOT))
                                      and Path(str(e.path)).name != "conftest.py")
        excinfo.traceback = tb or excinfo.traceback
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, "%s::%s" % (self.path.name, self.name)
