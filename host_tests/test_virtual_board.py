"""tools/virtual_board.py behaves like a board's USB REPL: Ctrl-C (0x03) from the host
interrupts running code, so mpremote, deploy and `deploy --run` work while the app loops; at a
prompt and under kbd_intr(-1) 0x03 is a character and the board lives on; output nobody reads
does not stop the board."""
import json
import os
import select
import signal
import subprocess
import sys
import time

import deploy
import pytest
import virtual_board
from conftest import ROOT, stub_server
from toolchain import find
from virtual_board import VirtualBoard, sigint_caught

from stub_server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, ORG_ID, PERSON_ID

LOOPING = "[app] next cycle in 3600 s"


def configure(d, stub, interval=3600):
    """An app that loops: one cycle against the (plain http) stub, then an hour's sleep."""
    d.mkdir(exist_ok=True)
    cfg = {"profile": "zaikio", "base_url": stub.url,
           "scope": ["Per/%s>Org/%s.zaikio.machines.rw" % (PERSON_ID, ORG_ID)],
           "api_url": stub.url + "/api/v1/resource", "interval": interval,
           "repl_window": 0, "watchdog": 60, "wifi_ssid": "virtual"}
    (d / "config.json").write_text(json.dumps(cfg))
    (d / "secrets.json").write_text(json.dumps({"client_id": DEFAULT_CLIENT_ID,
                                                "client_secret": DEFAULT_CLIENT_SECRET,
                                                "wifi_password": "pw"}))
    return d / "config.json", d / "secrets.json"


def read_until(fd, marker, timeout=10):
    out, end = b"", time.monotonic() + timeout
    while marker not in out and time.monotonic() < end:
        if select.select([fd], [], [], 0.1)[0]:
            out += os.read(fd, 4096)
    return out


@pytest.fixture
def spawned():
    """Processes a test starts (each in its own session): none outlives the test."""
    procs = []
    yield procs
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(10)
        if p.stdout:
            p.stdout.close()


