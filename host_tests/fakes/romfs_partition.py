# Fake of a board's ROMFS partition, for the virtual board only (tools/virtual_board.py
# --romfs). The unix port has vfs.VfsRom but no vfs.rom_ioctl (MICROPY_VFS_ROM_IOCTL is 0), so
# `mpremote romfs` and deploy see no ROMFS there. boot() does what a board's firmware does at
# start-up: it puts this module in sys.modules["vfs"] (the real one's names, plus rom_ioctl),
# mounts a valid image at /rom and puts /rom and /rom/lib after .frozen on sys.path. The
# partition is a bytearray kept in a file beside the board's flash, so it survives a restart.
# rom_ioctl answers as on stm32 (a memoryview, no block size): 1 partition count, 2 the
# partition, 3 erase, 4 write, 5 done (saves the file); an error is a negative errno.
import sys

import vfs as _vfs

for _k in dir(_vfs):
    if not _k.startswith("__"):
        globals()[_k] = getattr(_vfs, _k)

_EINVAL = -22
_part = None
_file = None


def _save():
    with open(_file, "wb") as f:
        f.write(_part)


def rom_ioctl(cmd, rom_id=0, *args):
    if cmd == 1:
        return 1
    if rom_id != 0:
        return _EINVAL
    if cmd == 2:
        return memoryview(_part)
    if cmd == 3 and len(args) == 1 and 0 <= args[0] <= len(_part):  # erase the first n bytes
        for i in range(0, args[0], 4096):
            n = min(4096, args[0] - i)
            _part[i:i + n] = b"\xff" * n
        return 4  # the smallest write
    if cmd == 4 and len(args) == 2 and 0 <= args[0] and args[0] + len(args[1]) <= len(_part):
        _part[args[0]:args[0] + len(args[1])] = args[1]
        return 0
    if cmd == 5:
        _save()
        return 0
    return _EINVAL


def mount_rom():
    """Mount the partition at /rom, as the firmware does at boot; False when it holds no
    valid image (erased flash)."""
    try:
        _vfs.mount(_vfs.VfsRom(memoryview(_part)), "/rom")
    except OSError:
        return False
    i = sys.path.index(".frozen") + 1 if ".frozen" in sys.path else 1
    for p in ("/rom/lib", "/rom"):
        if p not in sys.path:
            sys.path.insert(i, p)
    return True


def boot(path, size):
    global _part, _file
    _file = path
    _part = bytearray(b"\xff" * size)  # erased flash
    try:
        with open(path, "rb") as f:
            f.readinto(_part)
    except OSError:
        _save()
    sys.modules["vfs"] = sys.modules[__name__]
    mount_rom()
