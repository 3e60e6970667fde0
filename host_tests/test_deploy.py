"""make deploy against a virtual board (the unix port behind a pty), then the deployed main.py
runs there for one cycle against the stub server over HTTPS (its test CA deployed as ca.pem),
with fakes of machine/network/ntptime."""
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import deploy
import pytest
from conftest import ROOT, stub_server, tls_stub
from toolchain import app_modules, find
from virtual_board import VirtualBoard

from stub_server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, ORG_ID, PERSON_ID

SCOPE = "Per/%s>Org/%s.zaikio.machines.rw" % (PERSON_ID, ORG_ID)


@pytest.fixture
def vboard(tmp_path):
    with VirtualBoard(tmp_path / "board", fakes=True) as vb:
        yield vb


def configure(d, stub, **extra):
    """config.json for the HTTPS stub, with its test CA as ca.pem beside it."""
    d.mkdir(exist_ok=True)
    tls_stub()
    url = os.environ["STUB_TLS_URL"]
    cfg = {"profile": "zaikio", "base_url": url, "scope": [SCOPE],
           "api_url": url + "/api/v1/resource", "interval": 1, "cycles": 1,
           "repl_window": 0, "watchdog": 60, "wifi_ssid": "virtual", "ca": "ca.pem"}
    cfg.update(extra)
    (d / "config.json").write_text(json.dumps(cfg))
    (d / "secrets.json").write_text(json.dumps({"client_id": DEFAULT_CLIENT_ID,
                                                "client_secret": DEFAULT_CLIENT_SECRET,
                                                "wifi_password": "pw"}))
    (d / "ca.pem").write_bytes(Path(os.environ["STUB_CA_PEM"]).read_bytes())
    return d / "config.json", d / "secrets.json"


