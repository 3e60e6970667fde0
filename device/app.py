# The device main loop: configuration, Wi-Fi, clock, token, roles, API call, sleep, watchdog.
# main.py calls main(). App holds the decisions (each step returns how long to wait); run()
# does the waiting, so an asyncio loop can reuse App with its own waits.
import json

from state import Shared, open_store

import oauthcc
from oauthcc import OAuthError
from oauthcc._port import const, ticks_add, ticks_diff, ticks_ms, unix_time

_IDLE_S = 60  # a broken configuration is reported once a minute, not in a crash loop
_NTP_EVERY_MS = const(86_400_000)  # re-sync daily: the RTC drifts seconds a day
_NTP_RETRY_MS = const(600_000)  # NTP failed (UDP blocked?): try again in ten minutes
_MAX_CRASHES = const(5)  # unexpected errors in a row, each backed off, before a reset


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


# The kind of every config.json key the app or the library reads: a value of another kind is
# a ConfigError that names the key, never obeyed ("300" * 1000 is a string, not 5 minutes).
_NUMBERS = ("interval", "cycles", "wifi_timeout", "ntp_timeout", "watchdog", "repl_window",
            "deep_min", "leeway", "timeout", "deadline")
_STRINGS = ("profile", "base_url", "api_url", "roles_url", "api_method", "ca", "state_file",
            "wifi_ssid", "ntp_host", "repl_flag", "token_path", "auth_method_id", "api_id",
            "audience", "auth", "scope_separator")
_FLAGS = ("asyncio", "basic_encode", "verify")


def check_config(config):
    """ConfigError naming the first key whose value is of the wrong kind."""
    for k, v in config.items():
        if k in _NUMBERS:
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
            kind = "a number >= 0"
        elif k in _STRINGS:
            ok, kind = isinstance(v, str), "a string"
        elif k in _FLAGS:
            ok, kind = isinstance(v, bool), "true or false"
        elif k == "scope":
            ok = isinstance(v, str) or (isinstance(v, list)
                                        and all(isinstance(x, str) for x in v))
            kind = "a string or a list of strings"
        elif k == "sleep":
            ok, kind = v in ("idle", "light", "deep"), '"idle", "light" or "deep"'
        else:
            continue
        if not ok:
            raise ConfigError("configuration: %s must be %s, not %r" % (k, kind, v))
    return config


def make_client(config, secrets, cls=None, store=None):
    """A TokenClient (or cls) from config.json and secrets.json. ConfigError when they do not
    fit. store: where the client keeps its state (default: config "state_file", if any)."""
    kw = {}
    for key in ("token_path", "auth_method_id", "api_id", "audience", "auth", "scope_separator",
                "basic_encode", "leeway", "timeout", "deadline", "verify", "params"):
        if key in config:
            kw[key] = config[key]
    if config.get("ca"):
        kw["ca"] = config["ca"]  # a file name on the board's flash
    if store is None and config.get("state_file"):
        from oauthcc.store import FileStore

        store = FileStore(config["state_file"])
    if store is not None:
        kw["store"] = store
    api = [config[k] for k in ("api_url", "roles_url") if config.get(k)]
    try:
        return oauthcc.from_profile(
            config.get("profile", "custom"), secrets.get("client_id"),
            secrets.get("client_secret"), config.get("scope"), config.get("base_url"),
            api_origins=api, log=lambda msg: print("[oauthcc]", msg), cls=cls, **kw)
    except (ValueError, TypeError, KeyError) as e:
        raise ConfigError("configuration rejected: %s" % e)


