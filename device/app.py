# The device's decisions: App says, step by step, what to do and how long to wait, and
# make_client builds its token client from the configuration. Nothing here sleeps or loops:
# mainloop.py runs App on a blocking loop, aioapp.py on asyncio, with their own waits.
import oauthcc
from oauthcc import OAuthError
from oauthcc import clock as _clock
from oauthcc.clock import DAY_MS, const

IDLE_S = const(60)  # a broken configuration is reported once a minute, not in a crash loop
_NTP_EVERY_MS = const(86_400_000)  # re-sync daily: the RTC drifts seconds a day
_NTP_RETRY_MS = const(600_000)  # NTP failed (UDP blocked?): try again in ten minutes
_LINE = const(240)  # the longest log line: server text beyond it is cut
_CRASH_MAX_S = const(900)  # an unexpected error waits 30 s, 60 s, ... this long
_MEM_RESET_MS = const(3_600_000)  # MemoryError in every cycle this long: a reset may help
_DAY_S = const(86_400)  # and at most one reset a day
_ROLES_MAX = const(4096)  # bytes of a role order (a flat list of names) read at most
_ROLES_MOST = const(128)  # commas in it at most: each item parsed costs heap (4 KB of [] 100 KB)


def clean(text, n=_LINE):
    """text for one log line: control characters (CR, LF, ESC, C1) as "?", at most n chars.
    Every line the app prints goes through it: server text cannot forge or garble lines."""
    s = text if isinstance(text, str) else str(text)
    if len(s) > n:
        s = s[:n] + "..."
    for c in s:
        if c < " " or "\x7f" <= c <= "\x9f":
            return "".join(["?" if c < " " or "\x7f" <= c <= "\x9f" else c for c in s])
    return s


emit = print  # where the lines go (tests collect them)


def bounded(s):
    """s seconds as a wait both loops can take: 0 to a day (no board waits longer), IDLE_S
    for NaN or a negative number. TypeError for what is no number: a crash, backed off."""
    if 0 <= s <= _DAY_S:
        return s
    return _DAY_S if s > _DAY_S else IDLE_S


def say(*args):
    emit(clean("[app] " + " ".join([str(a) for a in args])))


def make_client(config, secrets, cls=None, store=None, clock=None):
    """A TokenClient (or cls) from config.json and secrets.json as settings.check() gives them.
    ConfigError when they do not fit. store: where the client keeps its state (default: a
    file, config "state_file", if given). A saved state the client cannot take (corrupt) is
    left out, not reported as a configuration error; the next save rewrites it."""
    from settings import ConfigError, client_options

    kw = client_options(config)
    if store is None and config["state_file"]:
        from oauthcc.store import FileStore

        store = FileStore(config["state_file"])
    if clock is not None:
        kw["clock"] = clock
    api = [config[k] for k in ("api_url", "roles_url") if config[k]]

    def build(store):
        if store is not None:
            kw["store"] = store
        return oauthcc.from_profile(
            config["profile"], secrets["client_id"], secrets["client_secret"],
            api_origins=api, log=lambda msg: emit(clean("[oauthcc] " + msg)), cls=cls, **kw)

    if store is not None:
        try:
            return build(store)
        except (MemoryError, OSError):
            raise  # neither the state's fault nor the configuration's: said as they are
        except Exception as e:  # the configuration, or the state it found: see without it
            first = e
    try:
        c = build(None if store is None else _Afresh(store))
    except (ValueError, TypeError, KeyError) as e:
        raise ConfigError("configuration rejected: %s" % e)
    if store is not None:
        say("saved client state unusable (%s: %s): starting afresh" % (
            type(first).__name__, first))
    return c


class _Afresh:
    """A store whose saved state is not read back: the client starts afresh and saves over it."""

    def __init__(self, store):
        self.save = store.save

    def load(self):
        return None


