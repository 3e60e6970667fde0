"""`make demo`: the device app over HTTPS on the virtual board, with one command.

With `make virtual-board` running in another terminal, this makes the test CA (build/test-ca,
as `make test-ca`), starts the stub authorization server over HTTPS on 127.0.0.1 with its
certificate (Zaikio profile; its client device-1 with secret s3cret; tokens that last seconds,
so a renewal shows), writes build/demo/config.json (config/examples/zaikio.config.json pointed
at the stub, a few short cycles), secrets.json and ca.pem, deploys them with the library and
the app (--set-clock), runs main.py and shows its output. The stub serves until main.py is
done; the board is then at its REPL. A real board cannot reach this machine's 127.0.0.1.
"""
import argparse
import json
import os
import sys
from pathlib import Path

import deploy
import test_ca
from toolchain import ROOT, ToolchainError

from stub_server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, StubServer

PORT_FILE = ROOT / "build" / "virtual-board.port"  # written by `make virtual-board`
EXAMPLE = ROOT / "config" / "examples" / "zaikio.config.json"


def write_files(out, stub_url, ca_pem, cycles, interval):
    """config.json, secrets.json and ca.pem in out, for the stub at stub_url."""
    out.mkdir(parents=True, exist_ok=True)
    cfg = json.loads(EXAMPLE.read_text())
    cfg.update(base_url=stub_url, api_url=stub_url + "/api/v1/person", cycles=cycles,
               interval=interval, repl_window=0, watchdog=60, wifi_ssid="virtual")
    (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    (out / "secrets.json").write_text(json.dumps(
        {"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET,
         "wifi_password": "virtual"}, indent=2) + "\n")
    (out / "ca.pem").write_bytes(Path(ca_pem).read_bytes())
    return out / "config.json", out / "secrets.json"


def _summary(line):
    if not line.startswith(("copied /", "removed /")):  # the clock and the totals
        print(line)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", help="the virtual board's pty (default: the one `make "
                    "virtual-board` wrote to build/virtual-board.port)")
    ap.add_argument("--cycles", type=int, default=3)
    ap.add_argument("--interval", type=float, default=5, help="seconds between cycles")
    ap.add_argument("--lifetime", type=int, default=8, help="token lifetime the stub issues")
    ap.add_argument("--out", default=str(ROOT / "build" / "demo"), help="config files here")
    ap.add_argument("--ca-dir", default=str(test_ca.OUT), help="the test CA (kept if there)")
    args = ap.parse_args(argv)
    port = args.port
    if not port and PORT_FILE.is_file():
        port = PORT_FILE.read_text().strip()
    if not port:
        print("demo: no virtual board: start `make virtual-board` in another terminal (or give"
              " --port)", file=sys.stderr)
        return 2
    try:
        ca = test_ca.make(args.ca_dir)
    except ToolchainError as e:
        print("demo: %s" % e, file=sys.stderr)
        return 1
    with StubServer("zaikio", admin_port=None, tls=test_ca.server_context(ca)) as stub:
        stub.reset({"profile": "zaikio", "lifetime": args.lifetime})
        cfg, sec = write_files(Path(args.out), stub.url, ca / "ca.pem", args.cycles,
                               args.interval)
        print("stub authorization server (zaikio) at %s, tokens for %d s; its test CA: %s"
              % (stub.url, args.lifetime, os.path.relpath(ca / "ca.pem")))
        print("deploying %s, %s and ca.pem to %s" % (os.path.relpath(cfg), sec.name, port),
              flush=True)
        try:
            deploy.deploy(port, cfg, sec, set_clock=True, log=_summary)
        except (deploy.DeployError, ToolchainError) as e:
            print("demo: %s" % e, file=sys.stderr)
            return 1
        print("running main.py for %d cycles (Ctrl-C stops it):" % args.cycles, flush=True)
        rc = deploy.run_main(port, timeout=60 + args.cycles * args.interval * 3)
        grants = [e.get("grant_type") for e in stub.log if e["path"].endswith("token")]
    print("token endpoint saw: %s" % (", ".join(g or "?" for g in grants) or "nothing"))
    print("the board is at its REPL: .venv/bin/mpremote connect %s resume repl" % port)
    return rc


if __name__ == "__main__":
    sys.exit(main())
