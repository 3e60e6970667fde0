# The schema of config.json and secrets.json: every key, its kind, its default and what it
# means. The app, tools/deploy.py, tools/provision.py and docs/device-app.md's tables all read it.
# The app imports it at boot to check the files and fill in the defaults, then drops it from
# sys.modules: its tables would hold 12.8 KB of heap for nothing (unix port, .mpy).

# Kinds: "num" a number within its RANGES, "str" a string, "bool" true or false, "file" the
# name of a file on the board (deploy copies it), "strs" a string or a list of strings, "obj"
# a JSON object, "pin" a GPIO number or name; a tuple: one of those strings.
KINDS = {"num": "a number", "str": "a string", "bool": "true or false",
         "file": "a file name", "strs": "a string or a list of strings", "obj": "a JSON object",
         "pin": "a pin number or name"}

# config.json, read by the app
APP = (
    ("profile", "str", "custom", "server profile: zaikio, heidelberg, wicked, generic or custom"),
    ("api_url", "str", None, "the API called every cycle (none: no call)"),
    ("api_method", "str", "GET", "its HTTP method"),
    ("roles_url", "str", None, "where the role order comes from (zaikio, heidelberg: "
     "base_url + /api/v1/roles)"),
    ("interval", "num", 60, "seconds between cycles"),
    ("cycles", "num", 0, "stop after this many cycles (tests, make run); 0: run forever"),
    ("state_file", "str", None, "keep token, backoff, latch and last error in this file "
     "(default: RTC memory on a board, oauthcc_state.json elsewhere)"),
    ("wifi_ssid", "str", None, "the Wi-Fi network (its password: wifi_password in secrets.json)"),
    ("wifi_timeout", "num", 20, "seconds one Wi-Fi connect may take"),
    ("ntp_host", "str", None, "NTP server (none: ntptime's pool.ntp.org)"),
    ("ntp_timeout", "num", 5, "seconds one NTP sync may take"),
    ("watchdog", "num", 120, "hardware watchdog timeout in seconds, more than deadline + 20 (it "
     "is fed before every request, and DNS is outside the deadline; a port that takes less "
     "gets its longest, and the requests' deadline and timeout are cut to fit it); 0: none"),
    ("sleep", ("idle", "light", "deep"), "idle", "between cycles: idle (Ctrl-C works), light "
     "(machine.lightsleep), deep (machine.deepsleep: the board boots again into main.py)"),
    ("deep_min", "num", 10, "waits shorter than this many seconds stay awake with sleep deep"),
    ("repl_window", "num", None, "seconds at boot in which Ctrl-C reaches the REPL (none: 3, "
     "1 after deep sleep)"),
    ("repl_pin", "pin", None, "a GPIO with a button to ground (0: most ESP32 boards' BOOT): "
     "held in the window, the loop does not start; with sleep deep it also wakes an ESP32 if "
     "it is an RTC GPIO (0, 2, 4, 12-15, 25-27, 32-39); a pin the board lacks is ignored"),
    ("repl_flag", "str", "noloop", "a file whose presence keeps the loop from starting"),
    ("asyncio", "bool", False, "run the app on asyncio (aioapp.py: no Wi-Fi, NTP, watchdog or "
     "sleep modes yet)"),
)

# config.json, passed to oauthcc.from_profile as keywords when set (none: the profile's or
# the library's default, see docs/library.md's TokenClient options)
CLIENT = (
    ("base_url", "str", None, "the server (zaikio, heidelberg: production by default)"),
    ("scope", "strs", None, "the scope: a string, or a list joined by the profile's separator"),
    ("ca", "file", None, "the CA file on the board (PEM or DER) for https"),
    ("token_path", "str", None, "the token endpoint's path (custom profile)"),
    ("auth_method_id", "str", None, "wicked: the auth method in the token path"),
    ("api_id", "str", None, "wicked: the API in the token path"),
    ("audience", "str", None, "generic: the audience form parameter"),
    ("auth", "strs", None, "client authentication: auto (Basic RFC-encoded, Basic raw, the "
     "form body: the first that works), basic, post, jwt (client_secret_jwt), tls (mutual TLS), "
     "or a list of basic, raw, post to try in order"),
    ("basic_encode", "bool", None, "pins Basic: true form-urlencodes id and secret before Base64 "
     "(RFC 6749 2.3.1), false sends them raw"),
    ("client_cert", "file", None, "mutual TLS: the client certificate file on the board (PEM "
     "or DER)"),
    ("client_key", "file", None, "mutual TLS: its private key file (PEM or DER, unencrypted; "
     "may be client_cert's PEM file)"),
    ("scope_separator", "str", None, "what joins a list of scopes"),
    ("params", "obj", None, "extra form fields of the token request"),
    ("leeway", "num", None, "seconds a token is renewed early"),
    ("timeout", "num", None, "seconds per connect and read"),
    ("deadline", "num", None, "seconds for a whole request"),
    ("verify", "bool", None, "false turns certificate checking off: unsafe, tests only"),
)

