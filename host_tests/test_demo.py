"""`make demo`: the app over HTTPS on the virtual board with one command, back at its REPL
afterwards."""
import json
import os
import signal
import subprocess
import sys
import time

from conftest import ROOT
from test_virtual_board import mpremote, read_until
from virtual_board import VirtualBoard

from stub_server import DEFAULT_CLIENT_SECRET


def test_demo_shows_a_token_over_https_on_the_virtual_board_and_leaves_its_repl(tmp_path):
    with VirtualBoard(tmp_path / "board", fakes=True) as vb:
        start = time.monotonic()
        p = subprocess.Popen([sys.executable, str(ROOT / "tools" / "demo.py"), "--port", vb.port,
                              "--cycles", "2", "--interval", "1", "--out", str(tmp_path / "demo"),
                              "--ca-dir", str(tmp_path / "ca")], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, cwd=str(tmp_path),
                             start_new_session=True)
        try:
            out = p.communicate(timeout=120)[0]
        finally:  # its mpremote too
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)
        took = time.monotonic() - start
        assert p.returncode == 0, out
        print("make demo, 2 cycles 1 s apart: %.1f s" % took)
        for line in ("stub authorization server (zaikio) at https://127.0.0.1:", "clock set (UTC)",
                     "[app] token: scope=zaikio.machines.rw", "[app] roles: owner, admin",
                     "/api/v1/person -> 200", "[app] next cycle in 1 s",
                     "token endpoint saw: client_credentials",
                     "the board is at its REPL: .venv/bin/mpremote connect %s" % vb.port):
            assert line in out, out
        assert DEFAULT_CLIENT_SECRET not in out
        cfg = json.loads((vb.root / "config.json").read_text())
        assert cfg["ca"] == "ca.pem" and cfg["base_url"].startswith("https://")
        assert (vb.root / "ca.pem").read_bytes() == (tmp_path / "ca" / "ca.pem").read_bytes()
        assert "at the REPL" in mpremote(vb.port, "print('at the REPL')", timeout=10)
        fd = os.open(vb.port, os.O_RDWR | os.O_NOCTTY)
        try:
            os.write(fd, b"\x02")  # Ctrl-B: the friendly REPL's banner and prompt
            out = read_until(fd, b">>> ")
            # the banner and a prompt; what mpremote's exit (\r\x02) queued may follow it
            assert b"MicroPython" in out and b"\r\n>>> " in out, out
        finally:
            os.close(fd)


def test_demo_without_a_virtual_board_says_how_to_start_one(tmp_path, monkeypatch, capsys):
    import demo

    monkeypatch.setattr(demo, "PORT_FILE", tmp_path / "none.port")
    assert demo.main([]) == 2
    assert "start `make virtual-board` in another terminal" in capsys.readouterr().err
