# One measured run under the MicroPython unix port, driven by tools/bench.py (not run by hand).
#   micropython -X heapsize=N -m bench_device <naive|lib> <base> <scope> <id> <secret> <ca|->
#       <cycles> <report 0|1>
# Prints OK after the last cycle; with report=1 also a BENCH line of JSON figures.
import gc
import sys

import micropython

gc.collect()
_A0 = gc.mem_alloc()


def _largest_block():
    # the largest single allocation the heap can still satisfy: fragmentation, not totals
    gc.collect()
    lo, hi = 0, gc.mem_free()
    while lo < hi:
        mid = (lo + hi + 1) // 2
        try:
            b = bytearray(mid)
            lo = mid
        except MemoryError:
            hi = mid - 1
        b = None  # noqa: F841
    return lo


def _in_use():
    gc.collect()
    return gc.mem_alloc() - _A0


def main():
    mode, base, scope, cid, secret, ca, n, report = sys.argv[1:9]
    n = int(n)
    report = report == "1"
    # every key exists before the import and the cycles, so filling in figures allocates
    # nothing that would sit in the middle of the heap and fragment it; nor does a checkpoint
    # format its keys (a stale pointer to such a string made "after N" look 16 bytes fuller)
    marks = {10: ("largest_free_10", "in_use_10"), n: ("largest_free_%d" % n, "in_use_%d" % n)}
    r = dict.fromkeys(("import_in_use", "import_peak", "cycle_peak", "in_use_1") + marks[10]
                      + marks[n])
    before = set(sys.modules) if report else None
    m = __import__("bench_" + mode)
    if report:
        r["import_in_use"] = _in_use()
        r["import_peak"] = micropython.mem_peak()
    cycle = m.setup(base, scope, cid, secret, None if ca == "-" else ca)
    for i in range(n):
        cycle(i)
        if report and i == 0:
            r["cycle_peak"] = micropython.mem_peak()
            # what the import and a fetch loaded: printed now, not kept
            # with those a renewal loads and lets go after it (oauthcc.client._RENEWAL)
            held = getattr(sys.modules.get("oauthcc.client"), "_RENEWAL", ())
            print("MODULES", " ".join(sorted(set(k for k in sys.modules if k not in before)
                                             | set("oauthcc." + k for k in held))))
            before = None
            r["in_use_1"] = _in_use()
        if report and i + 1 in marks:
            # the bisection first: it leaves the stack and heap in the same state at both
            # checkpoints, so stale pointers the conservative GC finds do not differ
            free, used = marks[i + 1]
            r[free] = _largest_block()
            r[used] = _in_use()
    print("OK")
    if report:
        import json

        print("BENCH " + json.dumps(r))


main()
