# From boot to the loop, blocking: main.py calls main(). The way back to the REPL,
# config.json and secrets.json (checked, or retried once a minute), the watchdog, then run():
# app.App's decisions with the waiting, the sleep modes and the crash handling. With config
# "asyncio": true, main() hands over to aioapp.main() instead.
from app import IDLE_S, App, bounded, make_client, say
from state import Shared, open_store


def run(app, board, cycles=0):
    """The waiting half: network, clock, cycle, sleep; forever, or `cycles` rounds.

    Whatever a cycle raises (but KeyboardInterrupt and SystemExit, which reach the REPL) is
    logged and backed off by App.crashed, and the loop goes on; the board is reset only for a
    MemoryError that persists, at most once a day (see App.crashed)."""
    cfg = app.config
    mode = cfg["sleep"]  # idle (Ctrl-C works), light, deep
    n = 0
    try:
        while not cycles or n < cycles:
            n += 1
            try:
                wait = app.network()
                if not wait:
                    app.clock()
                    wait = app.cycle()
                wait = bounded(wait)  # no wait computed from it below can raise
            except Exception as e:
                wait, reset = app.crashed(e)
                if reset:
                    say("MemoryError in every cycle for an hour or more: resetting the board")
                    board.reset()
            if cycles and n >= cycles:
                break
            say("next cycle in %d s" % round(wait))  # a long interval is not a hang
            app.rest()  # no connection kept through any sleep
            try:
                if mode == "deep" and wait >= cfg["deep_min"] and board.deepsleep(wait):
                    return  # only where deep sleep returns (a fake): the board boots anew
                board.wait(wait, light=(mode == "light"))
            except Exception as e:  # a sleep the port refuses must not end the loop
                say("sleep failed (%s: %s): idling instead" % (type(e).__name__, e))
                board.wait(wait)
    finally:
        app.rest()  # the loop is over (cycles, Ctrl-C): nothing left open at the REPL


def main(config_path="config.json", secrets_path="secrets.json", board=None):
    """Run forever (or config "cycles" rounds). KeyboardInterrupt always reaches the REPL,
    with the watchdog re-armed at its longest timeout first."""
    if board is None:
        from board import Board

        board = Board()
    try:
        return _main(config_path, secrets_path, board)
    finally:
        board.disarm()  # the loop is over (Ctrl-C, "cycles", an error): the REPL needs time


def _main(config_path, secrets_path, board):
    import gc

    import settings

    try:
        cfg = settings.load(config_path)
    except Exception:  # reported below; the way back to the REPL opens all the same
        cfg = settings.check({})
    window = cfg["repl_window"]
    if window is None:
        window = 1 if board.woke_from_deepsleep() else 3
    if board.hold_loop(cfg["repl_flag"], cfg["repl_pin"], window):
        return None
    while True:
        try:
            cfg = settings.load(config_path)
            if cfg["asyncio"]:
                break
            secrets = settings.load(secrets_path, "secrets.json")
            shared = Shared(open_store(board, cfg["state_file"]), say)
            gc.collect()  # the client's modules land low, not between the boot's garbage
            client = make_client(cfg, secrets, store=shared.part("c"))
            gc.collect()
            app = App(cfg, client, board, shared.part("a"), secrets)
            break
        except settings.ConfigError as e:
            say(e, "- retrying in %d s" % IDLE_S)
        except Exception as e:  # memory, the flash: not the configuration, and said so
            say("not started (%s: %s) - retrying in %d s" % (type(e).__name__, e, IDLE_S))
        board.wait(IDLE_S)
    margin = settings.DNS_S * 1000  # what the watchdog needs beyond a request (see fit)
    del settings  # the schema serves the boot only: let its tables go back to the heap
    import sys

    sys.modules.pop("settings", None)
    if cfg["asyncio"]:  # the same app on asyncio: aioapp.py (no board layer yet, so no
        import aioapp  # watchdog is armed: aioapp would not feed it)

        return aioapp.main(config_path, secrets_path)
    want = int(cfg["watchdog"] * 1000)
    if board.arm(want) and board.wdt_ms < want:
        fit(app.client, board.wdt_ms, margin)
    run(app, board, cfg["cycles"])
    return app


def fit(client, wdt_ms, margin):
    """A watchdog the port cut (rp2: at most 8388 ms) bounds each request too, as it is fed
    only before each: the deadline and the per-read timeout cut so that they leave the
    margin settings asks for (DNS, outside the deadline, and the work between feeds), or a
    quarter of the watchdog when that is less, and said so."""
    t = getattr(client, "_transport", None)
    most = max(wdt_ms - margin, wdt_ms * 3 // 4)
    if t is not None and getattr(t, "deadline_ms", 0) > most:
        say("watchdog %d ms: request deadline %d ms, timeout %d ms cut to %d ms" % (
            wdt_ms, t.deadline_ms, t.timeout_ms, most))
        t.deadline_ms = most
        t.timeout_ms = min(t.timeout_ms, most)
