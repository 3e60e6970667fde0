"""A virtual board: the MicroPython unix port behind a pseudo-terminal.

`mpremote connect <pty>` and `make deploy PORT=<pty>` talk to it like to an ESP32 over USB:
raw REPL, file copies (into --root, the board's flash), exec. Two ptys joined by a thread:
micropython's terminal, and the one printed for mpremote (whose open/close must not hang up
micropython's side). --fakes puts host_tests/fakes (machine, network, ntptime, esp32) on the
board's path, so board.py sees a Wi-Fi interface, a watchdog and RTC memory.

Unix-port differences: a soft reset ends the process (always use `mpremote ... resume`), and
stat("") fails, so `cp -r` or `cp a b :` into the root fail: mkdir, then copy files by name.
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


class VirtualBoard:
    def __init__(self, root, micropython=None, fakes=False, heapsize=None, env=None):
        self.root = Path(root)
        self.micropython = micropython or find("micropython")
        self.fakes = fakes
        self.heapsize = heapsize
        self.env = env or {}
        self.port = None
        self.proc = None
        self._stop = threading.Event()
        self._fds = []

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
        self.proc = subprocess.Popen(cmd, stdin=board_s, stdout=board_s, stderr=board_s,
                                     cwd=str(self.root), env=env, start_new_session=True)
        os.close(board_s)
        self.port = os.ttyname(host_s)
        self._fds = [board_m, host_m, host_s]  # host_s stays open: mpremote may come and go
        threading.Thread(target=self._bridge, args=(board_m, host_m), daemon=True).start()
        return self

    def _bridge(self, board_m, host_m):
        other = {board_m: host_m, host_m: board_m}
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([board_m, host_m], [], [], 0.1)
                for fd in ready:
                    data = os.read(fd, 4096)
                    if not data:
                        raise OSError("eof")
                    os.write(other[fd], data)
            except OSError:  # micropython exited: its pty side is gone
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)

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
    ap.add_argument("--micropython", help="default: the venv's")
    ap.add_argument("--port-file", help="write the pty path here once ready")
    args = ap.parse_args(argv)
    vb = VirtualBoard(args.root, args.micropython, args.fakes, args.heapsize).start()
    print("virtual board on %s (flash: %s); Ctrl-C to stop" % (vb.port, vb.root), flush=True)
    if args.port_file:
        Path(args.port_file).write_text(vb.port + "\n")
    try:
        while vb.alive:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        vb.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