def _checked(saved):
    """The app's own part of the state, field by field; anything else is dropped, and the next
    save rewrites it. error: the last error; ntp: Unix seconds of the last NTP sync; date: of
    the clock set by the Date fallback (unverified); reset: of the last reset (0: unknown);
    crashes: unexpected errors in a row (their backoff grows through deep sleep too)."""
    out = {}
    for k in ("error", "ntp", "date", "reset", "crashes"):
        v = saved.get(k) if isinstance(saved, dict) else None
        if isinstance(v, str) if k == "error" else (
                isinstance(v, int) and not isinstance(v, bool) and v >= 0):
            out[k] = v
    return out


class App:
    """The decisions of one device. Nothing here sleeps: every step returns seconds to wait.

    config, secrets: as settings.check() gives them (every key present).
    board: a board.Board (Wi-Fi, NTP, RTC), or None on a host without one.
    memory: a store (load/save) for the app's own state: the last error survives deep sleep.
    Its saves are best effort (state.Shared's parts never raise; any other store is guarded).
    clock: ticks and wall clock (default oauthcc.clock; tests give a fake one).
    """

    resets = True  # crashed() may ask for a reset (mainloop has a board that does it)

    def __init__(self, config, client, board=None, memory=None, secrets=None, clock=None):
        self.config = config
        self.client = client
        self.board = board
        self.memory = memory
        self.time = clock or _clock
        if board is not None and client is not None:
            # the watchdog is fed before every request of a cycle: no feed is further apart
            # than one request (its deadline, plus DNS), however many requests a cycle makes
            client.on_request = board.feed
        self.password = secrets["wifi_password"] if secrets else ""
        # no log line may show these (nor the token, see _scrub)
        self._hidden = [secrets[k] for k in ("client_secret", "wifi_password")
                        if secrets and secrets.get(k)]
        self._seen = None  # the last token seen, masked like the secrets
        self.roles_url = config["roles_url"]
        if self.roles_url is None and config["profile"] in ("zaikio", "heidelberg"):
            from oauthcc.profiles import PROFILES

            base = config["base_url"] or PROFILES[config["profile"]][0] or ""
            self.roles_url = base.rstrip("/") + "/api/v1/roles"
            oauthcc.release(("profiles",))  # the boot's only: its tables back to the heap
        self._token = None
        self.roles = None
        self.last_error = None
        self.wifi_failures = 0
        self._ntp_due = None  # ticks of the next NTP sync; None: decide from the last one
        self.failures = 0  # cycles in a row that failed
        self._mem_at = None  # ticks of the last MemoryError in a row of them
        self._mem_ms = 0  # how long every cycle has failed with MemoryError
        self._latch = None  # the permanent error last said (said once per latch)
        self._resync = False  # take the clock again before the next attempt (TLS failed)
        self._saving = True  # False while saves fail (said once)
        try:
            saved = memory.load() if memory is not None else None
        except Exception:  # corrupt, unreadable: start afresh (state.Shared never raises)
            saved = None
        self.saved = _checked(saved)
        self.crashes = self.saved.get("crashes", 0)  # cycles in a row that raised unexpectedly
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
        k = self.time
        now = k.ticks_ms()
        if self._ntp_due is None:  # the first look of this boot
            self._ntp_due = now
            self._resync = "date" in self.saved  # a suspect clock, kept through deep sleep
            last, wall = self.saved.get("ntp"), k.unix_time()
            if last and wall is not None and 0 <= wall - last < _NTP_EVERY_MS // 1000:
                # woken from deep sleep: the RTC kept running and the last sync is recent
                self._ntp_due = k.ticks_add(now, _NTP_EVERY_MS - (wall - last) * 1000)
        resync, self._resync = self._resync, False
        if k.ticks_diff(self._ntp_due, now) > 0 and not resync:
            return
        if b.sync_ntp(self.config["ntp_host"], self.config["ntp_timeout"]):
            self._ntp_due = k.ticks_add(now, _NTP_EVERY_MS)
            wall = k.unix_time()
            if wall is not None:
                self.saved["ntp"] = wall
            self.saved.pop("date", None)  # NTP overrides the fallback's clock
            self._save()
        else:
            self._ntp_due = k.ticks_add(now, _NTP_RETRY_MS)
            if k.unix_time() is None or resync and "date" in self.saved:
                self.clock_from_server()

    def clock_from_server(self):
        """Where UDP (NTP) is blocked: the token server's Date, when plausible (dateclock.py).
        A clock set here stays suspect ("date" in the state) until a cycle succeeds or NTP
        answers: a TLS failure meanwhile has the clock taken again before the next attempt."""
        from dateclock import read

        t, url = read(self.client.token_url, self.saved.get("ntp"))
        if t is None:
            say("clock not set: NTP failed, and", url)
        elif self.board.set_clock(t):
            self.saved["date"] = t
            self._save()
            say("clock set from the Date header of %s (unverified until a server is)" % url)

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
                oauthcc.release(("roles", "jwt"))  # once per token: their code back to the heap
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
        self._seen = t
        if self.roles_url:
            return True
        self._token = t
        return False

    def roles_from(self, t, r):
        """Report the token's active roles from the role order answer r (GET roles_url). An
        answer that is no role order is a failed step (OAuthError "invalid_roles": backed off
        like an API failure, and fetched again). Server data: it is parsed only when it can
        be a flat list of at most _ROLES_MOST + 1 names in _ROLES_MAX bytes (16 KB of "["
        cost a MemoryError, CPython a RecursionError; 4 KB of "[]," 100 KB of heap)."""
        from oauthcc.roles import active_roles

        order = None
        b = r.body
        if r.status == 200 and len(b) <= _ROLES_MAX and b.count(b",") <= _ROLES_MOST and not (
                b.count(b"[") + b.count(b"{") > 1 and _deeper(b)):
            try:
                order = r.json()
            except (ValueError, MemoryError, RuntimeError):  # RuntimeError: CPython's recursion
                pass
        if not isinstance(order, list):  # the token is not taken: roles are fetched again
            raise OAuthError("invalid_roles", "GET %s -> %d: not a role order" % (
                self.roles_url, r.status), r.status, retryable=True)
        # names only: a server's order or names may hold anything ([1, 2], [null])
        self.roles = [n for n in active_roles(t, order) if isinstance(n, str)]
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
        self._calm()
        self.saved.pop("date", None)  # a server accepted the clock: it is not suspect any more
        self.remember(None)
        return self.config["interval"]

    def failed(self, e):
        """Seconds to wait after a failed round: the library's wait, or the app's own.

        A permanent error waits what next_attempt_in_ms() says (the long backoff, never None
        from this library; a client that says None is asked again every IDLE_S), and is said
        once per latch. A failed API call or role order with a good token waits the app's own
        backoff. Never less than 5 s: no failure turns into a tight loop.
        """
        self.rest()  # an error answer read whole leaves its connection kept
        self.last_error = e
        self.failures += 1
        self._calm()
        self.remember(self._scrub(e))
        c = self.client
        ms = c.next_attempt_in_ms()
        latch = getattr(c, "latched", None)  # the latched error (or a flag: then e is the key)
        # the app's own backoff, for an API or roles call that fails with a good token:
        # 5 s, 10 s, ... up to the interval
        own = min(5 << min(self.failures - 1, 10), max(self.config["interval"], 5))
        if ms is None or latch:
            wait = IDLE_S if ms is None else max(ms / 1000, IDLE_S)
            key = latch if isinstance(latch, Exception) else e
            if key is self._latch:
                return wait  # said already, refused without the network
            self._latch = key
            say("permanent error, fix the configuration or the server: %s; next attempt %s"
                % (self._scrub(e), self._when(ms)))
        else:
            wait = max(ms / 1000, own)
            say("failed:", self._scrub(e))
        if getattr(e, "error", None) == "tls_verification_failed":
            self._resync = True  # a wrong clock makes every certificate look invalid
        return wait

    def crashed(self, e):
        """A cycle raised e, none of the failures above (a bug, the board, memory, data no
        rule foresaw): (seconds to wait, reset now?). Logged, remembered, backed off (30 s,
        60 s, ... 15 min), forever. Never raises.

        A reset cannot change a bug, the configuration or what a server sends, so only a
        MemoryError that persists asks for one: MemoryError in every cycle for an hour, with
        gc.collect() before each retry, and not within a day of the last reset (its time is
        kept in the state, so a reset cannot loop; with the wall clock unknown, the hour
        becomes a day). mainloop resets the board; aioapp never does.
        """
        self.rest()
        self.crashes += 1
        self.saved["crashes"] = self.crashes  # saved by remember() below
        wait = min(30 << min(self.crashes - 1, 5), _CRASH_MAX_S)
        mem = isinstance(e, MemoryError)
        if mem:
            import gc

            gc.collect()
        else:
            self._mem_at = None
            self._mem_ms = 0
        try:
            text = "%s: %s" % (type(e).__name__, self._scrub(e))
            say("unexpected error, next try in %d s: %s%s" % (wait, text, _where(e)))
            self.remember(text)
            return wait, mem and self.resets and self._reset_due()
        except Exception:  # even the report failed (out of memory): the wait holds
            return wait, False

    def rest(self):
        """Close the connection the client keeps between requests (one TLS handshake serves a
        cycle's token, role order and API call): before every sleep and after every failure,
        as a socket held through a sleep is one the board lacks. Never raises."""
        try:
            self.client.close()
        except Exception:  # a client without close(), or a socket already gone
            pass

    def _reset_due(self):
        k = self.time
        now = k.ticks_ms()
        if self._mem_at is not None:
            self._mem_ms = min(self._mem_ms + max(0, k.ticks_diff(now, self._mem_at)), DAY_MS)
        self._mem_at = now
        if self._mem_ms < _MEM_RESET_MS:
            return False
        last, wall = self.saved.get("reset"), k.unix_time()
        if last is not None and self._mem_ms < DAY_MS and (
                not last or wall is None or wall - last < _DAY_S):
            return False
        self.saved["reset"] = wall or 0
        self._save()
        return True

    def _calm(self):
        # a cycle that ended in a known way: the crash backoff and MemoryError run start over
        self.crashes = 0
        self.saved.pop("crashes", None)
        self._mem_at = None
        self._mem_ms = 0

    def _scrub(self, e):
        """str(e) with the secrets and the token the app knows masked: no log line, and no
        remembered error, shows them."""
        s = str(e)
        t = self._seen
        for v in self._hidden + ([t.access_token, t.refresh_token] if t else []):
            if v and v in s:
                s = s.replace(v, "***")
        return s

    def _when(self, ms):
        if ms is None:
            return "after a configuration change"
        s = int(ms // 1000)
        wall = self.time.unix_time()
        if wall is None:
            return "in %d s" % s
        import time

        tm = time.gmtime(wall + s - _clock.EPOCH_OFFSET)
        return "in %d s (%04d-%02d-%02d %02d:%02d UTC)" % ((s,) + tuple(tm[:5]))

    def remember(self, error):
        """Keep the last error (short, no secrets: OAuthError text holds none) across sleep."""
        self.saved["error"] = clean(error, 117) if error else None
        self._save()

    def _save(self):
        # best effort: the app goes on without its state when the store cannot write
        if self.memory is None:
            return
        try:
            self.memory.save(self.saved)
            self._saving = True
        except Exception as e:
            if self._saving:
                say("state not saved (%s: %s): going on without" % (type(e).__name__, e))
            self._saving = False


def _deeper(body):
    from oauthcc.untrusted import deeper  # the token answers' check, loaded only when needed

    return deeper(body, 1)  # "[" inside a name is no nesting


def _where(e):
    """ " at file:line" where e was raised, or "" (the report must not fail)."""
    try:
        import sys

        if hasattr(sys, "print_exception"):  # MicroPython: its traceback, as text
            import io

            buf = io.StringIO()
            sys.print_exception(e, buf)
            frames = [ln.strip() for ln in buf.getvalue().split("\n") if ln.startswith("  File")]
            return " at " + frames[-1] if frames else ""
        tb = e.__traceback__
        while tb.tb_next is not None:
            tb = tb.tb_next
        return ' at File "%s", line %d' % (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
    except Exception:
        return ""
