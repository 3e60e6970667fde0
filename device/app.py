# The device's decisions: App says, step by step, what to do and how long to wait, and
# make_client builds its token client from the configuration. Nothing here sleeps or loops:
# mainloop.py runs App on a blocking loop, aioapp.py on asyncio, with their own waits.
import oauthcc
from oauthcc import OAuthError
from oauthcc.clock import const, ticks_add, ticks_diff, ticks_ms, unix_time

IDLE_S = const(60)  # a broken configuration is reported once a minute, not in a crash loop
_NTP_EVERY_MS = const(86_400_000)  # re-sync daily: the RTC drifts seconds a day
_NTP_RETRY_MS = const(600_000)  # NTP failed (UDP blocked?): try again in ten minutes


def say(*args):
    print("[app]", *args)


def make_client(config, secrets, cls=None, store=None):
    """A TokenClient (or cls) from config.json and secrets.json as settings.check() gives them.
    ConfigError when they do not fit. store: where the client keeps its state (default: a
    file, config "state_file", if given)."""
    from settings import ConfigError, client_options

    kw = client_options(config)
    if store is None and config["state_file"]:
        from oauthcc.store import FileStore

        store = FileStore(config["state_file"])
    if store is not None:
        kw["store"] = store
    api = [config[k] for k in ("api_url", "roles_url") if config[k]]
    try:
        return oauthcc.from_profile(
            config["profile"], secrets["client_id"], secrets["client_secret"],
            api_origins=api, log=lambda msg: print("[oauthcc]", msg), cls=cls, **kw)
    except (ValueError, TypeError, KeyError) as e:
        raise ConfigError("configuration rejected: %s" % e)


class App:
    """The decisions of one device. Nothing here sleeps: every step returns seconds to wait.

    config, secrets: as settings.check() gives them (every key present).
    board: a board.Board (Wi-Fi, NTP, RTC), or None on a host without one.
    memory: a store (load/save) for the app's own state: the last error survives deep sleep.
    """

    def __init__(self, config, client, board=None, memory=None, secrets=None):
        self.config = config
        self.client = client
        self.board = board
        self.memory = memory
        self.password = secrets["wifi_password"] if secrets else ""
        self.roles_url = config["roles_url"]
        if self.roles_url is None and config["profile"] in ("zaikio", "heidelberg"):
            from oauthcc.profiles import PROFILES

            base = config["base_url"] or PROFILES[config["profile"]][0] or ""
            self.roles_url = base.rstrip("/") + "/api/v1/roles"
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
        ok = b.connect(c["wifi_ssid"], self.password, c["wifi_timeout"])
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
        if b.sync_ntp(self.config["ntp_host"], self.config["ntp_timeout"]):
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
        from oauthcc.http import origin
        from oauthcc.transport import Transport

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
        url = self.config["api_url"]
        return (self.config["api_method"], url) if url else None

    def api_done(self, call, r):
        say("%s %s -> %d (%d bytes)" % (call[0], call[1], r.status, len(r.body)))

    def succeeded(self):
        self.last_error = None
        self.failures = 0
        self.remember(None)
        return self.config["interval"]

    def failed(self, e):
        """Seconds to wait after a failed round: the library's backoff, or the app's own."""
        self.last_error = e
        self.failures += 1
        self.remember(str(e))
        wait = self.client.next_attempt_in_ms()
        if wait is None:
            say("permanent error, fix the configuration:", e)
            return IDLE_S
        say("failed:", e)
        # the library's backoff covers the token; an API or roles call that fails with a
        # good token gets the app's own: 5 s, 10 s, ... up to the interval
        own = min(5 << min(self.failures - 1, 10), max(self.config["interval"], 5))
        return max(wait / 1000, own)

    def remember(self, error):
        """Keep the last error (short, no secrets: OAuthError text holds none) across sleep."""
        if self.memory is None:
            return
        self.saved["error"] = error[:120] if error else None
        self.memory.save(self.saved)
