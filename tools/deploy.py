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
- --romfs, on a board whose MicroPython (1.25+) has a ROMFS partition, puts the library and
  the app modules into it instead (romfs_image.py, `mpremote romfs deploy`): they run in place,
  without their bytecode in RAM (docs/installing.md). /rom and /rom/lib come before /lib on
  sys.path, so deploy then removes the copies in /lib/oauthcc/ and the app's .mpy in /, and
  writes the partition only when its image changed; main.py, boot.py, config.json,
  secrets.json and the CA stay files. Once the ROMFS holds oauthcc, a deploy without the
  option updates it there (a copy in /lib would be shadowed); --no-romfs goes back to the
  filesystem and erases them from the partition. A board with a ROMFS and no oauthcc in it
  gets a hint;
- the modules it replaced are dropped from sys.modules on the board, so --run (or an import at
  the REPL) loads the new ones, never a copy kept from before the deploy, nor one that ran in
  place from a partition since rewritten;
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

import romfs_image
import toolchain
from toolchain import ROOT, ToolchainError

TOP_FILES = ("boot.py", "main.py")
BUILD = ROOT / "build" / "deploy"

# Runs on the board: the .mpy version it imports, and the size of its ROMFS partition (None:
# no ROMFS), found as `mpremote romfs query` finds it.
_INFO = """
import sys
r = None
try:
    import vfs
    if vfs.rom_ioctl(1) > 0:
        d = vfs.rom_ioctl(2, 0)
        r = d.ioctl(4, 0) * d.ioctl(5, 0) if hasattr(d, "ioctl") else len(d)
except (ImportError, AttributeError, OSError, TypeError):
    pass
print("DEPLOY-INFO", getattr(sys.implementation, "_mpy", 0), r)
"""

# Runs on the board: hashes of the files we may copy, what /lib/oauthcc holds, what the ROMFS
# image holds (read from the partition, mounted or not) and the hash of as many of its first
# bytes as the image deploy would write has.
_STATE = """
import os, sys, json, hashlib, binascii
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
def _rom(n):
    # None, None: no ROMFS, no partition 0 (an int), or no image in it (VfsRom refuses it)
    try:
        import vfs
        d = vfs.rom_ioctl(2, 0)
        h = binascii.hexlify(hashlib.sha256(memoryview(d)[:n]).digest()).decode()
        r = vfs.VfsRom(d)
        top = [e[0] for e in r.ilistdir("/")]
        return {"top": top, "lib": [e[0] for e in r.ilistdir("/lib")] if "lib" in top else []}, h
    except Exception:
        return None, None
_r = _rom(%d)
print("DEPLOY-STATE " + json.dumps({"hash": {p: _h(p) for p in %s}, "lib": _ls("lib/oauthcc"),
      "top": _ls(""), "libdir": _ls("lib"), "rom": _r[0], "romhash": _r[1],
      "ran_rom": any(str(getattr(m, "__file__", "")).startswith("/rom/")
                     for m in sys.modules.values())}))
"""

# Runs on the board: forget the modules deploy replaces (the next import loads them afresh),
# mount a ROMFS image just written (mpremote leaves it unmounted) with /rom and /rom/lib after
# .frozen, as the firmware does at boot; remove stale files (a folder recursively), make folders.
_PREPARE = """
import os, sys
for k in [k for k in sys.modules if k.split(".")[0] in %s]:
    del sys.modules[k]
if %r:
    import vfs
    try:
        vfs.mount(vfs.VfsRom(vfs.rom_ioctl(2, 0)), "/rom")
    except OSError:
        pass
    i = sys.path.index(".frozen") + 1 if ".frozen" in sys.path else 1
    for p in ("/rom/lib", "/rom"):
        if p not in sys.path:
            sys.path.insert(i, p)
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
for p in %s:
    _rm(p)
for d in %s:
    try:
        os.mkdir(d)
    except OSError:
        pass
"""

_SET_CLOCK = """
try:
    import machine
    machine.RTC().datetime(%r)
    print("clock set (UTC)")
except (ImportError, AttributeError):
    print("no RTC on this board: clock not set")
"""


NO_ROMFS = ("--romfs: this board reports no ROMFS partition (`mpremote romfs query`): it needs "
            "MicroPython 1.25+ built with one, see docs/installing.md")


class DeployError(Exception):
    pass


class Board:
    """mpremote on one port, always `resume` (no soft reset)."""

    def __init__(self, port, timeout=60):
        self.port = port
        self.timeout = timeout

    def run(self, *args, check=True):
        cmd = [toolchain.find("mpremote"), "connect", self.port, "resume"] + list(args)
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
    files = {"lib/oauthcc/" + p.name: p for p in toolchain.build_library(out).values()}
    files.update((p.name, p) for p in toolchain.build_app(out).values())
    for name in TOP_FILES:
        files[name] = ROOT / name
    return files