def sigint_as_in_a_terminal():
    """In the child before exec: SIGINT's default action, so that Python there turns it into
    KeyboardInterrupt. An ignored SIGINT is inherited (and kept by Python): a background job of
    a non-interactive shell (`pytest &` in a CI script) has it, and mpremote would ignore the
    Ctrl-C these tests send. Only signal(): nothing here takes a lock another thread may hold."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_main(spawned, port, cmd=None):
    """main.py running on the board, through mpremote (or cmd), once its first cycle is done
    and it sleeps; cmd takes Ctrl-C (SIGINT) as from a terminal."""
    cmd = cmd or [find("mpremote"), "connect", port, "resume", "exec",
                  "exec(open('main.py').read())"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True,
                         preexec_fn=sigint_as_in_a_terminal)
    spawned.append(p)
    out = read_until(p.stdout.fileno(), LOOPING.encode(), 30)
    assert LOOPING.encode() in out, out
    assert sigint_caught(p.pid), "%s does not handle SIGINT" % cmd[0]  # Ctrl-C can reach it
    return p, out


def mpremote(port, code, timeout=20):
    p = subprocess.run([find("mpremote"), "connect", port, "resume", "exec", code],
                       capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return p.stdout + p.stderr


def test_ctrl_c_stops_a_looping_app_for_mpremote_deploy_and_a_terminal(tmp_path, spawned):
    stub = stub_server()
    stub.reset({"profile": "zaikio"})
    cfg, sec = configure(tmp_path / "cfg", stub)
    with VirtualBoard(tmp_path / "board", fakes=True) as vb:
        deploy.deploy(vb.port, cfg, sec, log=lambda *a: None, timeout=30)

        # the user's Ctrl-C ends mpremote, not the app; the next mpremote interrupts it
        p, out = start_main(spawned, vb.port)
        assert b"[app] roles: owner, admin" in out, out
        p.send_signal(signal.SIGINT)
        p.wait(10)
        time.sleep(0.3)
        assert sigint_caught(vb.proc.pid)  # the app still runs: MicroPython's handler is in
        start = time.monotonic()
        assert "exec ok" in mpremote(vb.port, "print('exec ok')")
        took = time.monotonic() - start
        print("mpremote exec into the looping app: %.2f s" % took)
        assert took < 10

        # deploy while the app loops
        p, _ = start_main(spawned, vb.port)
        p.kill()
        p.wait(10)
        configure(tmp_path / "cfg", stub, interval=3599)
        r = deploy.deploy(vb.port, cfg, sec, log=lambda *a: None, timeout=30)
        assert r["copied"] == ["config.json"]
        configure(tmp_path / "cfg", stub)
        deploy.deploy(vb.port, cfg, sec, log=lambda *a: None, timeout=30)

        # `deploy --run`, then Ctrl-C (to the whole process group, as a terminal sends it)
        p, out = start_main(spawned, vb.port, [
            sys.executable, str(ROOT / "tools" / "deploy.py"), "--port", vb.port, "--config",
            str(cfg), "--secrets", str(sec), "--run"])
        os.killpg(p.pid, signal.SIGINT)
        out += p.communicate(timeout=30)[0]
        assert p.returncode == 130 and b"main.py stopped; the board is at its REPL" in out, out
        assert not sigint_caught(vb.proc.pid)  # nothing runs: the REPL

        # Ctrl-C written to the pty, as by a terminal program, gives the REPL back
        p, _ = start_main(spawned, vb.port)
        p.send_signal(signal.SIGINT)
        p.wait(10)  # mpremote left the raw REPL on its way out (Ctrl-B, queued on the board)
        fd = os.open(vb.port, os.O_RDWR | os.O_NOCTTY)
        try:
            read_until(fd, b"\0", 0.3)  # what the app printed since
            os.write(fd, b"\x03")
            out = read_until(fd, b">>> ")
        finally:
            os.close(fd)
        assert b"KeyboardInterrupt" in out and out.endswith(b">>> "), out
        assert vb.alive
        events = mpremote(vb.port, "import machine; print([e[:2] for e in machine.events"
                                   " if e[0] == 'wdt'][-1])")
        assert "('wdt', 1073741823)" in events, events  # re-armed at its longest for the REPL


def test_ctrl_c_at_a_prompt_or_under_kbd_intr_off_is_a_character(tmp_path):
    with VirtualBoard(tmp_path / "board") as vb:
        fd = os.open(vb.port, os.O_RDWR | os.O_NOCTTY)
        try:
            assert read_until(fd, b">>> ").endswith(b">>> ")
            for _ in range(3):  # SIGINT at a prompt would end the unix port
                os.write(fd, b"\x03")
                time.sleep(0.25)
            assert vb.alive
            os.write(fd, b"import micropython, sys\r")
            read_until(fd, b"\0", 0.5)
            os.write(fd, b"micropython.kbd_intr(-1); print('got', repr(sys.stdin.read(1)))\r")
            time.sleep(0.5)
            os.write(fd, b"\x03")  # data, as in mpremote mount's protocol
            out = read_until(fd, b"got '\\x03'")
            assert b"got '\\x03'" in out and vb.alive, out

            # nobody reads the pty: the board runs on (its output beyond the backlog dropped)
            os.write(fd, b"exec(\"for i in range(3000): print('x' * 50)\\n"
                         b"open('done', 'w').write('1')\")\r")
            end = time.monotonic() + 10
            while not (vb.root / "done").exists() and time.monotonic() < end:
                time.sleep(0.1)
            assert (vb.root / "done").exists()
            read_until(fd, b"\0", 1)
            os.write(fd, b"print(6 * 7)\r")
            assert b"42" in read_until(fd, b"42")
        finally:
            os.close(fd)


def running(fd, vb, line, timeout=10):
    """Type a line at the board's friendly REPL; return once it runs (kbd_intr on). Not at
    the first prompt: there the process has a SIGINT handler (the CPython that hosts the
    unix port) until MicroPython ran a line."""
    os.write(fd, line + b"\r")
    end = time.monotonic() + timeout
    while not sigint_caught(vb.proc.pid) and time.monotonic() < end:
        time.sleep(0.01)
    assert sigint_caught(vb.proc.pid), line


def test_ctrl_c_soon_after_one_is_held_back_not_dropped(tmp_path, monkeypatch):
    """A Ctrl-C sooner than HOLD_OFF after a SIGINT (the next mpremote's can come 0.2 s after
    the last one's) still stops the code that started since, once the hold-off is over; one
    for code that ended meanwhile (the board printed) is not sent to the code after it."""
    stopped = b"KeyboardInterrupt: \n>>> "  # not what a 0x03 read as a character prints
    hold_off = 2.0  # the case at hand on a loaded machine too: each step below takes ms
    monkeypatch.setattr(virtual_board, "HOLD_OFF", hold_off)
    with VirtualBoard(tmp_path / "board") as vb:
        fd = os.open(vb.port, os.O_RDWR | os.O_NOCTTY)
        try:
            assert read_until(fd, b">>> ").endswith(b">>> ")
            os.write(fd, b"import time\r")  # from now on no SIGINT handler at the prompt
            assert read_until(fd, b"\n>>> ").endswith(b"\n>>> ")
            running(fd, vb, b"time.sleep(60)")
            t0 = time.monotonic()  # the bridge's first SIGINT comes after this
            os.write(fd, b"\x03")
            assert stopped in read_until(fd, stopped)
            running(fd, vb, b"time.sleep(60)")
            os.write(fd, b"\x03")
            assert time.monotonic() - t0 < hold_off  # inside the hold-off
            assert stopped in read_until(fd, stopped, hold_off + 10) and vb.alive
            t1 = time.monotonic()  # the second SIGINT came between t0 + hold_off and t1

            running(fd, vb, b"time.sleep(0.5); print('slept')")
            os.write(fd, b"\x03")
            assert time.monotonic() - (t0 + hold_off) < hold_off  # inside that one's hold-off
            assert b"slept\n>>> " in read_until(fd, b"slept\n>>> ")  # it ended by itself
            running(fd, vb, b"time.sleep(60)")  # after the REPL read 0x03 as a character
            time.sleep(max(t1 + hold_off + 0.5 - time.monotonic(), 0))  # the hold-off is over
            out = read_until(fd, b"\0", 0.5)
            assert sigint_caught(vb.proc.pid) and b"KeyboardInterrupt" not in out, out
            os.write(fd, b"\x03")
            assert stopped in read_until(fd, stopped) and vb.alive
        finally:
            os.close(fd)


def test_make_virtual_board_names_its_pty_and_takes_the_board_along_when_killed(tmp_path):
    port_file = tmp_path / "port"
    p = subprocess.Popen([sys.executable, str(ROOT / "tools" / "virtual_board.py"), "--root",
                          str(tmp_path / "board"), "--port-file", str(port_file)],
                         stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        end = time.monotonic() + 20
        while not port_file.exists() and time.monotonic() < end:
            time.sleep(0.05)
        port = port_file.read_text().strip()
        assert "up" in mpremote(port, "print('up')")
        board = [int(pid) for pid in os.listdir("/proc") if pid.isdigit()
                 and _ppid(int(pid)) == p.pid]
        assert board
        p.terminate()
        assert p.wait(10) == 0 and not port_file.exists()
        end = time.monotonic() + 10
        while any(_alive(pid) for pid in board) and time.monotonic() < end:
            time.sleep(0.05)
        assert not any(_alive(pid) for pid in board)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(10)


def test_romfs_gives_the_board_a_partition_as_mpremote_romfs_finds_one(tmp_path):
    def romfs(port, *args):
        p = subprocess.run([find("mpremote"), "connect", port, "resume", "romfs", *args],
                           capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        return p.stdout + p.stderr

    with VirtualBoard(tmp_path / "plain") as vb:  # the unix port, as most boards: none
        assert "ROMFS is not enabled on this device" in romfs(vb.port, "query")
    src = tmp_path / "src" / "lib"
    src.mkdir(parents=True)
    (src / "hello.py").write_text("WHERE = 'rom'\n")
    with VirtualBoard(tmp_path / "board", romfs=64 * 1024) as vb:
        out = romfs(vb.port, "query")
        assert "ROMFS0 partition has size 65536 bytes" in out and "Not a valid ROMFS" in out
        assert "ROMFS image deployed" in romfs(vb.port, "deploy", str(src.parent))
        assert "ROMFS image size: " in romfs(vb.port, "query")
        assert (tmp_path / "board.romfs").stat().st_size == 65536  # beside the flash
    with VirtualBoard(tmp_path / "board", romfs=64 * 1024) as vb:  # after a reset: mounted
        out = mpremote(vb.port, "import sys, hello\nprint(hello.WHERE, hello.__file__, "
                       "sys.path)")
        assert "rom /rom/lib/hello.mpy ['', '.frozen', '/rom', '/rom/lib', 'lib']" in out, out


def _ppid(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
