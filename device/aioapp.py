# The device app on asyncio (config.json "asyncio": true): app.py's configuration, client
# and cycle, with the token fetched and the API called while the other tasks keep running.
import asyncio

import app

from oauthcc import OAuthError
from oauthcc.aio import AsyncTokenClient

_IDLE_S = 60  # as app.py: a broken configuration is reported once a minute


class AsyncApp(app.App):
    async def cycle(self):
        """App.cycle, awaiting the network. Returns seconds to sleep before the next round."""
        c = self.client
        try:
            t = await c.token()
            if t is not self._token:
                self._token = t
                app.say("token: scope=%s lifetime=%ss refresh_token=%s" % (
                    t.scope, t.expires_in, "yes" if t.refresh_token else "no"))
                await self.report_roles(t)
            url = self.config.get("api_url")
            if url:
                method = self.config.get("api_method", "GET")
                r = await c.request(method, url)
                app.say("%s %s -> %d (%d bytes)" % (method, url, r.status, len(r.body)))
            self.last_error = None
            return self.config.get("interval", 60)
        except (OAuthError, OSError) as e:
            self.last_error = e
            wait = c.next_attempt_in_ms()
            if wait is None:
                app.say("permanent error, fix the configuration:", e)
                return _IDLE_S
            app.say("failed:", e)
            return max(wait / 1000, 1)

    async def report_roles(self, t):
        if not self.roles_url:
            return
        from oauthcc.roles import active_roles

        r = await self.client.request("GET", self.roles_url)
        order = r.json() if r.status == 200 else []
        self.roles = active_roles(t, order if isinstance(order, list) else [])
        app.say("roles:", ", ".join(self.roles) if self.roles else "(none)")


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
                config = app.load_json(config_path, "configuration")
                return await run(config, app.load_json(secrets_path, "secrets"))
            except app.ConfigError as e:
                app.say(e, "- retrying in %d s" % _IDLE_S)
                await asyncio.sleep(_IDLE_S)
    finally:
        for t in others:
            t.cancel()


def main(config_path="config.json", secrets_path="secrets.json", *tasks):
    """app.main on asyncio, beside `tasks`. KeyboardInterrupt always reaches the REPL."""
    return asyncio.run(_main(config_path, secrets_path, tasks))