def config_files(config, secrets, ca=None):
    """{board path: local path} for config.json, secrets.json and the files config.json names
    (the CA, the client certificate and key). DeployError for a file that is missing, not
    JSON, or not what the schema says."""
    config, secrets = Path(config), Path(secrets)
    s = toolchain.settings()
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


def stale(state, files, image=()):
    """Board paths to remove: stale library copies, .py files that shadow an .mpy and, with a
    ROMFS image (its board paths), the copies of what it holds: in / they would shadow it
    ("" comes first on sys.path), in /lib/oauthcc/ they are duplicates (/rom/lib comes first)."""
    out = []
    if state.get("top") and "oauthcc" in state["top"]:
        out.append("oauthcc")  # a copy in / would be imported before /lib/oauthcc
    for n in state.get("libdir") or []:
        if n in ("oauthcc.py", "oauthcc.mpy"):
            out.append("lib/" + n)
    wanted = {p.split("/")[-1] for p in files if p.startswith("lib/oauthcc/")}
    if image and state.get("lib") is not None:
        out.append("lib/oauthcc")
    for n in [] if image else state.get("lib") or []:
        if n not in wanted:
            out.append("lib/oauthcc/" + n)  # a renamed module, or a .py shadowing the .mpy
    for n in state.get("top") or []:
        mpy = n[:-3] + ".mpy" if n.endswith(".py") else n
        if (n.endswith(".py") and mpy in files) or mpy in image:
            out.append(n)
    return out


def utc_datetime(t=None):
    tm = time.gmtime(time.time() if t is None else t)
    return (tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_wday, tm.tm_hour, tm.tm_min, tm.tm_sec, 0)


def board_info(b):
    """(the .mpy version the board imports, 0 if unknown; its ROMFS partition's size or None)."""
    out = b.exec(_INFO)
    if "DEPLOY-INFO " not in out:
        raise DeployError("unexpected answer from the board: %s" % out[-400:])
    mpy, size = out.split("DEPLOY-INFO ", 1)[1].split()[:2]
    return int(mpy), None if size == "None" else int(size)


def where(romfs, rom_size, rom, app, image_size):
    """(in_rom, ours, note): whether the library and app go into the ROMFS partition, whether
    it holds them now, and what to tell the user (or None). romfs: --romfs (True), --no-romfs
    (False) or neither (None); rom_size: the partition's size, None without one; rom: what its
    image holds ({"top": [...], "lib": [...]}, None: no valid image); app: the app's .mpy
    names. DeployError when the image does not fit, or would replace what deploy did not put
    there."""
    if romfs and rom_size is None:
        raise DeployError(NO_ROMFS)
    ours = bool(rom) and ("oauthcc" in rom["lib"] or bool(set(app) & set(rom["top"])))
    note = None
    if romfs is None and ours:
        note = ("the board runs oauthcc from its ROMFS (an earlier --romfs): the image is "
                "updated there (--no-romfs: back to /lib)")
    elif romfs is None and rom_size:
        note = ("hint: this board has a ROMFS partition (%d bytes): --romfs puts oauthcc and the"
                " app there, to run in place without their bytecode in RAM (docs/installing.md)"
                % rom_size)
    in_rom = bool(romfs or (romfs is None and ours))
    if in_rom and image_size > rom_size:
        raise DeployError("the ROMFS image (%d bytes) does not fit the board's partition (%d "
                          "bytes): deploy with --no-romfs" % (image_size, rom_size))
    if in_rom and rom and (rom["top"] or rom["lib"]) and not ours:
        raise DeployError("the board's ROMFS holds %s, which the image would replace: erase "
                          "it first if you do not need it (docs/installing.md)"
                          % ", ".join(sorted(rom["top"] + ["lib/" + n for n in rom["lib"]])))
    return in_rom, ours, note


RESET_NEEDED = ("reset the board before running anything (`mpremote connect PORT reset`, the EN "
                "button, or restart the virtual board): it ran oauthcc from the ROMFS image just "
                "replaced, and what it loaded from there points into it")


def write_romfs(b, image, out=BUILD):
    """Write image to the board's ROMFS partition with `mpremote romfs deploy` (which erases
    it first, and leaves /rom unmounted until _PREPARE or a reset mounts it)."""
    path = out / "oauthcc.romfs"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(image)
    b.run("romfs", "deploy", str(path))


