"""`make bench`: its tiny --quick mode produces every figure (values are not judged here, and
timings never are); the 32-bit binaries are built, cached and rebuilt as they should be, with
a stand-in build script wrapping the venv's 64-bit binary (no firmware is built here); the
relay counts what it sees; and, where MicroPython's source is there and the build cached, a
real 32-bit figure."""
import copy
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import bench
import bench_build
import pytest
import romfs_image
from bench_port import Port, Runner, stubs
from bench_wire import Relay
from toolchain import ToolchainError, find

from stub_server import StubServer

ROOT = Path(__file__).resolve().parent.parent

STAND_IN = """#!/bin/sh
# build-micropython's stand-in: "builds" by wrapping the venv's binaries; --frozen puts
# device/ on the path where the real build has it frozen
out= frozen=
while [ $# -gt 0 ]; do
  case $1 in --32) ;; --frozen) frozen=$2; shift ;; *) out=$1 ;; esac
  shift
done
echo "build${frozen:+ frozen}" >> "$(dirname "$0")/calls"
[ -z "$FAIL" ] || { echo "no gcc today" >&2; exit 1; }
mkdir -p "$out"
cp %(mpy_cross)s "$out/mpy-cross"
# the ROMFS build freezes the generated bench_romfs.py beside its manifest: on the path here
case $frozen in
  */romfs_manifest.py) extra=$(dirname "$frozen")/romfs ;;
  ?*) extra=%(device)s ;;
esac
path=; [ -z "$frozen" ] || path='MICROPYPATH="$MICROPYPATH:'"$extra"'" '
printf '#!/bin/sh\\n%%sexec %(mp)s "$@"\\n' "$path" > "$out/micropython"
chmod +x "$out/micropython"
"""


@pytest.fixture
def stand_in(tmp_path):
    """shared/scripts/build-micropython (the stand-in) and shared/micropython/<tarball>."""
    script = tmp_path / "shared" / "scripts" / "build-micropython"
    script.parent.mkdir(parents=True)
    script.write_text(STAND_IN % {"mpy_cross": find("mpy-cross"), "mp": find("micropython"),
                                  "device": ROOT / "device"})
    script.chmod(0o755)
    src = tmp_path / "shared" / "micropython"
    src.mkdir()
    (src / "micropython-1.28.0-src.tar.xz").write_bytes(b"source")
    return script


def calls(script):
    f = script.parent / "calls"
    return f.read_text().splitlines() if f.exists() else []


