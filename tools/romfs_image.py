"""The ROMFS image of the library and the app, for `deploy --romfs` and the bench's ROMFS row.

MicroPython 1.25+ mounts a board's ROMFS partition at /rom and puts /rom and /rom/lib on
sys.path after .frozen and before /lib; an .mpy imported from there runs in place: its
bytecode and constants are not copied into the GC heap. The image lays the files out as
deploy does on the filesystem: the library in lib/oauthcc/, the app modules at the top. It is
built with mpremote's own builder (`mpremote romfs build`), from .mpy compiled by the caller,
so the .mpy version is the one checked against the board. Stdlib, and mpremote from the venv.
"""
import contextlib
import io
import shutil
import tempfile
from pathlib import Path

from toolchain import venv_module

HEADER = b"\xd2\xcd\x31"  # what every ROMFS image starts with (mpremote's VfsRomWriter)


def build(files):
    """The image (bytes) holding files, {board path: local path}, nothing else: a fresh copy
    in a temporary directory, so a stale .mpy beside them cannot slip in."""
    make_romfs = venv_module("mpremote.romfs").make_romfs
    with tempfile.TemporaryDirectory() as d:
        for path, local in files.items():
            (Path(d) / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(local, Path(d) / path)
        with contextlib.redirect_stdout(io.StringIO()):  # its tree of the files, not ours
            return bytes(make_romfs(d, mpy_cross=False))


def empty():
    """A valid image with nothing in it: writing it erases what a partition held."""
    return build({})
