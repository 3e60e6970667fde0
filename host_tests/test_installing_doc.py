"""Every command in docs/installing.md's sh blocks runs here, in the doc's order, against one
virtual board with a fake ROMFS partition (/dev/ttyUSB0 is its pty), or says why it cannot
(`# board only: ...`, `# not run by the tests: ...`). `make deploy` runs as the Makefile runs
it (tools/deploy.py), with the test's config.json and secrets.json; mpremote with `resume`
(a soft reset would end the unix port)."""
import re
import shlex
import subprocess
import sys

from conftest import ROOT, stub_server
from test_deploy import configure
from toolchain import find
from virtual_board import VirtualBoard

DOC = ROOT / "docs" / "installing.md"
BOARD = "/dev/ttyUSB0"
SKIP = re.compile(r"\s+# (board only|not run by the tests): \S")
SAYS = (("DEPLOY_ARGS=--romfs", "ROMFS image written: "),  # what a command's output shows
        ("DEPLOY_ARGS=--no-romfs", "ROMFS image erased"),
        ("--run", "/api/v1/resource -> 200"),
        ("romfs deploy", "ROMFS image deployed"),
        ("romfs query", "ROMFS0 partition has size 131072 bytes"))


def commands():
    """[(line, skipped)] of the doc's sh blocks."""
    out = []
    for block in re.findall(r"```sh\n(.*?)```", DOC.read_text(), re.S):
        for line in block.splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                out.append((line, bool(SKIP.search(line))))
    return out


def test_the_makefile_runs_deploy_as_this_test_does():
    assert "\t$(PY) tools/deploy.py --port $(PORT) $(DEPLOY_ARGS)\n" in (
        ROOT / "Makefile").read_text()


def test_every_command_of_the_installing_doc_runs_on_a_virtual_board(tmp_path):
    stub = stub_server()
    stub.reset({"profile": "zaikio"})
    cfg, sec = configure(tmp_path / "cfg", stub)
    bin_ = str(ROOT / ".venv" / "bin") + "/"
    ran, skipped = [], []
    with VirtualBoard(tmp_path / "board", fakes=True, romfs=128 * 1024) as vb:
        for line, skip in commands():
            if skip:
                skipped.append(line)
                continue
            argv = shlex.split(line.replace(".venv/bin/", bin_))
            if argv[:2] == ["make", "deploy"]:
                opts = dict(a.split("=", 1) for a in argv[2:])
                assert opts.pop("PORT") == BOARD and not set(opts) - {"DEPLOY_ARGS"}, line
                cmd = [sys.executable, str(ROOT / "tools" / "deploy.py"), "--port", vb.port,
                       *shlex.split(opts.get("DEPLOY_ARGS", "")), "--config", str(cfg),
                       "--secrets", str(sec)]
            elif argv[0].endswith("mpremote") and "&&" not in argv:
                assert argv[1:3] == ["connect", BOARD], line
                cmd = argv[:2] + [vb.port, "resume"] + [
                    str(ROOT / a) if a == "package.json" else a for a in argv[3:]]
            elif argv[:2] == ["mkdir", "-p"] and argv[3] == "&&":  # mkdir, then mpremote
                assert argv[5:7] == ["connect", BOARD], line
                (tmp_path / argv[2]).mkdir(parents=True, exist_ok=True)
                cmd = argv[4:6] + [vb.port, "resume"] + argv[7:]
            elif argv[1:3] == ["tools/virtual_board.py", "--fakes"]:
                vb2 = subprocess.Popen([sys.executable, str(ROOT / argv[1])] + argv[2:] + [
                    "--root", str(tmp_path / "vb2")], stdout=subprocess.PIPE, text=True,
                    start_new_session=True)
                try:
                    port = vb2.stdout.readline().split()[3]
                    q = subprocess.run([find("mpremote"), "connect", port, "resume", "romfs",
                                        "query"], capture_output=True, text=True, timeout=60)
                    assert "ROMFS0 partition has size 131072 bytes" in q.stdout, q.stdout
                finally:
                    vb2.terminate()
                    vb2.wait(10)
                ran.append(line)
                continue
            else:
                raise AssertionError("docs/installing.md: a command this test cannot run: %r "
                                     "(teach the test, or mark it `# board only: why`)" % line)
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                               cwd=str(tmp_path), stdin=subprocess.DEVNULL)
            out = p.stdout + p.stderr
            assert p.returncode == 0, (line, out[-2000:])
            assert "Traceback" not in out, (line, out[-2000:])
            for part, said in SAYS:
                if part in line:
                    assert said in out, (line, out[-2000:])
            ran.append(line)
    print("ran %d commands of docs/installing.md on a virtual board; not here: %s"
          % (len(ran), skipped))
    assert len(ran) >= 8 and any("--romfs" in c for c in ran)
    assert all("github:" not in c for c in ran)