@pytest.mark.slow
def test_bench_quick_produces_every_figure_and_says_how_to_get_the_32_bit_rows(tmp_path):
    out = tmp_path / "bench.json"
    p = subprocess.run([sys.executable, str(ROOT / "tools" / "bench.py"), "--quick", "--json",
                        str(out), "--build-dir", str(tmp_path / "build"),
                        "--build-script", str(tmp_path / "no-such-script")],
                       capture_output=True, text=True, timeout=300, cwd=str(ROOT))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    res = json.loads(out.read_text())
    n = res["cycles"]
    assert set(res["ports"]) == {"64"}
    for k in ("32-mpy", "32-frozen", "32-romfs"):  # not measured: the rows say how to
        assert "build-micropython" in res["not_measured"][k]
        assert "--build-script" in res["not_measured"][k]
        assert "%s: no build script at" % bench.TITLES[k] in p.stdout
    port = res["ports"]["64"]
    assert "64-bit" in port["runtime"]
    assert set(port["min_heap"]) == {"naive_http", "lib_http", "lib_refresh_401_http",
                                     "naive_https", "lib_https", "naive_import", "lib_import",
                                     "app_https"}
    assert all(isinstance(v, int) and v > 0 for v in port["min_heap"].values())
    for run in ("naive_http", "lib_http", "naive_https", "lib_https"):
        f = port["runs"][run]
        n = res["cycles"] if run.endswith("http") else 10
        for k in ("import_in_use", "import_peak", "cycle_peak", "in_use_10", "in_use_%d" % n,
                  "largest_free_10", "largest_free_%d" % n, "cpu_s"):
            assert isinstance(f[k], int | float) and f[k] >= 0, (run, k)
    assert port["runs"]["lib_refresh_401_http"]["grants"] == ["client_credentials",
                                                              "refresh_token"]
    assert "cpu_ms_per_cycle" in port["runs"]["lib_http"] and "cpu_ratio" in port
    assert set(port["working_set"]) == {"naive_http", "lib_http", "naive_https", "lib_https"}
    assert {"client", "grant", "transport"} <= set(port["mpy_bytes"])
    assert "oauthcc.client" in port["fetch_modules"] and port["fetch_mpy_bytes"] > 0
    assert "oauthcc.client" in port["fetch_modules_https"]
    assert port["fetch_mpy_bytes_https"] >= port["fetch_mpy_bytes"]
    # the wire: one connection and one handshake per request today
    w = res["wire"]
    assert set(w) == {k for k, _ in bench.WIRE_ROWS} and res["wire_binary"] == "64"
    for k, requests in (("naive", 2), ("lib", 2), ("app_renewal", 3), ("app_cached", 1),
                        ("app_wake", 2)):
        assert w[k]["tls_handshakes"] <= w[k]["connections"] <= requests, k
        assert w[k]["bytes_sent"] > 0 and w[k]["bytes_received"] > 0 and not w[k]["unfinished"]
    day = res["tokens_per_day"]
    assert day["naive"]["every_call"] == 288 and day["naive"]["per_cycle_measured"] == 1
    assert all(set(v) == {"awake", "deep_sleep", "one_per_lifetime"}
               for k, v in day.items() if k.startswith("lib_"))
    for f in res["fleet"].values():
        assert f["devices"] == bench.QUICK_FLEET
        assert f["unfinished"] == 0 and f["early_refusals"] == 0
        assert f["peak_per_s"] > 0 and f["peak_ratio"] > 0
    targets = res["targets"]
    assert set(targets) == set(bench.TARGETS)
    for k in ("mpy32_http_ratio", "frozen32_http_ratio", "frozen32_https_ratio",
              "app32_mpy_heap"):
        assert targets[k] == [None, None]  # not measured: neither met nor MISSED
        assert "target %-20s n/a" % k in p.stdout
    assert all(isinstance(ok, bool) for k, (_, ok) in targets.items()
               if k not in ("mpy32_http_ratio", "frozen32_http_ratio", "frozen32_https_ratio",
                            "app32_mpy_heap"))
    assert targets["handshakes_per_wake"][0] == w["app_renewal"]["tls_handshakes"]
    assert "min heap" in p.stdout and "TLS" in p.stdout and "exits 0" in p.stdout
    # the target is the scenario; the 5-minute stress variant is still printed
    assert targets["fleet_peak_ratio"][0] == res["fleet"]["one_answer"]["peak_ratio"]
    assert "fleet outage_5min" in p.stdout and "first wave" in p.stdout

    # the same figures as four binaries: four columns, and the 32-bit targets judged
    for k in ("32-mpy", "32-frozen", "32-romfs"):
        res["ports"][k] = copy.deepcopy(port)
        res["not_measured"].pop(k)
    res["ports"]["32-frozen"].update(mpy_bytes={}, fetch_mpy_bytes=None, frozen=True)
    res["ports"]["32-romfs"].update(romfs_image_bytes=51046)
    res["targets"] = bench.verdicts(res)
    assert all(isinstance(ok, bool) for _, ok in res["targets"].values())
    assert res["targets"]["app32_mpy_heap"][0] == port["min_heap"]["app_https"]
    text = bench.table(res)
    assert all(bench.TITLES[k] in text.splitlines()[0] for k in bench.PORTS)
    assert "not measured" not in text and "; image 51046 bytes" in text


def test_no_build_script_says_where_it_was_looked_for(tmp_path, monkeypatch):
    monkeypatch.delenv(bench_build.SCRIPT_ENV, raising=False)
    monkeypatch.setattr(bench_build, "ROOT", tmp_path / "checkout")
    with pytest.raises(bench_build.Unavailable, match=r"\.\./shared/.*--build-script"):
        bench_build.find_script()
    with pytest.raises(bench_build.Unavailable, match="no build script at /nowhere"):
        bench_build.find_script("/nowhere")
    script = tmp_path / "shared" / "scripts" / "build-micropython"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    with pytest.raises(bench_build.Unavailable, match="no MicroPython source beside it"):
        bench_build.find_script()  # found above the checkout, but no tarball


