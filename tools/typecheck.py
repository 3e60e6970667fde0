"""Type-check the device code that uses ESP32 APIs against micropython-esp32-stubs (mypy).

The stubs install machine.pyi, network.pyi, time.pyi, ... at the top of site-packages, where
mypy does not look, and their stdlib beside them: this copies the ESP32 stubs into
build/esp32-stubs for MYPYPATH and uses the stdlib stubs as the typeshed. Errors inside the
stubs themselves are ignored; only the app modules are reported.
"""
import importlib.metadata
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from toolchain import DEVICE, ROOT, app_modules

CONFIG = """[mypy]
python_version = 3.11
follow_imports = silent
check_untyped_defs = True
ignore_errors = True
[mypy-%s]
ignore_errors = False
"""


def stub_dir(out):
    site = Path(sysconfig.get_paths()["purelib"])
    if out.exists():
        shutil.rmtree(out)
    for dist in ("micropython-esp32-stubs", "micropython-stdlib-stubs"):
        for f in importlib.metadata.files(dist) or ():
            if f.suffix == ".pyi" and not str(f).startswith("stdlib/"):
                dst = out / f
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(site / f, dst)
    return site


def main(files=None):
    """Exit status of mypy over the app modules, or over `files` (one folder)."""
    files = ([Path(f).resolve() for f in files] if files
             else [DEVICE / (m + ".py") for m in app_modules()])
    build = ROOT / "build"
    build.mkdir(exist_ok=True)
    site = stub_dir(build / "esp32-stubs")
    ini = build / "mypy-esp32.ini"
    ini.write_text(CONFIG % ",".join(f.stem for f in files))
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(ini), "--custom-typeshed-dir",
           str(site), "--cache-dir", str(build / "mypy-cache")] + [f.name for f in files]
    env = {"MYPYPATH": str(build / "esp32-stubs"), "PATH": "/usr/bin:/bin"}
    return subprocess.run(cmd, cwd=files[0].parent, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
