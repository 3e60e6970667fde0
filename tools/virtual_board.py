"""A virtual board: the MicroPython unix port behind a pseudo-terminal.

`mpremote connect <pty>` and `make deploy PORT=<pty>` talk to it like to an ESP32 over USB:
raw REPL, file copies (into --root, the board's flash), exec. Two ptys joined by a thread:
micropython's terminal, and the one printed for mpremote (whose open/close must not hang up
micropython's side). --fakes puts host_tests/fakes (machine, network, ntptime, esp32) on the
board's path, so board.py sees a Wi-Fi interface, a watchdog and RTC memory. --romfs SIZE gives
it a ROMFS partition (host_tests/fakes/romfs_partition.py, kept in <root>.romfs): the unix port
has none, so without it `mpremote romfs query` says "ROMFS is not enabled", as on most boards.

Like a board's USB REPL, Ctrl-C (0x03) from the host interrupts running code: the unix port
in a pty reads 0x03 as a character, so the bridge sends micropython SIGINT, but only while its
SIGINT handler is installed (code runs with kbd_intr on). At a prompt, and under
kbd_intr(-1) as in `mpremote mount`, the handler is the default one, which would end the
process: there 0x03 is only passed on, as it always is. A second SIGINT before MicroPython took
the first ends it too: a Ctrl-C that comes sooner than HOLD_OFF after a SIGINT waits for the
rest of it (the next mpremote's Ctrl-C must stop the code the last one started), unless the
board prints meanwhile (its code may have ended, and its REPL read 0x03 as a character).
Board output nobody reads is kept up to a limit, then dropped, so an app keeps running with no
mpremote attached.

Unix-port differences: a soft reset ends the process (always use `mpremote ... resume`), and
stat("") fails, so `cp -r` or `cp a b :` into the root fail: mkdir, then copy files by name.
SIGINT needs Linux's /proc (elsewhere 0x03 is only passed on).
"""
import argparse
import os
import pty
import select
import signal
import subprocess
import sys
import threading
import time
import tty
from pathlib import Path

from toolchain import ROOT, find

FAKES = ROOT / "host_tests" / "fakes"
BACKLOG = 16384  # bytes of board output kept while nobody reads the pty, as a UART's buffer
HOLD_OFF = 0.2  # s between SIGINTs: a second one before MicroPython took the first ends it


