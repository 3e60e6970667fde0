# The device app on asyncio (config.json "asyncio": true): app.py's configuration, client
# and decisions, with the token fetched and the API called while the other tasks keep running.
import asyncio

from app import IDLE_S, App, bounded, make_client, say

import oauthcc
from oauthcc import OAuthError
from oauthcc.aio import AsyncTokenClient


class AsyncApp(App):
    resets = False  # no board here: an error is backed off, never a reset

    async def cycle(self):
        """App.cycle with the network awaited: the same decisions, from app.App."""
        c = self.client
        try:
            t = await c.token()
            if self.roles_due(t):
                self.roles_from(t, await c.request("GET", self.roles_url))
                oauthcc.release(("roles", "jwt"))  # once per token: their code back to the heap
            call = self.api_call()
            if call:
                self.api_done(call, await c.request(*call))
            return self.succeeded()
        except (OAuthError, OSError) as e:
            return self.failed(e)


def start(config, secrets):
    """An AsyncApp and its AsyncTokenClient from the dicts of config.json and secrets.json.
    settings.ConfigError when they do not fit."""
    from settings import check

    config, secrets = check(config), check(secrets, "secrets.json")
    shared = None
    if config["state_file"]:  # the blocking app's layout: part "c" the client's, "a" the app's
        from state import Shared

        from oauthcc.store import FileStore

        shared = Shared(FileStore(config["state_file"]), say)
    part = shared.part if shared else lambda name: None
    client = make_client(config, secrets, AsyncTokenClient, part("c"))
    return AsyncApp(config, client, memory=part("a"), secrets=secrets)


async def run(config, secrets, *tasks):
    """Run the token and API cycle (forever, or config "cycles" rounds) beside `tasks`, your
    own coroutines (sensors, MQTT, a web server); they are cancelled when the cycle ends.
    Whatever a cycle raises is logged and backed off (App.crashed), and your tasks keep
    running; KeyboardInterrupt and SystemExit end it. settings.ConfigError when the
    configuration does not fit (see start)."""
    return await _cycles(start(config, secrets), tasks)


async def _cycles(a, tasks):
    others = [asyncio.create_task(t) for t in tasks]
    try:
        cycles = a.config["cycles"]
        n = 0
        while not cycles or n < cycles:
            n += 1
            try:
                wait = bounded(await a.cycle())  # as in mainloop.run
            except Exception as e:
                wait = a.crashed(e)[0]
            if cycles and n >= cycles:
                break
            say("next cycle in %d s" % round(wait))
            a.rest()  # no connection kept through the sleep
            await asyncio.sleep(wait)
    finally:
        a.rest()
        for t in others:
            t.cancel()
    return a


async def _boot(config_path, secrets_path):
    import settings

    while True:
        try:
            return start(settings.load(config_path), settings.load(secrets_path, "secrets.json"))
        except settings.ConfigError as e:
            say(e, "- retrying in %d s" % IDLE_S)
        except Exception as e:  # memory, the flash: not the configuration, and said so
            say("not started (%s: %s) - retrying in %d s" % (type(e).__name__, e, IDLE_S))
        await asyncio.sleep(IDLE_S)


async def _main(config_path, secrets_path, tasks):
    others = [asyncio.create_task(t) for t in tasks]  # they run even while config is broken
    try:
        a = await _boot(config_path, secrets_path)
        import sys

        sys.modules.pop("settings", None)  # as in mainloop: the schema serves the boot only
        return await _cycles(a, ())
    finally:
        for t in others:
            t.cancel()


def main(config_path="config.json", secrets_path="secrets.json", *tasks):
    """mainloop.main on asyncio, beside `tasks`. KeyboardInterrupt always reaches the REPL."""
    return asyncio.run(_main(config_path, secrets_path, tasks))
