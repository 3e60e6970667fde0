"""The other two ways to install: `mpremote mip install` (package.json) and freezing
(manifest.py). Deploy is tested in test_deploy.py."""
import json
import subprocess

from conftest import ROOT
from toolchain import find, manifest
from virtual_board import VirtualBoard

LIB = sorted(p.name for p in (ROOT / "device" / "oauthcc").glob("*.py"))


def test_package_json_lists_every_library_module():
    pkg = json.loads((ROOT / "package.json").read_text())
    assert sorted(dst for dst, _ in pkg["urls"]) == ["oauthcc/" + m for m in LIB]
    for _, src in pkg["urls"]:
        assert (ROOT / src).is_file(), src


def test_mip_install_from_package_json_on_a_virtual_board(tmp_path):
    with VirtualBoard(tmp_path / "board") as vb:
        p = subprocess.run([find("mpremote"), "connect", vb.port, "resume", "mip",
                            "install", "--target", "lib", str(ROOT / "package.json"), "+",
                            "exec", "import oauthcc; print('VERSION', oauthcc.__version__)"],
                           capture_output=True, text=True, timeout=60)
        assert "VERSION 0.1.0" in p.stdout, p.stdout + p.stderr
        assert sorted(f.name for f in (vb.root / "lib" / "oauthcc").iterdir()) == LIB


def test_manifest_freezes_the_library_and_every_app_module():
    # manifest.py is the one list of what goes on a board: deploy and typecheck read it too
    packages, modules = manifest()
    assert packages == [ROOT / "device" / "oauthcc"]
    assert sorted(modules) == sorted((ROOT / "device").glob("*.py"))
