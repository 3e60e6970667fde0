"""`make deploy PORT=/dev/ttyUSB0`: put the library, the app and its configuration on a board.

- compiles device/oauthcc/*.py and the app modules with mpy-cross, after checking that the
  .mpy version is one the board imports;
- checks config.json and secrets.json against device/settings.py first: an unknown key or a
  value of the wrong kind is refused before anything touches the board;
- compares SHA-256 hashes on the board and copies only what changed (mpremote, one session):
  /lib/oauthcc/*.mpy, /boot.py, /main.py, the app modules (manifest.py) as .mpy,
  /config.json, /secrets.json and the files the configuration names (the CA, a client
  certificate and key for mutual TLS);
- removes stale copies: /oauthcc/, modules no longer in the library, and every .py that would
  shadow an .mpy (MicroPython imports x.py before x.mpy);
- the modules it replaced are dropped from sys.modules on the board, so --run (or an import at
  the REPL) loads the new ones, never a copy kept from before the deploy;
- --set-clock sets the board's RTC to UTC (`mpremote rtc --set` would write local time);
- --run then runs main.py and shows its output (Ctrl-C stops it on the board as well and
  leaves the board at its REPL).

Works with the virtual board (tools/virtual_board.py): `mpremote ... resume` throughout, as
a soft reset ends the unix port, and files are copied by name (no `cp -r`).
"""
import argparse
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

from toolchain import (
    ROOT,
    ToolchainError,
    app_modules,
    build_app,
    build_library,
    check_mpy,
    find,
    mpy_header,
    settings,
)

TOP_FILES = ("boot.py", "main.py")
BUILD = ROOT / "build" / "deploy"

# Runs on the board: hashes of the files we may copy, and what /lib/oauthcc holds.
_STATE = """
import os, json, hashlib, binascii
def _h(p):
    d = hashlib.sha256()
    try:
        with open(p, "rb") as f:
            while True:
                b = f.read(512)
                if not b:
                    break
                d.update(b)
    except OSError:
        return None
    return binascii.hexlify(d.digest()).decode()
def _ls(p):
    try:
        return os.listdir(p) if p else os.listdir()  # the root: cwd, "/" on a board
    except OSError:
        return None
print("DEPLOY-STATE " + json.dumps({"hash": {p: _h(p) for p in %s}, "lib": _ls("lib/oauthcc"),
      "top": _ls(""), "libdir": _ls("lib")}))
"""

# Runs on the board: forget the modules deploy replaces (the next import loads them afresh),
# make folders, remove stale files (a folder recursively).
_PREPARE = """
import os, sys
for k in [k for k in sys.modules if k.split(".")[0] in %s]:
    del sys.modules[k]
def _rm(p):
    try:
        for n in os.listdir(p):
            _rm(p + "/" + n)
        os.rmdir(p)
    except OSError:
        try:
            os.remove(p)
        except OSError:
            pass
for d in ("lib", "lib/oauthcc"):
    try:
        os.mkdir(d)
    except OSError:
        pass
for p in %s:
    _rm(p)
    print("removed /" + p)
"""

_SET_CLOCK = """
try:
    import machine
    machine.RTC().datetime(%r)
    print("clock set (UTC)")
except (ImportError, AttributeError):
    print("no RTC on this board: clock not set")
"""


class DeployError(Exception):
    pass


class Board:
    """mpremote on one port, always `resume` (no soft reset)."""

    def __init__(self, port, timeout=60):
        self.port = port
        self.timeout = timeout

    def run(self, *args, check=True):
        cmd = [find("mpremote"), "connect", self.port, "resume"] + list(args)
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout,
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise DeployError("mpremote did not finish in %d s on %s (board asleep or busy?)"
                              % (self.timeout, self.port))
        if check and p.returncode != 0:
            raise DeployError("mpremote failed (%d): %s" % (p.returncode,
                                                            (p.stderr or p.stdout)[-800:]))
        return p.stdout

    def exec(self, code):
        return self.run("exec", code)


def compile_all(out=BUILD):
    """{board path: local path} of every file to put on the board, .mpy compiled fresh."""
    files = {"lib/oauthcc/" + p.name: p for p in build_library(out).values()}
    files.update((p.name, p) for p in build_app(out).values())
    for name in TOP_FILES:
        files[name] = ROOT / name
    return files


