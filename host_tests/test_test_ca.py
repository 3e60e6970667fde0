"""`make test-ca` (tools/test_ca.py): a test CA whose server certificate the HTTPS stub
serves, made once, whichever Python runs the tool."""
import os
import ssl
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import test_ca
from conftest import ROOT


def test_test_ca_is_made_once_and_the_stub_serves_https_with_it(tmp_path):
    out = test_ca.make(tmp_path / "ca")
    assert sorted(p.name for p in out.iterdir()) == sorted(test_ca.FILES)
    assert stat.S_IMODE((out / "server.key").stat().st_mode) == 0o600
    pem = (out / "ca.pem").read_bytes()
    assert ssl.PEM_cert_to_DER_cert(pem.decode()) == (out / "ca.der").read_bytes()
    assert test_ca.make(out) == out and (out / "ca.pem").read_bytes() == pem  # kept
    assert test_ca.make(out, new=True) and (out / "ca.pem").read_bytes() != pem

    url_file = tmp_path / "url"
    p = subprocess.Popen([sys.executable, str(ROOT / "tools" / "stub_server.py"),
                          "--tls-cert", str(out / "server.pem"), "--tls-key",
                          str(out / "server.key"), "--url-file", str(url_file)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        end = time.monotonic() + 20
        while not url_file.exists() and time.monotonic() < end and p.poll() is None:
            time.sleep(0.05)
        url = url_file.read_text().split()[0]
        assert url.startswith("https://127.0.0.1:")
        ctx = ssl.create_default_context(cafile=str(out / "ca.pem"))
        with urllib.request.urlopen(url + "/_stub/log", context=ctx, timeout=10) as r:
            assert r.status == 200
    finally:
        p.terminate()
        p.wait(10)


def test_test_ca_under_another_python_runs_again_under_the_venvs(tmp_path):
    other = sys._base_executable  # the Python this venv was made from
    if Path(other).parent == Path(sys.executable).parent:
        pytest.skip("the tests do not run from a venv")
    if subprocess.run([other, "-c", "import trustme"], capture_output=True,
                      timeout=30).returncode == 0:
        pytest.skip("%s has trustme itself" % other)
    p = subprocess.run([other, str(ROOT / "tools" / "test_ca.py"), "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PATH="/usr/bin:/bin"))
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "ca.pem").is_file() and "--tls-cert" in p.stdout
    p = subprocess.run([other, str(ROOT / "tools" / "test_ca.py"), "--out", str(tmp_path / "x")],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PATH="/usr/bin:/bin", OAUTHCC_IN_VENV="1"))
    assert p.returncode == 1 and "trustme is not installed for %s" % other in p.stderr