class App:
    """The decisions of one device. Nothing here sleeps: every step returns seconds to wait.

    board: a board.Board (Wi-Fi, NTP, RTC), or None on a host without one.
    memory: a store (load/save) for the app's own state: the last error survives deep sleep.
    """

    def __init__(self, config, client, board=None, memory=None, secrets=None):
        self.config = config
        self.client = client
        self.board = board
        self.memory = memory
        self.secrets = secrets or {}
        self.roles_url = config.get("roles_url")
        if self.roles_url is None and config.get("profile") in ("zaikio", "heidelberg"):
            self.roles_url = config["base_url"].rstrip("/") + "/api/v1/roles"
        self._token = None
        self.roles = None
        self.last_error = None
        self.wifi_failures = 0
        self._ntp_due = None  # ticks of the next NTP sync; None: decide from the last one
        self.failures = 0  # cycles in a row that failed
        self.wall = unix_time  # Unix seconds or None while the clock is unset (tests replace it)
        saved = memory.load() if memory is not None else None
        self.saved = saved if isinstance(saved, dict) else {}
        if self.saved.get("error"):
            say("last error before this boot:", self.saved["error"])

    # -- network and clock -------------------------------------------------------------------

    def network(self):
        """0 when online, else seconds to wait before trying again (bounded backoff)."""
        b = self.board
        if b is None:
            return 0
        c = self.config
        ok = b.connect(c.get("wifi_ssid"), self.secrets.get("wifi_password", ""),
                       c.get("wifi_timeout", 20))
        if ok:
            self.wifi_failures = 0
            return 0
        self.wifi_failures += 1
        self.remember("wifi: no connection")
        return min(10 << min(self.wifi_failures - 1, 5), 300)

    def clock(self):
        """NTP when the clock is unset or a day has passed; bounded, retried later on failure."""
        b = self.board
        if b is None:
            return
        now = ticks_ms()
        if self._ntp_due is None:
            self._ntp_due = now
            last, wall = self.saved.get("ntp"), self.wall()
            if last and wall is not None and 0 <= wall - last < _NTP_EVERY_MS // 1000:
                # woken from deep sleep: the RTC kept running and the last sync is recent
                self._ntp_due = ticks_add(now, _NTP_EVERY_MS - (wall - last) * 1000)
        if ticks_diff(self._ntp_due, now) > 0:
            return
        if b.sync_ntp(self.config.get("ntp_host"), self.config.get("ntp_timeout", 5)):
            self._ntp_due = ticks_add(now, _NTP_EVERY_MS)
            self.saved["ntp"] = self.wall()
            if self.memory is not None:
                self.memory.save(self.saved)
        else:
            self._ntp_due = ticks_add(now, _NTP_RETRY_MS)
            if self.wall() is None:
                self.clock_from_server()

    def clock_from_server(self):
        """Where UDP (NTP) is blocked: the Date header of the token server's origin.

        Asked with HEAD and no credentials. Over https the certificate cannot be verified yet
        (its dates need the clock; the library refuses with clock_not_set), so nothing secret
        is sent: the time is as trustworthy as NTP's, which is not authenticated either.
        """
        from oauthcc import httpdate
        from oauthcc.transport import Transport, origin

        url = origin(self.client.token_url) + "/"
        try:
            r = Transport(verify=False, timeout=5, deadline=10).request("HEAD", url)
        except (OAuthError, OSError) as e:
            say("clock not set: NTP failed, and no Date from %s: %s" % (url, e))
            return
        t = httpdate.parse(r.headers.get("date", ""))
        if t is not None and self.board.set_clock(t):
            say("clock set from the Date header of", url)
        else:
            say("clock not set: NTP failed, and %s sent no usable Date" % url)

    # -- one round ---------------------------------------------------------------------------

    def cycle(self):
        """One round: ensure a token, read roles on every new token, call the API.

        Returns seconds to sleep before the next round. aioapp.AsyncApp.cycle is the same
        sequence with the network calls awaited: the decisions below serve both.
        """
        c = self.client
        try:
            t = c.token()
            if self.roles_due(t):
                self.roles_from(t, c.request("GET", self.roles_url))
            call = self.api_call()
            if call:
                self.api_done(call, c.request(*call))
            return self.succeeded()
        except (OAuthError, OSError) as e:
            return self.failed(e)

    def roles_due(self, t):
        """True when the role order must be fetched: with every new token (and at every boot),
        so a reordered list never shifts the bits under a running device."""
        if t is self._token:
            return False
        say("token: scope=%s lifetime=%ss refresh_token=%s" % (
            t.scope, t.expires_in, "yes" if t.refresh_token else "no"))
        if self.roles_url:
            return True
        self._token = t
        return False

    def roles_from(self, t, r):
        """Report the token's active roles from the role order answer r (GET roles_url)."""
        from oauthcc.roles import active_roles

        try:
            order = r.json() if r.status == 200 else None
        except ValueError:
            order = None
        if not isinstance(order, list):  # the token is not taken: roles are fetched again
            say("roles: GET %s -> %d, trying again next cycle" % (self.roles_url, r.status))
            return
        self.roles = active_roles(t, order)
        say("roles:", ", ".join(self.roles) if self.roles else "(none)")
        self._token = t

    def api_call(self):
        """(method, url) of the configured API call, or None."""
        url = self.config.get("api_url")
        return (self.config.get("api_method", "GET"), url) if url else None

    def api_done(self, call, r):
        say("%s %s -> %d (%d bytes)" % (call[0], call[1], r.status, len(r.body)))

    def succeeded(self):
        self.last_error = None
        self.failures = 0
        self.remember(None)
        return self.config.get("interval", 60)

    def failed(self, e):
        """Seconds to wait after a failed round: the library's backoff, or the app's own."""
        self.last_error = e
        self.failures += 1
        self.remember(str(e))
        wait = self.client.next_attempt_in_ms()
        if wait is None:
            say("permanent error, fix the configuration:", e)
            return _IDLE_S
        say("failed:", e)
        # the library's backoff covers the token; an API or roles call that fails with a
        # good token gets the app's own: 5 s, 10 s, ... up to the interval
        own = min(5 << min(self.failures - 1, 10), max(self.config.get("interval", 60), 5))
        return max(wait / 1000, own)

    def remember(self, error):
        """Keep the last error (short, no secrets: OAuthError text holds none) across sleep."""
        if self.memory is None:
            return
        self.saved["error"] = error[:120] if error else None
        self.memory.save(self.saved)


