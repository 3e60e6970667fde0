"""`make run`: the device app on the MicroPython unix port against the stub server.

Starts the stub (Zaikio profile, person token with roles, short token lifetime so a renewal
shows within seconds), writes config.json and secrets.json into build/run/ as they would be
on a board, and runs main.py there (device/ on the path) for a few cycles. Stops by itself.
"""
import argparse
import json
import os
import subprocess
import sys

from toolchain import ROOT, find

from stub_server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, ORG_ID, PERSON_ID, StubServer


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--micropython", help="default: the venv's")
    ap.add_argument("--cycles", type=int, default=6)
    ap.add_argument("--interval", type=float, default=2)
    ap.add_argument("--lifetime", type=int, default=6, help="token lifetime the stub issues")
    ap.add_argument("--token-format", choices=("jwt", "opaque"), default="jwt")
    ap.add_argument("--asyncio", action="store_true", help="run the app in asyncio mode")
    args = ap.parse_args()
    args.micropython = args.micropython or find("micropython")
    if os.sep in args.micropython:  # the app runs in build/run: a relative path would break
        args.micropython = os.path.abspath(args.micropython)

    run_dir = ROOT / "build" / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    with StubServer(profile="zaikio") as stub:
        stub.reset({"profile": "zaikio", "lifetime": args.lifetime,
                    "token_format": args.token_format})
        config = {
            "profile": "zaikio",
            "base_url": stub.url,
            "scope": ["Per/%s>Org/%s.zaikio.machines.rw" % (PERSON_ID, ORG_ID)],
            "api_url": stub.url + "/api/v1/resource",
            "interval": args.interval,
            "cycles": args.cycles,
            "repl_window": 0,  # no boot-time Ctrl-C window on the host
        }
        if args.asyncio:
            config["asyncio"] = True
        (run_dir / "config.json").write_text(json.dumps(config, indent=2))
        (run_dir / "secrets.json").write_text(json.dumps(
            {"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}))
        print("stub authorization server (zaikio) at %s, token lifetime %d s" % (
            stub.url, args.lifetime))
        env = dict(os.environ, MICROPYPATH=".frozen:" + str(ROOT / "device"))
        cmd = [args.micropython, str(ROOT / "main.py")]  # as the board would
        p = subprocess.run(cmd, cwd=run_dir, env=env, stdin=subprocess.DEVNULL,
                           timeout=60 + args.cycles * args.interval * 2)
        grants = [e.get("grant_type") for e in stub.log if e["path"].endswith("token")]
        print("token endpoint saw: %s" % ", ".join(g or "?" for g in grants))
    return p.returncode


if __name__ == "__main__":
    sys.exit(main())
