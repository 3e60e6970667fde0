# ruff: noqa: F821  (metadata, package, module: given by MicroPython's manifest tool)
# Freeze oauthcc (and, optionally, the device app) into MicroPython firmware: add
#   include("/path/to/this/repo/manifest.py")
# to your board's manifest and build the firmware. Frozen modules load from flash without
# using RAM for their bytecode, and ".frozen" comes before /lib on sys.path.
# This is also the one list of the app modules: tools/deploy.py and tools/typecheck.py read it
# (tools/toolchain.py runs it with package() and module() that only record).
metadata(description="OAuth 2.0 client credentials for MicroPython", version="0.1.0")

package("oauthcc", base_path="device")

# The app modules (main.py stays a file: it imports mainloop; config.json and secrets.json
# stay files too).
module("app.py", base_path="device")
module("aioapp.py", base_path="device")
module("board.py", base_path="device")
module("dateclock.py", base_path="device")
module("mainloop.py", base_path="device")
module("settings.py", base_path="device")
module("state.py", base_path="device")