def mpremote(port, code, timeout=60):
    p = subprocess.run([find("mpremote"), "connect", port, "resume", "exec", code],
                       capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return p.stdout + p.stderr


def test_deploy_then_run_main_on_virtual_board(tmp_path, vboard):
    stub = stub_server()
    stub.reset({"profile": "zaikio"})
    cfg, sec = configure(tmp_path / "cfg", stub)
    flash = vboard.root
    for stale in ("oauthcc/client.py", "lib/oauthcc/client.py", "lib/oauthcc/gone.mpy",
                  "app.py"):
        (flash / stale).parent.mkdir(parents=True, exist_ok=True)
        (flash / stale).write_text("raise ImportError('stale copy imported')\n")
    start = time.monotonic()
    p = subprocess.run([sys.executable, str(ROOT / "tools" / "deploy.py"), "--port", vboard.port,
                        "--config", str(cfg), "--secrets", str(sec), "--set-clock"],
                       capture_output=True, text=True, timeout=120)
    took = time.monotonic() - start
    assert p.returncode == 0, p.stderr
    print("first deploy to the virtual board: %.2f s" % took)
    assert not (flash / "oauthcc").exists() and not (flash / "app.py").exists()
    lib = sorted(f.name for f in (flash / "lib" / "oauthcc").iterdir())
    assert lib == sorted(f.stem + ".mpy" for f in (ROOT / "device" / "oauthcc").glob("*.py"))
    for name in ("boot.py", "main.py", "config.json", "secrets.json", "ca.pem") + tuple(
            m + ".mpy" for m in app_modules()):
        assert (flash / name).is_file(), name
    assert (flash / "main.py").read_bytes() == (ROOT / "main.py").read_bytes()

    # the deployed main.py itself, one cycle, on the virtual board
    out = mpremote(vboard.port, "exec(open('main.py').read())\nimport machine, network\n"
                   "print('EVENTS', [e[:2] for e in machine.events if e[0] == 'wdt'], "
                   "network.wlans[0].ssid)")
    assert "[app] roles: owner, admin" in out, out
    assert "/api/v1/resource -> 200" in out, out
    assert "EVENTS [('wdt', 60000), ('wdt', 1073741823)] virtual" in out, out
    assert [e["grant_type"] for e in stub.log if e["path"].endswith("token")] == [
        "client_credentials"]
    assert DEFAULT_CLIENT_SECRET not in out

    # again: nothing changed, nothing copied; a changed config is the only copy
    log = []
    r = deploy.deploy(vboard.port, cfg, sec, log=log.append, timeout=30)
    assert r["copied"] == [] and r["removed"] == []
    configure(tmp_path / "cfg", stub, interval=2)
    r = deploy.deploy(vboard.port, cfg, sec, log=log.append, timeout=30)
    assert r["copied"] == ["config.json"]
    print("mpy bytes deployed: %d" % r["mpy_bytes"])


def test_a_deploy_drops_the_modules_it_replaced_from_sys_modules(tmp_path, vboard):
    # A board that ran the app keeps its modules in sys.modules after mpremote's Ctrl-C, so
    # `deploy --run` (exec of main.py) or an import at the REPL got the copies from before the
    # deploy; with a ROMFS rewritten under them, code pointing into a partition since erased.
    cfg, sec = configure(tmp_path / "cfg", stub_server())
    (vboard.root / "state.py").write_text("STALE = True\n")
    assert "STALE True" in mpremote(vboard.port, "import state\nprint('STALE', state.STALE)")
    deploy.deploy(vboard.port, cfg, sec, log=lambda s: None, timeout=30)
    out = mpremote(vboard.port, "import state\nprint('NOW', hasattr(state, 'STALE'), "
                   "state.__file__)")
    assert "NOW False state.mpy" in out, out


def test_deploy_refuses_a_missing_ca_file(tmp_path):
    stub = stub_server()
    cfg, sec = configure(tmp_path / "cfg", stub)
    (tmp_path / "cfg" / "ca.pem").unlink()
    with pytest.raises(deploy.DeployError, match="CA file"):
        deploy.config_files(cfg, sec)


def test_deploy_copies_the_client_certificate_and_key_the_configuration_names(tmp_path):
    stub = stub_server()
    cfg, sec = configure(tmp_path / "cfg", stub, auth="tls", client_cert="me.der",
                         client_key="me.key.der")
    with pytest.raises(deploy.DeployError, match="CLIENT_CERT file"):
        deploy.config_files(cfg, sec)
    (tmp_path / "cfg" / "me.der").write_bytes(b"cert")
    with pytest.raises(deploy.DeployError, match="CLIENT_KEY file"):
        deploy.config_files(cfg, sec)
    (tmp_path / "cfg" / "me.key.der").write_bytes(b"key")
    files = deploy.config_files(cfg, sec)
    assert files["me.der"] == tmp_path / "cfg" / "me.der"
    assert files["me.key.der"] == tmp_path / "cfg" / "me.key.der"
    assert files["ca.pem"] == tmp_path / "cfg" / "ca.pem"


def test_deploy_refuses_an_unknown_key_before_touching_the_board(tmp_path, monkeypatch):
    stub = stub_server()
    cfg, sec = configure(tmp_path / "cfg", stub, api_ulr="https://x/")
    ran = []
    monkeypatch.setattr(deploy.subprocess, "run", lambda *a, **k: ran.append(a))
    want = "unknown key 'api_ulr' in config.json (did you mean 'api_url'?)"
    with pytest.raises(deploy.DeployError, match=re.escape(want)):
        deploy.deploy("/dev/no-such-board", cfg, sec)
    assert ran == []  # no mpy-cross, no mpremote: nothing touched the board
    configure(tmp_path / "cfg", stub)
    (tmp_path / "cfg" / "secrets.json").write_text(json.dumps({"client_id": "a",
                                                               "client_secrt": "b"}))
    with pytest.raises(deploy.DeployError, match="unknown key 'client_secrt' in secrets.json"):
        deploy.deploy("/dev/no-such-board", cfg, sec)
    with pytest.raises(deploy.DeployError, match=re.escape("'interval' in config.json must be")):
        deploy.deploy("/dev/no-such-board", *configure(tmp_path / "cfg", stub, interval="5"))
    assert ran == []


def test_deploy_command_refuses_an_unknown_key(tmp_path):
    cfg, sec = configure(tmp_path / "cfg", stub_server(), profle="zaikio")
    p = subprocess.run([sys.executable, str(ROOT / "tools" / "deploy.py"), "--port",
                        "/dev/no-such-board", "--config", str(cfg), "--secrets", str(sec)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "mpremote" not in p.stderr
    assert "unknown key 'profle' in config.json (did you mean 'profile'?)" in p.stderr


def test_stale_lists_shadowing_py_and_old_copies():
    files = {"lib/oauthcc/client.mpy": None, "app.mpy": None, "main.py": None}
    state = {"top": ["oauthcc", "app.py", "main.py", "boot.py"], "libdir": ["oauthcc.py"],
             "lib": ["client.mpy", "client.py", "old.mpy"]}
    assert sorted(deploy.stale(state, files)) == sorted(
        ["oauthcc", "lib/oauthcc.py", "lib/oauthcc/client.py", "lib/oauthcc/old.mpy", "app.py"])


def test_utc_datetime_is_utc_not_local_time():
    assert deploy.utc_datetime(1767225600 + 3723) == (2026, 1, 1, 3, 1, 2, 3, 0)
