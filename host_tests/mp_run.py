# Runs one device test function under the MicroPython unix port and reports the runtime.
# usage: micropython mp_run.py <device-dir> <tests-dir> <module> <function>
import sys

device, tests, modname, fname = sys.argv[1:5]
sys.path.insert(0, tests)
sys.path.insert(0, device)
impl = sys.implementation.name
try:
    mod = __import__(modname)
    getattr(mod, fname)()
except Exception as e:  # noqa: BLE001 - report every failure to pytest
    sys.print_exception(e)
    print("MP-RESULT fail", impl)
    sys.exit(1)
print("MP-RESULT pass", impl)
