# The boot of the bench's 32-bit ROMFS binary (tools/bench.py), not run by hand: bench_build.py
# freezes it with IMAGE set to the ROMFS image of the library and the app (romfs_image.py). A
# frozen bytes constant stays in the binary's read-only data, outside the GC heap, as a
# board's ROMFS partition stays in flash. Mounted as the firmware mounts a partition at boot
# (/rom, with /rom and /rom/lib after .frozen on sys.path), its .mpy run in place. Then it
# imports the module named after it, with the rest of argv:
#   micropython -X heapsize=N -m bench_romfs <module> [args...]
import sys

import vfs

IMAGE = b""  # replaced by the image when frozen

vfs.mount(vfs.VfsRom(IMAGE), "/rom")
sys.path.insert(sys.path.index(".frozen") + 1, "/rom/lib")
sys.path.insert(sys.path.index(".frozen") + 1, "/rom")
if len(sys.argv) > 1:
    sys.argv.pop(0)
    __import__(sys.argv[0])