def test_found_above_the_checkout_or_through_the_environment(stand_in, tmp_path, monkeypatch):
    monkeypatch.delenv(bench_build.SCRIPT_ENV, raising=False)
    monkeypatch.setattr(bench_build, "ROOT", tmp_path / "wt" / "checkout")
    tarball = stand_in.parent.parent / "micropython" / "micropython-1.28.0-src.tar.xz"
    assert bench_build.find_script() == (stand_in, tarball)
    monkeypatch.setattr(bench_build, "ROOT", tmp_path.parent / "elsewhere")
    monkeypatch.setenv(bench_build.SCRIPT_ENV, str(stand_in))
    assert bench_build.find_script() == (stand_in, tarball)


def test_builds_are_cached_and_rebuilt_when_script_source_or_frozen_files_change(
        stand_in, tmp_path, monkeypatch):
    tarball = stand_in.parent.parent / "micropython" / "micropython-1.28.0-src.tar.xz"
    cache = tmp_path / "firmware"
    said = []
    d, took = bench_build.build("32-mpy", stand_in, tarball, cache, said.append)
    assert (d / "micropython").is_file() and (d / "mpy-cross").is_file() and took > 0
    assert "building the 32-mpy" in said[0] and calls(stand_in) == ["build"]
    assert bench_build.build("32-mpy", stand_in, tarball, cache, said.append) == (d, 0.0)
    f, _ = bench_build.build("32-frozen", stand_in, tarball, cache, said.append)
    assert calls(stand_in) == ["build", "build frozen"] and f != d
    # the frozen build freezes the stock variant's modules and this project's manifest
    m = (cache / "frozen_manifest.py").read_text()
    assert "variants/standard/manifest.py" in m and str(bench_build.MANIFEST) in m
    # a change to what is frozen rebuilds the frozen binary only, and the old one goes
    fake = tmp_path / "manifest.py"
    fake.write_text(bench_build.MANIFEST.read_text() + "\n# changed\n")
    monkeypatch.setattr(bench_build, "MANIFEST", fake)
    monkeypatch.setattr(bench_build, "manifest", lambda: ([], [fake]))
    assert bench_build.build("32-mpy", stand_in, tarball, cache, said.append) == (d, 0.0)
    f2, _ = bench_build.build("32-frozen", stand_in, tarball, cache, said.append)
    assert f2 != f and not f.exists() and len(calls(stand_in)) == 3
    tarball.write_bytes(b"another source")  # a new source rebuilds both
    assert bench_build.build("32-mpy", stand_in, tarball, cache, said.append)[0] != d
    stand_in.write_text(stand_in.read_text() + "\n")  # so does a new script
    assert bench_build.build("32-mpy", stand_in, tarball, cache, said.append)[0] != d
    assert len(calls(stand_in)) == 5


def test_a_failed_build_names_its_log_and_caches_nothing(stand_in, tmp_path, monkeypatch):
    tarball = next((stand_in.parent.parent / "micropython").iterdir())
    monkeypatch.setenv("FAIL", "1")
    with pytest.raises(bench_build.Unavailable, match=r"32-mpy build failed \(exit 1\): see "):
        bench_build.build("32-mpy", stand_in, tarball, tmp_path / "fw", lambda s: None)
    assert "no gcc today" in (tmp_path / "fw" / "32-mpy.log").read_text()
    assert not list((tmp_path / "fw").glob("32-mpy-*"))
    monkeypatch.delenv("FAIL")
    bench_build.build("32-mpy", stand_in, tarball, tmp_path / "fw", lambda s: None)
    assert len(calls(stand_in)) == 2  # tried again


