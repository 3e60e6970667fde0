"""The 32-bit MicroPython builds `make bench` measures besides the venv's 64-bit binary: the
standard unix variant (the library then loads as .mpy, as on a board after deploy), the same
with this project's manifest.py frozen in (custom firmware), and the same with a ROMFS image
of the library and the app frozen in as a bytes constant (tools/bench_romfs.py mounts it at
/rom: a board's ROMFS partition after `deploy --romfs`, stock firmware of 1.25+).

They are built on demand with the shared build-micropython script (MicroPython's source,
offline; see issue 15) and cached in build/firmware/<kind>-<key>/, the key a hash of the
script, the source tarball and what is frozen (every file manifest.py names; the ROMFS image
and its boot): a change to any of them rebuilds. A measuring tool only: nothing the project
ships, and nothing `make test` needs, depends on it. Standard library only (and, for the
ROMFS image, mpremote's builder from the venv).
"""
import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

from toolchain import MANIFEST, ROOT, manifest

SCRIPT_ENV = "OAUTHCC_BUILD_MICROPYTHON"
SCRIPT = Path("shared") / "scripts" / "build-micropython"
HOWTO = ("need MicroPython's source and the build script of issue 15: shared/scripts/"
         "build-micropython in a directory above this checkout (../shared/), or "
         "--build-script PATH, or $%s" % SCRIPT_ENV)
# The standard variant's own frozen modules (asyncio, ssl, mip and its requests) stay, so the
# naive snippet's requests is frozen as on every board's stock firmware.
STANDARD = 'include("$(PORT_DIR)/variants/standard/manifest.py")\n'


class Unavailable(Exception):
    """No 32-bit build: the text says why and how to get one."""


def find_script(given=None):
    """The build script: given, else $OAUTHCC_BUILD_MICROPYTHON, else shared/scripts/ in the
    nearest directory above the checkout that has one. Unavailable when there is none or
    its source tarball is missing."""
    given = given or os.environ.get(SCRIPT_ENV)
    if given:
        script = Path(given).resolve()
        if not script.is_file():
            raise Unavailable("no build script at %s: 32-bit rows %s" % (given, HOWTO))
    else:
        script = next((d / SCRIPT for d in ROOT.parents if (d / SCRIPT).is_file()), None)
        if script is None:
            raise Unavailable("not measured: 32-bit rows " + HOWTO)
    tarballs = sorted((script.parent.parent / "micropython").glob("micropython-*-src.tar.xz"))
    if not tarballs:
        raise Unavailable("%s has no MicroPython source beside it (../micropython/"
                          "micropython-*-src.tar.xz): 32-bit rows %s" % (script, HOWTO))
    return script, tarballs[-1]


ROMFS_BOOT = Path(__file__).resolve().parent / "bench_romfs.py"


def frozen_manifest():
    """The manifest the frozen build freezes: the standard variant's, then this project's."""
    return STANDARD + "include(%r)\n" % str(MANIFEST)


def romfs_boot(image):
    """bench_romfs.py with image as its IMAGE: what the ROMFS build freezes besides the
    standard variant's modules."""
    return ROMFS_BOOT.read_text().replace('IMAGE = b""', "IMAGE = %r" % image, 1)


def _frozen_files():
    packages, modules = manifest()
    files = [p for d in packages for p in sorted(d.rglob("*.py"))] + modules
    return [MANIFEST] + files


def key(script, tarball, frozen, image=None):
    """What the binary depends on, hashed: the script, the source, what is frozen (image: the
    ROMFS build's image)."""
    h = hashlib.sha256()
    for p in (script, tarball) + (tuple(_frozen_files()) if frozen else ()):
        h.update(str(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p.name).encode())
        h.update(hashlib.sha256(p.read_bytes()).digest())
    if frozen:
        h.update(frozen_manifest().encode())
    if image is not None:
        h.update(hashlib.sha256(romfs_boot(image).encode()).digest())
    return h.hexdigest()[:12]


def build(kind, script, tarball, cache, log, image=None):
    """(directory with micropython and mpy-cross, seconds spent building: 0 when cached).
    kind: "32-mpy" (the standard variant), "32-frozen" (with manifest.py) or "32-romfs" (with
    image, a ROMFS image, and its boot). Raises Unavailable when the build fails, naming its
    log."""
    frozen = kind == "32-frozen"
    cache = Path(cache)
    out = cache / ("%s-%s" % (kind, key(script, tarball, frozen, image)))
    if (out / "micropython").is_file() and (out / "mpy-cross").is_file():
        return out, 0.0
    cache.mkdir(parents=True, exist_ok=True)
    for old in cache.glob(kind + "-*"):  # builds of an older key: never used again
        shutil.rmtree(old, ignore_errors=True)
    cmd = [str(script), "--32"]
    if frozen:
        # a fixed path: the script keys its own build tree by it, so a rebuild is incremental
        m = cache / "frozen_manifest.py"
        m.write_text(frozen_manifest())
        cmd += ["--frozen", str(m)]
    elif image is not None:  # fixed paths too; the boot module is generated there
        (cache / "romfs").mkdir(exist_ok=True)
        (cache / "romfs" / ROMFS_BOOT.name).write_text(romfs_boot(image))
        m = cache / "romfs_manifest.py"
        m.write_text(STANDARD + "module(%r, base_path=%r)\n" % (ROMFS_BOOT.name,
                                                                 str(cache / "romfs")))
        cmd += ["--frozen", str(m)]
    tmp = cache / ("%s.partial" % out.name)
    shutil.rmtree(tmp, ignore_errors=True)
    logfile = cache / ("%s.log" % kind)
    log("building the %s MicroPython with %s (about a minute; cached afterwards) ..."
        % (kind, script))
    start = time.monotonic()
    with open(logfile, "w") as f:
        p = subprocess.run(cmd + [str(tmp)], stdout=f, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL)
    took = time.monotonic() - start
    if p.returncode or not (tmp / "micropython").is_file() or not (tmp / "mpy-cross").is_file():
        raise Unavailable("the %s build failed (exit %d): see %s" % (kind, p.returncode, logfile))
    tmp.rename(out)
    log("  built in %.0f s" % took)
    return out, took
