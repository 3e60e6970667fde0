# The device main loop: configuration, token, roles, API call, sleep. main.py calls main().
import json
import time

import oauthcc
from oauthcc import OAuthError

_IDLE_S = 60  # a broken configuration is reported once a minute, not in a crash loop


class ConfigError(Exception):
    pass


def say(*args):
    print("[app]", *args)


def load_json(path, what):
    try:
        with open(path) as f:
            data = json.load(f)
    except OSError:
        raise ConfigError("%s missing: %s (see config/examples/)" % (what, path))
    except ValueError:
        raise ConfigError("%s is not valid JSON: %s" % (what, path))
    if not isinstance(data, dict):
        raise ConfigError("%s must hold a JSON object: %s" % (what, path))
    return data


def make_client(config, secrets, cls=None):
    """A TokenClient (or cls) from config.json and secrets.json. ConfigError when they do not
    fit."""
    kw = {}
    for key in ("token_path", "auth_method_id", "api_id", "audience", "auth", "scope_separator",
                "basic_encode", "leeway", "timeout", "deadline", "verify", "params"):
        if key in config:
            kw[key] = config[key]
    if config.get("ca"):
        kw["ca"] = config["ca"]  # a file name on the board's flash
    if config.get("state_file"):
        from oauthcc.store import FileStore

        kw["store"] = FileStore(config["state_file"])
    api = [config[k] for k in ("api_url", "roles_url") if config.get(k)]
    try:
        return oauthcc.from_profile(
            config.get("profile", "custom"), secrets.get("client_id"),
            secrets.get("client_secret"), config.get("scope"), config.get("base_url"),
            api_origins=api, log=lambda msg: print("[oauthcc]", msg), cls=cls, **kw)
    except (ValueError, TypeError) as e:
        raise ConfigError("configuration rejected: %s" % e)


class App:
    def __init__(self, config, client):
        self.config = config
        self.client = client
        self.roles_url = config.get("roles_url")
        if self.roles_url is None and config.get("profile") in ("zaikio", "heidelberg"):
            self.roles_url = config["base_url"].rstrip("/") + "/api/v1/roles"
        self._token = None
        self.roles = None
        self.last_error = None

    def cycle(self):
        """One round: ensure a token, read roles on every new token, call the API.

        Returns seconds to sleep before the next round.
        """
        c = self.client
        try:
            t = c.token()
            if t is not self._token:
                self._token = t
                say("token: scope=%s lifetime=%ss refresh_token=%s" % (
                    t.scope, t.expires_in, "yes" if t.refresh_token else "no"))
                self.report_roles(t)
            url = self.config.get("api_url")
            if url:
                r = c.request(self.config.get("api_method", "GET"), url)
                say("%s %s -> %d (%d bytes)" % (self.config.get("api_method", "GET"), url,
                                                  r.status, len(r.body)))
            self.last_error = None
            return self.config.get("interval", 60)
        except (OAuthError, OSError) as e:
            self.last_error = e
            wait = c.next_attempt_in_ms()
            if wait is None:
                say("permanent error, fix the configuration:", e)
                return _IDLE_S
            say("failed:", e)
            return max(wait / 1000, 1)

    def report_roles(self, t):
        if not self.roles_url:
            return
        from oauthcc.roles import active_roles

        # the role order is fetched with every new token, so a reordered list never shifts
        # the bits under a running device
        r = self.client.request("GET", self.roles_url)
        order = r.json() if r.status == 200 else []
        self.roles = active_roles(t, order if isinstance(order, list) else [])
        say("roles:", ", ".join(self.roles) if self.roles else "(none)")


def main(config_path="config.json", secrets_path="secrets.json", sleep=time.sleep):
    """Run forever (or config "cycles" rounds). KeyboardInterrupt always reaches the REPL."""
    while True:
        try:
            config = load_json(config_path, "configuration")
            if config.get("asyncio"):  # the same app on asyncio: aioapp.py
                import aioapp

                return aioapp.main(config_path, secrets_path)
            app = App(config, make_client(config, load_json(secrets_path, "secrets")))
            break
        except ConfigError as e:
            say(e, "- retrying in %d s" % _IDLE_S)
            sleep(_IDLE_S)
    cycles = config.get("cycles", 0)
    n = 0
    while not cycles or n < cycles:
        n += 1
        wait = app.cycle()
        if cycles and n >= cycles:
            break
        sleep(wait)
    return app