def test_a_frozen_port_runs_the_app_and_a_plain_binary_is_refused_as_frozen(stand_in,
                                                                              tmp_path):
    tarball = next((stand_in.parent.parent / "micropython").iterdir())
    d, _ = bench_build.build("32-frozen", stand_in, tarball, tmp_path / "fw", lambda s: None)
    port = Port("frozen", str(d / "micropython"), str(d / "mpy-cross"), tmp_path / "f",
                frozen=True)
    assert port.build() == {}  # nothing of the library compiled: it is "frozen"
    assert not (tmp_path / "f" / "lib").exists() and not (tmp_path / "f" / "app.mpy").exists()
    with stubs(tmp_path / "ca.der") as servers:
        r = Runner(port, servers, tmp_path / "ca.der")
        ok, out = r.run_app(512 * 1024)
        assert ok, out
        assert "roles: owner, admin" in out and "-> 200" in out
        assert not r.run_app(8 * 1024)[0]  # too small a heap is a failed run, not a figure
    plain = Port("plain", find("micropython"), find("mpy-cross"), tmp_path / "p", frozen=True)
    with pytest.raises(ToolchainError, match="has not frozen oauthcc"):
        plain.build()


def test_a_romfs_port_runs_from_its_image_and_is_rebuilt_when_the_image_changes(stand_in,
                                                                                 tmp_path):
    tarball = next((stand_in.parent.parent / "micropython").iterdir())
    fw, said = tmp_path / "fw", []
    args = SimpleNamespace(mpy_args="")
    port, _ = bench.romfs_port(stand_in, tarball, fw, tmp_path / "bench", args, said.append)
    # the standard build's mpy-cross compiles the image, then the binary freezes it
    assert calls(stand_in) == ["build", "build frozen"] and port.romfs and not port.frozen
    assert port.image.startswith(b"\xd2\xcd\x31")
    assert "IMAGE = b'\\xd2\\xcd1" in (fw / "romfs" / "bench_romfs.py").read_text()
    sizes = port.build()  # refused unless oauthcc and app import from /rom
    assert {"client", "grant", "transport"} <= set(sizes)
    assert not (tmp_path / "bench" / "32-romfs" / "lib").exists()
    assert not (tmp_path / "bench" / "32-romfs" / "app.mpy").exists()
    assert port.argv(["-m", "bench_device", "lib"]) == ["-m", "bench_romfs", "bench_device",
                                                        "lib"]
    assert port.argv(["main.py"]) == ["-m", "bench_romfs", "main"]
    with stubs(tmp_path / "ca.der") as servers:
        r = Runner(port, servers, tmp_path / "ca.der")
        ok, out = r.run_app(512 * 1024)
        assert ok and "roles: owner, admin" in out, out
        ok, f, _ = r.run("lib", "http", 512 * 1024, 1, report=True)
        assert ok and "oauthcc.client" in f["modules"]
    # the same image: cached; another image: another binary, and the old one goes
    again, took = bench.romfs_port(stand_in, tarball, fw, tmp_path / "bench", args, said.append)
    assert took == 0 and again.micropython == port.micropython and len(calls(stand_in)) == 2
    d, _ = bench_build.build("32-romfs", stand_in, tarball, fw, said.append, image=b"other")
    assert str(d) != str(Path(port.micropython).parent) and len(calls(stand_in)) == 3
    assert not Path(port.micropython).exists()
    plain = Port("plain", find("micropython"), find("mpy-cross"), tmp_path / "p", romfs=True)
    with pytest.raises(ToolchainError, match="has no ROMFS image of oauthcc and app"):
        plain.build()


def test_a_source_port_runs_the_library_and_the_app_as_py_as_mip_installs_them(tmp_path):
    port = Port("py", find("micropython"), find("mpy-cross"), tmp_path / "py", source=True)
    assert port.build() == {}  # no .mpy of the library: sizes are not .mpy sizes
    lib = tmp_path / "py" / "lib" / "oauthcc"
    assert sorted(f.name for f in lib.iterdir()) == sorted(
        f.name for f in (ROOT / "device" / "oauthcc").glob("*.py"))
    assert (tmp_path / "py" / "app.py").is_file() and not (tmp_path / "py" / "app.mpy").exists()
    with stubs(tmp_path / "ca.der") as servers:
        r = Runner(port, servers, tmp_path / "ca.der")
        ok, f, _ = r.run("lib", "http", 512 * 1024, 1, report=True)
        assert ok and "oauthcc.client" in f["modules"]
        ok, out = r.run_app(512 * 1024)
        assert ok and "roles: owner, admin" in out, out
    assert set(bench.ALL_PORTS) - set(bench.PORTS) == {"32-py"}  # only when asked for