def config_files(config, secrets, ca=None):
    """{board path: local path} for config.json, secrets.json and the files config.json names
    (the CA, the client certificate and key). DeployError for a file that is missing, not
    JSON, or not what the schema says."""
    config, secrets = Path(config), Path(secrets)
    s = settings()
    checked = {}
    for p, name in ((config, "config.json"), (secrets, "secrets.json")):
        if not p.is_file():
            raise DeployError("%s not found (start from config/examples/)" % p)
        try:
            data = json.loads(p.read_text())
        except ValueError as e:
            raise DeployError("%s is not valid JSON: %s" % (p, e))
        try:
            checked[name] = s.check(data, name)
        except s.ConfigError as e:
            raise DeployError("%s: %s" % (p, e))
    files = {"config.json": config, "secrets.json": secrets}
    for key, kind, _, _ in s.APP + s.CLIENT:
        name = checked["config.json"][key] if kind == "file" else None
        if name:
            local = Path(ca) if ca and key == "ca" else config.parent / name
            if not local.is_file():
                raise DeployError("the %s file named in %s (%s) is not at %s"
                                  % (key.upper(), config, name, local))
            files[name.lstrip("/")] = local
    return files


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def stale(state, files):
    """Board paths to remove: stale library copies and .py files that shadow an .mpy."""
    out = []
    if state.get("top") and "oauthcc" in state["top"]:
        out.append("oauthcc")  # a copy in / would be imported before /lib/oauthcc
    for n in state.get("libdir") or []:
        if n in ("oauthcc.py", "oauthcc.mpy"):
            out.append("lib/" + n)
    wanted = {p.split("/")[-1] for p in files if p.startswith("lib/oauthcc/")}
    for n in state.get("lib") or []:
        if n not in wanted:
            out.append("lib/oauthcc/" + n)  # a renamed module, or a .py shadowing the .mpy
    for n in state.get("top") or []:
        if n.endswith(".py") and n[:-3] + ".mpy" in files:
            out.append(n)
    return out


def utc_datetime(t=None):
    tm = time.gmtime(time.time() if t is None else t)
    return (tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_wday, tm.tm_hour, tm.tm_min, tm.tm_sec, 0)


def deploy(port, config, secrets, ca=None, set_clock=False, log=print, timeout=60):
    """Deploy; returns {"copied": [...], "removed": [...], "bytes": n, "mpy_bytes": n}."""
    files = config_files(config, secrets, ca)  # refused here, the board untouched
    files.update(compile_all())
    b = Board(port, timeout)
    impl = b.exec("import sys; print('MPY', getattr(sys.implementation, '_mpy', 0))")
    mpy = int(impl.split("MPY", 1)[1].split()[0]) if "MPY" in impl else 0
    check_mpy(mpy, mpy_header(files["lib/oauthcc/client.mpy"]))
    out = b.exec(_STATE % json.dumps(sorted(files)))
    if "DEPLOY-STATE " not in out:
        raise DeployError("unexpected answer from the board: %s" % out[-400:])
    state = json.loads(out.split("DEPLOY-STATE ", 1)[1].splitlines()[0])
    remove = stale(state, files)
    b.exec(_PREPARE % (json.dumps(["oauthcc"] + app_modules()), json.dumps(remove)))
    copy = [p for p in sorted(files) if state["hash"].get(p) != sha256(files[p])]
    args = []
    for p in copy:
        args += ["fs", "cp", str(files[p]), ":" + p, "+"]
    if args:
        b.run(*args[:-1])
    if set_clock:
        log(b.exec(_SET_CLOCK % (utc_datetime(),)).strip())
    for p in remove:
        log("removed /" + p)
    for p in copy:
        log("copied /%s (%d bytes)" % (p, files[p].stat().st_size))
    mpy_bytes = sum(f.stat().st_size for p, f in files.items() if p.endswith(".mpy"))
    log("%d of %d files copied, %d stale removed; .mpy total %d bytes"
        % (len(copy), len(files), len(remove), mpy_bytes))
    return {"copied": copy, "removed": remove, "mpy_bytes": mpy_bytes,
            "bytes": sum(files[p].stat().st_size for p in copy)}


def run_main(port, timeout=None):
    """Run main.py on the board and stream its output. Ctrl-C (or the timeout) stops it on the
    board too and leaves the board at its REPL (mpremote alone would leave the loop running)."""
    cmd = [find("mpremote"), "connect", port, "resume", "exec", "exec(open('main.py').read())"]
    try:
        return subprocess.run(cmd, timeout=timeout).returncode
    except (KeyboardInterrupt, subprocess.TimeoutExpired) as e:
        stopped = isinstance(e, KeyboardInterrupt)
        why = "stopped" if stopped else "did not end in %d s" % timeout
        try:
            Board(port, 15).exec("pass")  # the Ctrl-C that mpremote sends first ends main.py
            print("\nmain.py %s; the board is at its REPL: mpremote connect %s resume repl"
                  % (why, port))
        except DeployError as err:
            print("\nmain.py %s, and may still run on the board: %s" % (why, err),
                  file=sys.stderr)
        return 130 if stopped else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", required=True, help="e.g. /dev/ttyUSB0, or a virtual board's pty")
    ap.add_argument("--config", default="config.json")
    ap.add_argument("--secrets", default="secrets.json")
    ap.add_argument("--ca", help="the CA file, if not next to config.json")
    ap.add_argument("--set-clock", action="store_true", help="set the board's RTC to UTC")
    ap.add_argument("--run", action="store_true", help="run main.py afterwards")
    ap.add_argument("--timeout", type=int, default=60, help="seconds per mpremote step")
    args = ap.parse_args(argv)
    start = time.monotonic()
    try:
        deploy(args.port, args.config, args.secrets, args.ca, args.set_clock,
               timeout=args.timeout)
    except (DeployError, ToolchainError) as e:
        print("deploy: %s" % e, file=sys.stderr)
        return 1
    print("deployed in %.1f s" % (time.monotonic() - start))
    if args.run:
        return run_main(args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