def _crash_wait(n):
    return min(30 << min(n - 1, 5), 900)  # 30 s, 60 s, ... 15 min


def run(app, board, cycles=0):
    """The waiting half: network, clock, cycle, sleep; forever, or `cycles` rounds."""
    cfg = app.config
    mode = cfg.get("sleep", "idle")  # idle (Ctrl-C works), light, deep
    n = crashes = 0
    while not cycles or n < cycles:
        n += 1
        try:
            wait = app.network()
            if not wait:
                app.clock()
                wait = app.cycle()
            crashes = 0
        except MemoryError as e:  # fragmentation, usually: collect and try again later
            import gc

            gc.collect()
            crashes += 1
            app.remember("MemoryError: %s" % e)
            wait = _crash_wait(crashes)
        except Exception as e:  # a bug or an odd board state: log it, back off, never a tight loop
            import sys

            if hasattr(sys, "print_exception"):
                sys.print_exception(e)
            else:
                say(repr(e))
            crashes += 1
            app.remember("%s: %s" % (type(e).__name__, e))
            if crashes >= _MAX_CRASHES:
                say("%d unexpected errors in a row: resetting" % crashes)
                board.reset()
            wait = _crash_wait(crashes)
        if cycles and n >= cycles:
            break
        if mode == "deep" and wait >= cfg.get("deep_min", 10) and board.deepsleep(wait):
            return  # only where deep sleep returns (a fake): the board boots into main.py
        board.wait(wait, light=(mode == "light"))


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
    try:
        config = check_config(load_json(config_path, "configuration"))
    except ConfigError:
        config = {}  # reported below; the way back to the REPL opens all the same
    window = config.get("repl_window", 1 if board.woke_from_deepsleep() else 3)
    if board.hold_loop(config.get("repl_flag", "noloop"), config.get("repl_pin"), window):
        return None
    while True:
        try:
            config = check_config(load_json(config_path, "configuration"))
            if config.get("asyncio"):  # the same app on asyncio: aioapp.py (no board layer
                import aioapp  # yet, so no watchdog is armed: aioapp would not feed it)

                return aioapp.main(config_path, secrets_path)
            secrets = load_json(secrets_path, "secrets")
            shared = Shared(open_store(board, config.get("state_file")))
            client = make_client(config, secrets, store=shared.part("c"))
            break
        except ConfigError as e:
            say(e, "- retrying in %d s" % _IDLE_S)
            board.wait(_IDLE_S)
    board.arm(int(config.get("watchdog", 120) * 1000))
    app = App(config, client, board, shared.part("a"), secrets)
    run(app, board, config.get("cycles", 0))
    return app