# The finite range of each number (seconds, but cycles), both ends included: infinity, NaN, a
# wait beyond a day (what board.wait and the library take at most) or a timeout of 0 (every
# request would fail) is refused with its key named, never met by the loop.
RANGES = {"interval": (0, 86_400), "cycles": (0, 1_000_000), "wifi_timeout": (0.1, 600),
          "ntp_timeout": (0.1, 60), "watchdog": (0, 31_536_000), "deep_min": (0, 86_400),
          "repl_window": (0, 600), "leeway": (0, 86_400), "timeout": (0.1, 300),
          "deadline": (0.1, 600)}
DNS_S = 20  # what the watchdog needs beyond a request's deadline: DNS, the work between feeds
DEADLINE_S = 30  # the library's default deadline

SECRETS = (
    ("client_id", "str", None, "the OAuth client id"),
    ("client_secret", "str", None, "its secret (none with auth tls)"),
    ("wifi_password", "str", "", "the Wi-Fi password"),
)


class ConfigError(ValueError):
    pass


def load(path, name="config.json"):
    """check() of the JSON file at path; name: "config.json" or "secrets.json"."""
    import json

    try:
        with open(path) as f:
            data = json.load(f)
    except OSError:
        raise ConfigError("%s missing: %s (see config/examples/)" % (name, path))
    except ValueError:
        raise ConfigError("%s is not valid JSON: %s" % (name, path))
    return check(data, name)


def check(data, name="config.json"):
    """data with every key of its schema, defaults filled in. ConfigError naming the key of
    the first problem: an unknown key (and the closest known one), a value of the wrong kind
    or out of its range, a watchdog that a request could outlast."""
    if not isinstance(data, dict):
        raise ConfigError("%s must hold a JSON object" % name)
    secret = name == "secrets.json"
    rows = SECRETS if secret else APP + CLIENT
    names = [r[0] for r in rows]
    for k in sorted(data):
        if k not in names:
            if k in [r[0] for r in (APP + CLIENT if secret else SECRETS)]:
                hint = " (it belongs in %s)" % ("config.json" if secret else "secrets.json")
            else:
                near = closest(k, names)
                hint = " (did you mean %r?)" % near if near else ""
            raise ConfigError("unknown key %r in %s%s" % (k, name, hint))
    out = {}
    for k, kind, default, _ in rows:
        v = data.get(k)
        if v is None:
            v = default
        elif not _is(kind, v) or kind == "num" and not RANGES[k][0] <= v <= RANGES[k][1]:
            if isinstance(kind, tuple):
                want = '"%s" or "%s"' % ('", "'.join(kind[:-1]), kind[-1])
            else:
                want = KINDS[kind] + (" from %s to %s" % RANGES[k] if kind == "num" else "")
            # a secret's value is never shown, not even a wrong one
            raise ConfigError("%r in %s must be %s%s" % (k, name, want, "" if secret else
                                                         ", not " + repr(v)[:40]))
        out[k] = v
    w = out.get("watchdog")
    if w:  # a number: checked above (none in secrets.json)
        d = out["deadline"]
        d = DEADLINE_S if d is None else d
        if float(w) <= float(d) + DNS_S:
            raise ConfigError("'watchdog' in config.json (%s s) must be more than 'deadline' (%s "
                              "s) + %d s: a slow request would reset the board" % (w, d, DNS_S))
    return out


def _is(kind, v):
    if kind == "num":  # its range: check()
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if kind in ("str", "file"):
        return isinstance(v, str)
    if kind == "bool":
        return isinstance(v, bool)
    if kind == "strs":
        return isinstance(v, str) or isinstance(v, list) and all(isinstance(x, str) for x in v)
    if kind == "obj":
        return isinstance(v, dict)
    if kind == "pin":
        return isinstance(v, str) or isinstance(v, int) and not isinstance(v, bool) and v >= 0
    return v in kind


def closest(name, names):
    """The one of names nearest to name by edit distance, or None when none is near."""
    best, most = None, max(2, len(name) // 3)
    for n in names:
        d = _distance(name, n)
        if d <= most:
            best, most = n, d - 1
    return best


def _distance(a, b):
    # Levenshtein, two rows: keys are short
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a):
        cur = [i + 1]
        for j, y in enumerate(b):
            cur.append(min(prev[j + 1] + 1, cur[j] + 1, prev[j] + (x != y)))
        prev = cur
    return prev[-1]


def client_options(config):
    """The keywords for oauthcc.from_profile: the CLIENT keys that are set."""
    return {r[0]: config[r[0]] for r in CLIENT if config[r[0]] not in (None, "")}