def sigint_caught(pid):
    """True while the process has a SIGINT handler (/proc/<pid>/status, SigCgt)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (signal.SIGINT - 1) & 1)
    except (OSError, ValueError):
        pass
    return False


class VirtualBoard:
    def __init__(self, root, micropython=None, fakes=False, heapsize=None, env=None, romfs=None):
        self.root = Path(root)
        self.micropython = micropython or find("micropython")
        self.fakes = fakes
        self.heapsize = heapsize
        self.romfs = romfs  # bytes of a fake ROMFS partition, or None: no ROMFS
        self.env = env or {}
        self.port = None
        self.proc = None
        self._stop = threading.Event()
        self._fds = []
        self._sigint_at = -HOLD_OFF
        self._held = False  # a Ctrl-C that came during the hold-off, sent when it ends
        self._thread = None

    def start(self):
        self.root.mkdir(parents=True, exist_ok=True)
        board_m, board_s = pty.openpty()  # micropython's terminal
        host_m, host_s = pty.openpty()  # what mpremote opens
        for fd in (board_s, host_s):
            tty.setraw(fd)  # no \n -> \r\n translation: mpremote matches exact bytes
        path = ".frozen:lib" + (":" + str(FAKES) if self.fakes else "")
        env = dict(os.environ, MICROPYPATH=path, **self.env)
        cmd = [self.micropython] + (["-X", "heapsize=%s" % self.heapsize]
                                    if self.heapsize else [])
        if self.romfs:  # what a board's firmware does first: mount its ROMFS, then the REPL
            cmd += ["-i", "-c", "import sys;sys.path.append(%r);__import__('romfs_partition')"
                    ".boot(%r,%d);sys.path.pop()" % (str(FAKES), str(self.romfs_file),
                                                     self.romfs)]
        self.proc = subprocess.Popen(cmd, stdin=board_s, stdout=board_s, stderr=board_s,
                                     cwd=str(self.root), env=env, start_new_session=True)
        os.close(board_s)
        self.port = os.ttyname(host_s)
        self._fds = [board_m, host_m, host_s]  # host_s stays open: mpremote may come and go
        self._thread = threading.Thread(target=self._bridge, args=(board_m, host_m), daemon=True)
        self._thread.start()
        return self

    def _bridge(self, board_m, host_m):
        # Neither side may block the other: what one side has not taken yet waits in a buffer
        # (board output beyond BACKLOG is dropped: nobody is listening).
        pending = {board_m: bytearray(), host_m: bytearray()}  # to write to that fd
        other = {board_m: host_m, host_m: board_m}
        for fd in other:
            os.set_blocking(fd, False)
        while not self._stop.is_set():
            try:
                wait = self._sigint_at + HOLD_OFF - time.monotonic() if self._held else 0.1
                ready, writable, _ = select.select(
                    [board_m, host_m], [fd for fd in pending if pending[fd]], [],
                    min(max(wait, 0), 0.1))
                for fd in ready:
                    data = os.read(fd, 4096)
                    if not data:
                        raise OSError("eof")
                    if fd == board_m:
                        self._held = False  # its code may have ended: see the module doc
                    elif b"\x03" in data:
                        self._interrupt()
                    pending[other[fd]] += data
                if self._held and time.monotonic() - self._sigint_at >= HOLD_OFF:
                    self._interrupt()
                del pending[host_m][:-BACKLOG]
                for fd in writable:
                    try:
                        del pending[fd][:os.write(fd, pending[fd])]
                    except BlockingIOError:
                        pass
            except OSError:  # micropython exited: its pty side is gone
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)

    def _interrupt(self):
        """Ctrl-C from the host: KeyboardInterrupt in running code, as on a board (during the
        hold-off it is held back, to be sent when it ends)."""
        now = time.monotonic()
        self._held = False
        if not sigint_caught(self.proc.pid):
            return  # at a prompt: a character
        if now - self._sigint_at < HOLD_OFF:
            self._held = True
            return
        self._sigint_at = now
        self.proc.send_signal(signal.SIGINT)

    @property
    def romfs_file(self):
        """Where the fake ROMFS partition is kept: beside the flash, as on a board."""
        return self.root.parent / (self.root.name + ".romfs")

    @property
    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        self._stop.set()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._thread is not None:
            self._thread.join(2)
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default="build/virtual-board", help="the board's flash")
    ap.add_argument("--fakes", action="store_true", help="fake machine/network/ntptime/esp32")
    ap.add_argument("--heapsize", help="e.g. 110k, like an ESP32's free heap")
    ap.add_argument("--romfs", metavar="SIZE", help="a fake ROMFS partition of SIZE bytes "
                    "(e.g. 128k, an ESP32's partitions-4MiB-romfs.csv)")
    ap.add_argument("--micropython", help="default: the venv's")
    ap.add_argument("--port-file", help="write the pty path here once ready")
    args = ap.parse_args(argv)

    def stop(signum, frame):  # a closed terminal or a kill: the board goes too, not orphaned
        raise SystemExit(0)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)
    romfs = args.romfs and int(args.romfs.lower().rstrip("k")) * (
        1024 if args.romfs.lower().endswith("k") else 1)
    vb = VirtualBoard(args.root, args.micropython, args.fakes, args.heapsize, romfs=romfs).start()
    print("virtual board on %s (flash: %s); Ctrl-C here stops it.\n"
          "In another terminal: `make demo` (an HTTPS example on it), `make deploy PORT=%s`"
          " or `.venv/bin/mpremote connect %s resume repl`" % (vb.port, vb.root, vb.port, vb.port),
          flush=True)
    if args.port_file:
        Path(args.port_file).parent.mkdir(parents=True, exist_ok=True)
        Path(args.port_file).write_text(vb.port + "\n")
    try:
        while vb.alive:
            time.sleep(0.5)
        print("the unix port exited (a soft reset, or sys.exit()): the virtual board is off")
    except KeyboardInterrupt:
        pass
    finally:
        vb.stop()
        if args.port_file:
            Path(args.port_file).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
