# The device app on asyncio (config.json "asyncio": true): app.py's configuration, client
# and cycle, with the token fetched and the API called while the other tasks keep running.
import asyncio

import app

from oauthcc import OAuthError
from oauthcc.aio import AsyncTokenClient


class AsyncApp(app.App):
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


async def run(config, secrets, *tasks):
    """Run the token and API cycle (forever, or config "cycles" rounds) beside `tasks`, your
    own coroutines (sensors, MQTT, a web server); they are cancelled when the cycle ends.
    ConfigError when the configuration does not fit."""
    a = AsyncApp(config, app.make_client(config, secrets, AsyncTokenClient))
    others = [asyncio.create_task(t) for t in tasks]
    try:
        cycles = config.get("cycles", 0)
        n = 0
        while not cycles or n < cycles:
            n += 1
            wait = await a.cycle()
            if cycles and n >= cycles:
                break
            await asyncio.sleep(wait)
    finally:
        for t in others:
            t.cancel()
    return a


async def _main(config_path, secrets_path, tasks):
    others = [asyncio.create_task(t) for t in tasks]  # they run even while config is broken
    try:
        while True:
            try:
                config = app.check_config(app.load_json(config_path, "configuration"))
                return await run(config, app.load_json(secrets_path, "secrets"))
            except app.ConfigError as e:
                app.say(e, "- retrying in %d s" % app._IDLE_S)
                await asyncio.sleep(app._IDLE_S)
    finally:
        for t in others:
            t.cancel()


def main(config_path="config.json", secrets_path="secrets.json", *tasks):
    """app.main on asyncio, beside `tasks`. KeyboardInterrupt always reaches the REPL."""
    return asyncio.run(_main(config_path, secrets_path, tasks))