def test_the_relay_counts_connections_handshakes_and_bytes(tmp_path):
    import ssl

    from bench_port import tls_context

    ctx = tls_context(tmp_path / "ca.der")
    with StubServer("generic") as plain, StubServer("generic", tls=ctx) as tls:
        with Relay(plain.port, "http") as relay:
            for _ in range(2):
                with urllib.request.urlopen(relay.url + "/_stub/log") as r:
                    r.read()
            c = relay.take()
            assert c["connections"] == 2 and c["tls_handshakes"] == 0 and not c["unfinished"]
            assert c["bytes_sent"] > 40 and c["bytes_received"] > 40
            assert relay.take()["connections"] == 0  # counted once
        with Relay(tls.port) as relay:
            client = ssl.create_default_context(cafile=None)
            client.load_verify_locations(cadata=(tmp_path / "ca.der").read_bytes())
            with urllib.request.urlopen(relay.url + "/_stub/log", context=client) as r:
                r.read()
            c = relay.take()
            assert c["connections"] == 1 and c["tls_handshakes"] == 1
            assert c["bytes_received"] > 500  # the server's certificate came through


@pytest.mark.slow
def test_a_real_32_bit_build_gives_a_figure(tmp_path):
    try:
        script, tarball = bench_build.find_script()
    except bench_build.Unavailable as e:
        pytest.skip(str(e))
    cache = ROOT / "build" / "firmware"
    key = bench_build.key(script, tarball, False)
    if (not (cache / ("32-mpy-" + key) / "micropython").is_file()
            and not os.environ.get("OAUTHCC_BENCH_BUILD")):
        pytest.skip("the 32-bit build is not cached: `make bench` builds it (about a minute),"
                    " or set OAUTHCC_BENCH_BUILD=1")
    d, _ = bench_build.build("32-mpy", script, tarball, cache, print)
    port = Port("32-bit", str(d / "micropython"), str(d / "mpy-cross"), tmp_path / "32")
    port.build()
    assert "32-bit" in port.runtime()
    with stubs(tmp_path / "ca.der") as servers:
        assert Runner(port, servers, tmp_path / "ca.der").min_heap("lib", "http", 4096) > 0


@pytest.mark.slow
def test_a_real_32_bit_romfs_build_keeps_its_image_out_of_the_gc_heap(tmp_path):
    # what makes the ROMFS row honest: the image is in the binary, as a partition is in flash
    try:
        script, tarball = bench_build.find_script()
    except bench_build.Unavailable as e:
        pytest.skip(str(e))
    cache = ROOT / "build" / "firmware"
    build = os.environ.get("OAUTHCC_BENCH_BUILD")
    if not (cache / ("32-mpy-" + bench_build.key(script, tarball, False))).is_dir() and not build:
        pytest.skip("the 32-bit build is not cached: `make bench` builds it, or set "
                    "OAUTHCC_BENCH_BUILD=1")
    d, _ = bench_build.build("32-mpy", script, tarball, cache, print)
    probe = Port("probe", None, str(d / "mpy-cross"), tmp_path / "probe", romfs=True)
    image = romfs_image.build(probe.image_files())
    if (not (cache / ("32-romfs-" + bench_build.key(script, tarball, False, image))).is_dir()
            and not build):
        pytest.skip("the 32-bit ROMFS build of this image is not cached: `make bench` builds "
                    "it (about a minute), or set OAUTHCC_BENCH_BUILD=1")
    port, _ = bench.romfs_port(script, tarball, cache, tmp_path / "bench",
                               SimpleNamespace(mpy_args=""), print)
    port.build()
    p = subprocess.run([port.micropython, "-c", "import gc\ngc.collect()\na = gc.mem_alloc()\n"
                        "import bench_romfs\ngc.collect()\n"
                        "print(gc.mem_alloc() - a, len(bench_romfs.IMAGE))"],
                       capture_output=True, text=True, timeout=30, cwd=str(port.out),
                       env=dict(os.environ, MICROPYPATH=".frozen"))
    used, size = map(int, p.stdout.split())
    print("mounting the %d-byte image costs %d bytes of GC heap" % (size, used))
    assert size == len(image) > 40000 and used < 1024
