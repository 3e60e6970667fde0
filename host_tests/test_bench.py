"""`make bench` in its tiny --quick mode: every figure is produced (values are not judged here,
and timings never are)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_bench_quick_produces_every_figure(tmp_path):
    out = tmp_path / "bench.json"
    p = subprocess.run([sys.executable, str(ROOT / "tools" / "bench.py"), "--quick", "--json",
                        str(out)], capture_output=True, text=True, timeout=300, cwd=str(ROOT))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    res = json.loads(out.read_text())
    n = res["cycles"]
    assert set(res["min_heap"]) == {"naive_http", "lib_http", "lib_refresh_401_http",
                                    "naive_https", "lib_https", "naive_import", "lib_import"}
    assert all(isinstance(v, int) and v > 0 for v in res["min_heap"].values())
    for run in ("naive_http", "lib_http", "naive_https", "lib_https"):
        f = res["runs"][run]
        n = res["cycles"] if run.endswith("http") else 10
        for k in ("import_in_use", "import_peak", "cycle_peak", "in_use_10", "in_use_%d" % n,
                  "largest_free_10", "largest_free_%d" % n, "cpu_s"):
            assert isinstance(f[k], int | float) and f[k] >= 0, (run, k)
    assert res["runs"]["lib_refresh_401_http"]["grants"] == ["client_credentials",
                                                             "refresh_token"]
    assert "cpu_ms_per_cycle" in res["runs"]["lib_http"] and "cpu_ratio" in res
    assert set(res["working_set"]) == {"naive_http", "lib_http", "naive_https", "lib_https"}
    assert res["lib_frozen_min_heap_http_est"] > 0
    assert {"client", "grant", "transport"} <= set(res["mpy_bytes"])
    assert "oauthcc.client" in res["fetch_modules"] and res["fetch_mpy_bytes"] > 0
    assert "oauthcc.client" in res["fetch_modules_https"]
    assert res["fetch_mpy_bytes_https"] >= res["fetch_mpy_bytes"]
    day = res["tokens_per_day"]
    assert day["naive"]["every_call"] == 288 and day["naive"]["per_cycle_measured"] == 1
    assert all(set(v) == {"awake", "deep_sleep", "one_per_lifetime"}
               for k, v in day.items() if k.startswith("lib_"))
    for f in res["fleet"].values():
        assert f["devices"] == 1000 and f["unfinished"] == 0 and f["early_refusals"] == 0
        assert f["peak_per_s"] > 0 and f["peak_ratio"] > 0
    assert set(res["targets"]) == {"min_heap_http_ratio", "fetch_mpy_bytes", "tokens_per_day",
                                   "leak", "fleet_peak_ratio"}
    assert all(isinstance(ok, bool) for _, ok in res["targets"].values())
    assert "target" in p.stdout and "min heap" in p.stdout
    # the target is the scenario; the 5-minute stress variant is still printed
    assert res["targets"]["fleet_peak_ratio"][0] == res["fleet"]["one_answer"]["peak_ratio"]
    assert "fleet outage_5min" in p.stdout and "first wave" in p.stdout
