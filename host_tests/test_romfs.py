"""ROMFS (issue 15 part 4): the image deploy --romfs writes (romfs_image.py) read back by the unix
port's own VfsRom, its .mpy running in place; deploy against a virtual board with a fake ROMFS
partition (host_tests/fakes/romfs_partition.py), found as `mpremote romfs query` finds a real
one, and against one with none, where nothing changes; the choice deploy makes (where())."""
import hashlib
import json
import subprocess
import sys

import deploy
import pytest
import romfs_image
from conftest import ROOT, stub_server
from test_deploy import configure, mpremote
from toolchain import app_modules, find
from virtual_board import VirtualBoard

APP = {m + ".mpy" for m in app_modules()}
RUN_MAIN = ("exec(open('main.py').read())\nimport sys\n"
            "print('FROM', sys.modules['oauthcc.client'].__file__, sys.modules['app'].__file__)")


def image_files(out):
    files = deploy.compile_all(out)
    return {p: f for p, f in files.items() if p.startswith("lib/oauthcc/") or p in APP}


def micropython(code, cwd):
    p = subprocess.run([find("micropython"), "-c", code], capture_output=True, text=True,
                       cwd=str(cwd), timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def test_the_image_holds_the_library_and_the_app_and_they_run_in_place(tmp_path):
    files = image_files(tmp_path / "build")
    image = romfs_image.build(files)
    assert image.startswith(romfs_image.HEADER)
    assert romfs_image.build(files) == image  # the same files, the same image: no rewrite
    (tmp_path / "img.romfs").write_bytes(image)
    # read back by MicroPython's VfsRom, as a board's firmware reads its partition
    out = micropython(
        "import os, vfs, json, hashlib, binascii\n"
        "vfs.mount(vfs.VfsRom(open('img.romfs', 'rb').read()), '/rom')\n"
        "def walk(d, out):\n"
        "    for n, kind, *_ in os.ilistdir(d):\n"
        "        if kind == 0x4000:\n"
        "            walk(d + '/' + n, out)\n"
        "        else:\n"
        "            h = hashlib.sha256(open(d + '/' + n, 'rb').read()).digest()\n"
        "            out[(d + '/' + n)[5:]] = binascii.hexlify(h).decode()\n"
        "    return out\n"
        "print(json.dumps(walk('/rom', {})))", tmp_path)
    assert json.loads(out) == {p: hashlib.sha256(f.read_bytes()).hexdigest()
                               for p, f in files.items()}
    assert {p for p in files if "/" not in p} == APP and len(files) > len(APP) + 20

    # in place: importing the fetch path from the image allocates far less than from .mpy
    # files (the bytecode and constants stay in the image, outside what is counted)
    measure = ("import gc, sys\n%s\ngc.collect()\na = gc.mem_alloc()\n"
               "from oauthcc import TokenClient\nimport oauthcc\ngc.collect()\n"
               "print(gc.mem_alloc() - a, oauthcc.__file__)")
    rom, where = micropython(measure % (
        "import vfs\nimg = open('img.romfs', 'rb').read()\n"
        "vfs.mount(vfs.VfsRom(img), '/rom')\nsys.path.insert(1, '/rom/lib')"),
        tmp_path).split()
    lib, where_lib = micropython(measure % "sys.path.insert(1, 'build/lib')", tmp_path).split()
    print("import of the fetch path, 64-bit: %s bytes from the image, %s from .mpy files"
          % (rom, lib))
    assert where == "/rom/lib/oauthcc/__init__.mpy" and where_lib.startswith("build/lib/")
    assert int(rom) < int(lib) * 0.75


def test_deploy_romfs_on_a_virtual_board_with_a_fake_partition(tmp_path):
    stub = stub_server()
    stub.reset({"profile": "zaikio"})
    cfg, sec = configure(tmp_path / "cfg", stub)
    flash = tmp_path / "board"
    log = []
    with VirtualBoard(flash, fakes=True, romfs=128 * 1024) as vb:
        # the fake is what `mpremote romfs query` sees on a board with an erased partition
        q = subprocess.run([find("mpremote"), "connect", vb.port, "resume", "romfs", "query"],
                           capture_output=True, text=True, timeout=60).stdout
        assert "ROMFS0 partition has size 131072 bytes" in q and "Not a valid ROMFS" in q
        # without the option: today's deploy, and a hint
        r = deploy.deploy(vb.port, cfg, sec, log=log.append, timeout=30)
        assert r["romfs"] is None and "lib/oauthcc/client.mpy" in r["copied"]
        assert any(s.startswith("hint: this board has a ROMFS partition (131072 bytes): "
                                "--romfs") for s in log)
        (flash / "state.py").write_text("raise ImportError('a stale copy imported')\n")

        # --romfs: the image written, the copies that would shadow or duplicate it removed
        del log[:]
        r = deploy.deploy(vb.port, cfg, sec, log=log.append, timeout=30, romfs=True)
        assert r["romfs"] == "written" and r["copied"] == [] and not r["reset"]
        assert sorted(r["removed"]) == sorted(["lib/oauthcc", "state.py"] + sorted(APP))
        assert sorted(f.name for f in flash.iterdir()) == [
            "boot.py", "ca.pem", "config.json", "lib", "main.py", "secrets.json"]
        assert not any((flash / "lib").iterdir())
        assert any(s.startswith("ROMFS image written: ") for s in log), log
        # main.py at once, in the same session: the app and library from /rom
        out = mpremote(vb.port, RUN_MAIN)
        assert "/api/v1/resource -> 200" in out, out
        assert "FROM /rom/lib/oauthcc/client.mpy /rom/app.mpy" in out, out
        # again without the option: kept in the ROMFS (a copy in /lib would be shadowed)
        del log[:]
        r = deploy.deploy(vb.port, cfg, sec, log=log.append, timeout=30)
        assert r["romfs"] == "unchanged" and r["copied"] == [] and r["removed"] == []
        assert "the board runs oauthcc from its ROMFS" in log[0]
        assert not (flash / "lib" / "oauthcc").exists()

    # a reset: the partition survives, the firmware mounts it, main.py runs from it
    with VirtualBoard(flash, fakes=True, romfs=128 * 1024) as vb:
        out = mpremote(vb.port, RUN_MAIN)
        assert "FROM /rom/lib/oauthcc/client.mpy /rom/app.mpy" in out, out
        # --no-romfs: back to the filesystem, then the image erased
        r = deploy.deploy(vb.port, cfg, sec, log=log.append, timeout=30, romfs=False)
        assert r["romfs"] == "erased" and "lib/oauthcc/client.mpy" in r["copied"]
        # it ran from the image just erased: what it loaded points into it (a WDT class whose
        # method name read "\0\0\0\0"), so deploy asks for a reset
        assert r["reset"] and deploy.RESET_NEEDED in log, log

    with VirtualBoard(flash, fakes=True, romfs=128 * 1024) as vb:
        out = mpremote(vb.port, RUN_MAIN)
        assert "FROM lib/oauthcc/client.mpy app.mpy" in out, out
        q = subprocess.run([find("mpremote"), "connect", vb.port, "resume", "romfs", "query"],
                           capture_output=True, text=True, timeout=60).stdout
        assert "ROMFS image size: 0" in q, q
        r = deploy.deploy(vb.port, cfg, sec, log=log.append, timeout=30)
        assert r["romfs"] is None and r["copied"] == []  # an empty ROMFS is not ours


def test_a_board_without_a_romfs_is_deployed_as_before_and_refuses_romfs(tmp_path):
    stub = stub_server()
    cfg, sec = configure(tmp_path / "cfg", stub)
    with VirtualBoard(tmp_path / "board", fakes=True) as vb:
        q = subprocess.run([find("mpremote"), "connect", vb.port, "resume", "romfs", "query"],
                           capture_output=True, text=True, timeout=60).stdout
        assert "ROMFS is not enabled on this device" in q
        with pytest.raises(deploy.DeployError, match="reports no ROMFS partition"):
            deploy.deploy(vb.port, cfg, sec, log=print, timeout=30, romfs=True)
        assert not any((tmp_path / "board").iterdir())  # refused before anything was copied
        log = []
        r = deploy.deploy(vb.port, cfg, sec, log=log.append, timeout=30)
        assert r["romfs"] is None and "lib/oauthcc/client.mpy" in r["copied"]
        assert not any("ROMFS" in s for s in log)
        p = subprocess.run([sys.executable, str(ROOT / "tools" / "deploy.py"), "--port",
                            vb.port, "--config", str(cfg), "--secrets", str(sec), "--romfs"],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 1 and "reports no ROMFS partition" in p.stderr


def test_romfs_is_refused_when_the_image_does_not_fit_or_would_replace_other_files(tmp_path):
    stub = stub_server()
    cfg, sec = configure(tmp_path / "cfg", stub)
    with VirtualBoard(tmp_path / "small", fakes=True, romfs=16 * 1024) as vb:
        with pytest.raises(deploy.DeployError, match=r"image \(\d+ bytes\) does not fit the "
                           r"board's partition \(16384 bytes\)"):
            deploy.deploy(vb.port, cfg, sec, log=print, timeout=30, romfs=True)
        assert not any((tmp_path / "small").iterdir())
    theirs = tmp_path / "theirs"
    (theirs / "lib").mkdir(parents=True)
    (theirs / "font.bin").write_bytes(b"glyphs")
    (theirs / "lib" / "driver.mpy").write_bytes(b"M")
    with VirtualBoard(tmp_path / "board", fakes=True, romfs=128 * 1024) as vb:
        p = subprocess.run([find("mpremote"), "connect", vb.port, "resume", "romfs", "deploy",
                            str(theirs)], capture_output=True, text=True, timeout=60)
        assert "ROMFS image deployed" in p.stdout, p.stdout + p.stderr
        log = []
        deploy.deploy(vb.port, cfg, sec, log=log.append, timeout=30)  # not ours: a hint
        assert log[0].startswith("hint: ")
        with pytest.raises(deploy.DeployError, match="the board's ROMFS holds font.bin, lib, "
                           "lib/driver.mpy, which the image would replace"):
            deploy.deploy(vb.port, cfg, sec, log=print, timeout=30, romfs=True)


def test_where_the_library_goes():
    rom = {"top": ["app.mpy", "lib"], "lib": ["oauthcc"]}
    empty = {"top": [], "lib": []}
    where = deploy.where
    assert where(None, None, None, APP, 0) == (False, False, None)  # no ROMFS: as before
    assert where(False, None, None, APP, 0) == (False, False, None)
    with pytest.raises(deploy.DeployError, match="no ROMFS partition"):
        where(True, None, None, APP, 0)
    in_rom, ours, note = where(None, 65536, None, APP, 50000)  # erased: a hint
    assert (in_rom, ours) == (False, False) and note.startswith("hint: ")
    assert where(None, 65536, empty, APP, 50000)[:2] == (False, False)
    assert where(True, 65536, None, APP, 50000) == (True, False, None)
    assert where(True, 65536, rom, APP, 50000) == (True, True, None)
    in_rom, ours, note = where(None, 65536, rom, APP, 50000)  # kept where it is
    assert (in_rom, ours) == (True, True) and "runs oauthcc from its ROMFS" in note
    assert where(None, 65536, {"top": ["app.mpy"], "lib": []}, APP, 50000)[:2] == (True, True)
    assert where(False, 65536, rom, APP, 50000) == (False, True, None)  # erased after copying
    with pytest.raises(deploy.DeployError, match="does not fit"):
        where(True, 65536, None, APP, 65537)
    with pytest.raises(deploy.DeployError, match="does not fit"):
        where(None, 65536, rom, APP, 65537)
    with pytest.raises(deploy.DeployError, match="holds x.mpy, which"):
        where(True, 65536, {"top": ["x.mpy"], "lib": []}, APP, 100)
    assert where(False, 65536, {"top": ["x.mpy"], "lib": []}, APP, 100) == (False, False, None)


def test_stale_with_an_image_removes_what_would_shadow_or_duplicate_it():
    image = {"lib/oauthcc/client.mpy", "app.mpy", "board.mpy"}
    files = {"main.py": None, "boot.py": None, "config.json": None}
    state = {"top": ["app.mpy", "board.py", "main.py", "boot.py", "oauthcc", "mine.py"],
             "libdir": ["oauthcc", "other.mpy"], "lib": ["client.mpy", "old.mpy"]}
    assert sorted(deploy.stale(state, files, image)) == sorted(
        ["oauthcc", "lib/oauthcc", "app.mpy", "board.py"])
    assert deploy.stale(dict(state, lib=None), files, image).count("lib/oauthcc") == 0