def deploy(port, config, secrets, ca=None, set_clock=False, log=print, timeout=60, romfs=None):
    """Deploy; returns {"copied": [...], "removed": [...], "bytes": n, "mpy_bytes": n,
    "romfs": None, or what happened to the ROMFS image: "written", "unchanged", "erased"}.

    romfs: True puts the library and the app modules into the board's ROMFS partition, False
    into the filesystem (erasing them from a ROMFS that holds them); None keeps them where the
    board has them: in the ROMFS when it holds oauthcc, else in the filesystem."""
    files = config_files(config, secrets, ca)  # refused here, the board untouched
    files.update(compile_all())
    app = {m + ".mpy" for m in toolchain.app_modules()}
    image_files = {p: f for p, f in files.items() if p.startswith("lib/oauthcc/") or p in app}
    mpy_bytes = sum(f.stat().st_size for f in image_files.values())
    b = Board(port, timeout)
    mpy, rom_size = board_info(b)
    toolchain.check_mpy(mpy, toolchain.mpy_header(files["lib/oauthcc/client.mpy"]))
    if romfs and rom_size is None:
        raise DeployError(NO_ROMFS)
    image = romfs_image.build(image_files) if rom_size else b""
    out = b.exec(_STATE % (len(image), json.dumps(sorted(files))))
    if "DEPLOY-STATE " not in out:
        raise DeployError("unexpected answer from the board: %s" % out[-400:])
    state = json.loads(out.split("DEPLOY-STATE ", 1)[1].splitlines()[0])
    in_rom, ours, note = where(romfs, rom_size, state.get("rom"), app, len(image))
    if note:
        log(note)
    if in_rom:
        files = {p: f for p, f in files.items() if p not in image_files}
    remove = stale(state, files, set(image_files) if in_rom else ())
    copy = [p for p in sorted(files) if state["hash"].get(p) != sha256(files[p])]
    written = None
    if in_rom:  # the image first: until it is whole, the board still has /lib/oauthcc
        written = "unchanged"
        if state.get("romhash") != hashlib.sha256(image).hexdigest():
            write_romfs(b, image)
            written = "written"
    dirs = sorted({p[:i] for p in copy for i in range(len(p)) if p[i] == "/"})
    b.exec(_PREPARE % (json.dumps(["oauthcc"] + [m[:-4] for m in sorted(app)]),
                       written == "written", json.dumps(remove), json.dumps(dirs)))
    args = []
    for p in copy:
        args += ["fs", "cp", str(files[p]), ":" + p, "+"]
    if args:
        b.run(*args[:-1])
    if romfs is False and ours:  # after the copies: until they are there, the image serves
        write_romfs(b, romfs_image.empty())
        written = "erased"
    if set_clock:
        log(b.exec(_SET_CLOCK % (utc_datetime(),)).strip())
    for p in remove:
        log("removed /" + p)
    for p in copy:
        log("copied /%s (%d bytes)" % (p, files[p].stat().st_size))
    if written == "erased":
        log("ROMFS image erased: oauthcc and the app run from the filesystem")
    elif written:
        log("ROMFS image %s: %d bytes, %d files, in a %d-byte partition"
            % (written, len(image), len(image_files), rom_size))
    # Code run in place keeps pointing into the image (its strings are interned from it): once
    # the image is rewritten or erased, nothing may run on the board until it is reset.
    reset = bool(written in ("written", "erased") and state.get("ran_rom"))
    if reset:
        log(RESET_NEEDED)
    log("%d of %d files copied, %d stale removed; .mpy total %d bytes"
        % (len(copy), len(files), len(remove), mpy_bytes))
    return {"copied": copy, "removed": remove, "mpy_bytes": mpy_bytes, "romfs": written,
            "bytes": sum(files[p].stat().st_size for p in copy), "reset": reset}


def run_main(port, timeout=None):
    """Run main.py on the board and stream its output. Ctrl-C (or the timeout) stops it on the
    board too and leaves the board at its REPL (mpremote alone would leave the loop running)."""
    cmd = [toolchain.find("mpremote"), "connect", port, "resume", "exec",
           "exec(open('main.py').read())"]
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
    ap.add_argument("--romfs", action=argparse.BooleanOptionalAction, default=None,
                    help="the library and app in the board's ROMFS partition (MicroPython "
                    "1.25+), run in place; --no-romfs: in the filesystem, erased from the "
                    "ROMFS; default: where the board has them")
    ap.add_argument("--set-clock", action="store_true", help="set the board's RTC to UTC")
    ap.add_argument("--run", action="store_true", help="run main.py afterwards")
    ap.add_argument("--timeout", type=int, default=60, help="seconds per mpremote step")
    args = ap.parse_args(argv)
    start = time.monotonic()
    try:
        r = deploy(args.port, args.config, args.secrets, args.ca, args.set_clock,
                   timeout=args.timeout, romfs=args.romfs)
    except (DeployError, ToolchainError) as e:
        print("deploy: %s" % e, file=sys.stderr)
        return 1
    print("deployed in %.1f s" % (time.monotonic() - start))
    if args.run and r["reset"]:
        print("deploy: --run skipped: " + RESET_NEEDED, file=sys.stderr)
        return 1
    if args.run:
        return run_main(args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
