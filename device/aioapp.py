# The device app on asyncio (config.json "asyncio": true): app.py's configuration, client
# and decisions, with the token fetched and the API called while the other tasks keep running.
import asyncio

from app import IDLE_S, App, make_client, say

from oauthcc import OAuthError
from oauthcc.aio import AsyncTokenClient


class AsyncApp(App):
    async def cycle(self):
        """App.cycle with the network awaited: the same decisions, from app.App."""
        c = self.client
        try:
            t = await c.token()
            if self.roles_due(t):
                self.roles_from(t, await c.request("GET", self.roles_url))
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
    return AsyncApp(config, make_client(config, secrets, AsyncTokenClient), secrets=secrets)


async def run(config, secrets, *tasks):
    """Run the token and API cycle (forever, or config "cycles" rounds) beside `tasks`, your
    own coroutines (sensors, MQTT, a web server); they are cancelled when the cycle ends.
    settings.ConfigError when the configuration does not fit (see start)."""
    return await _cycles(start(config, secrets), tasks)


async def _cycles(a, tasks):
    others = [asyncio.create_task(t) for t in tasks]
    try:
        cycles = a.config["cycles"]
        n = 0
        while not cycles or n < cycles:
            n += 1
            wait = await a.cycle()
            if cycles and n >= cycles:
                break
            say("next cycle in %d s" % round(wait))
            await asyncio.sleep(wait)
    finally:
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
