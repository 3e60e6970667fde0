# The configuration schema (device/settings.py) on both runtimes: unknown keys are named with
# the closest known one, wrong kinds name the key, defaults are filled in, and the app refuses
# such a file before any network traffic.
import fakeboard
import mainloop
import settings

from support import CLIENT_ID, CLIENT_SECRET, raises, reset, url

NEEDS_STUB = True


def message(data, name="config.json"):
    return str(raises(settings.ConfigError, settings.check, data, name))


def test_unknown_key_names_the_closest_known_key():
    assert message({"api_ulr": "x"}) == \
        "unknown key 'api_ulr' in config.json (did you mean 'api_url'?)"
    assert message({"profle": "zaikio"}) == \
        "unknown key 'profle' in config.json (did you mean 'profile'?)"
    assert message({"intervall": 5}) == \
        "unknown key 'intervall' in config.json (did you mean 'interval'?)"
    assert message({"wifi_pasword": "x"}, "secrets.json") == \
        "unknown key 'wifi_pasword' in secrets.json (did you mean 'wifi_password'?)"
    assert message({"colour": "blue"}) == "unknown key 'colour' in config.json"  # none is near


def test_a_key_in_the_wrong_file_is_sent_to_the_right_one():
    assert message({"client_secret": "s"}) == \
        "unknown key 'client_secret' in config.json (it belongs in secrets.json)"
    assert message({"wifi_ssid": "home"}, "secrets.json") == \
        "unknown key 'wifi_ssid' in secrets.json (it belongs in config.json)"


def test_wrong_kinds_name_the_key_and_never_show_a_secret():
    assert message({"interval": "300"}) == \
        "'interval' in config.json must be a number from 0 to 86400, not '300'"
    assert message({"sleep": "hibernate"}) == \
        "'sleep' in config.json must be \"idle\", \"light\" or \"deep\", not 'hibernate'"
    for bad, key in (({"watchdog": True}, "watchdog"), ({"scope": ["ok", 5]}, "scope"),
                     ({"params": ["a"]}, "params"), ({"repl_pin": -1}, "repl_pin"),
                     ({"asyncio": 1}, "asyncio"), ({"ca": 5}, "ca")):
        assert message(bad).startswith("%r in config.json must be" % key), bad
    m = message({"client_secret": 1234567}, "secrets.json")
    assert m == "'client_secret' in secrets.json must be a string" and "1234567" not in m
    assert len(message({"api_url": ["x" * 500]})) < 120  # a long value is cut short


def test_defaults_are_filled_in_and_a_checked_config_checks_again():
    c = settings.check({"interval": 0.5, "scope": ["a", "b"], "repl_pin": 0})
    names = [r[0] for r in settings.APP + settings.CLIENT]
    assert sorted(c) == sorted(names)
    assert c["interval"] == 0.5 and c["sleep"] == "idle" and c["watchdog"] == 120
    assert c["api_url"] is None and c["profile"] == "custom" and c["repl_pin"] == 0
    assert settings.check(c) == c
    assert settings.check({"api_url": None})["api_url"] is None  # null: the default
    c = settings.check({"auth": ["basic", "raw"], "client_cert": "c.der", "client_key": "k.der"})
    assert c["auth"] == ["basic", "raw"] and c["client_cert"] == "c.der"
    assert settings.check({"auth": "jwt"})["auth"] == "jwt"
    assert message({"client_key": 5}).startswith("'client_key' in config.json must be")
    s = settings.check({"client_id": "a", "client_secret": "b"}, "secrets.json")
    assert s == {"client_id": "a", "client_secret": "b", "wifi_password": ""}


def test_every_number_has_a_finite_range_and_infinity_is_refused_with_its_key():
    # JSON's 1e999 is infinity on both runtimes: no key takes it (a loop computing a wait from
    # it would end), nor NaN, a wait over a day (board.wait stops at one), a timeout of 0
    for name, kind, default, _ in settings.APP + settings.CLIENT:
        if kind == "num":
            lo, hi = settings.RANGES[name]
            assert 0 <= lo <= hi <= 31_536_000 and (default is None or lo <= default <= hi), name
            for bad in (1e999, -1e999, float("nan"), hi * 2 + 1, lo - 1):
                m = message({name: bad})
                assert m.startswith("%r in config.json must be a number from " % name), (name, m)
    assert message({"interval": 1e999}) == \
        "'interval' in config.json must be a number from 0 to 86400, not inf"
    for key in ("timeout", "deadline"):
        assert message({key: 0}).startswith("%r in config.json must be" % key)


def test_a_watchdog_a_request_could_outlast_is_refused_naming_both():
    # fed before every request: a request's deadline (30 s by default) plus DNS must fit
    assert message({"watchdog": 50}) == ("'watchdog' in config.json (50 s) must be more than "
                                         "'deadline' (30 s) + 20 s: a slow request would "
                                         "reset the board")
    assert "(9 s)" in message({"watchdog": 20, "deadline": 9})
    assert settings.check({"watchdog": 30, "deadline": 5})["watchdog"] == 30
    assert settings.check({"watchdog": 0})["watchdog"] == 0  # none: nothing to outlast


def test_every_key_has_a_known_kind_and_a_meaning():
    seen = []
    for name, kind, _, meaning in settings.APP + settings.CLIENT + settings.SECRETS:
        assert name not in seen, name
        seen.append(name)
        assert kind in settings.KINDS or isinstance(kind, tuple), name
        assert meaning and "\n" not in meaning, name


def test_client_options_are_the_client_keys_that_are_set():
    c = settings.check({"base_url": "https://x", "ca": "", "leeway": 0, "interval": 5})
    assert settings.client_options(c) == {"base_url": "https://x", "leeway": 0}


def test_closest_is_by_edit_distance():
    assert settings.closest("timout", ["timeout", "deadline"]) == "timeout"
    assert settings.closest("deadlien", ["timeout", "deadline"]) == "deadline"
    assert settings.closest("zzz", ["timeout", "deadline"]) is None


def test_load_names_the_file_when_it_is_missing_or_not_json():
    d = fakeboard.workdir("settings-load")
    e = raises(settings.ConfigError, settings.load, d + "/config.json")
    assert str(e).startswith("config.json missing: ")
    for text, want in (("{nope", "config.json is not valid JSON: "),
                       ("[1]", "config.json must hold a JSON object")):
        with open(d + "/config.json", "w") as f:
            f.write(text)
        assert str(raises(settings.ConfigError, settings.load, d + "/config.json")
                   ).startswith(want)


def test_the_app_refuses_an_unknown_key_before_any_network_traffic():
    from support import log

    fakeboard.use()
    reset(profile="zaikio")
    d = fakeboard.workdir("settings-app")
    fakeboard.write_json(d + "/config.json", {"profile": "zaikio", "base_url": url(),
                                              "api_ulr": url("/api/v1/resource"),
                                              "repl_window": 0, "cycles": 1})
    fakeboard.write_json(d + "/secrets.json", {"client_id": CLIENT_ID,
                                               "client_secret": CLIENT_SECRET})
    e = raises(settings.ConfigError, settings.load, d + "/config.json")
    assert str(e) == "unknown key 'api_ulr' in config.json (did you mean 'api_url'?)"
    from board import Board

    b = fakeboard.RecordingBoard(Board(log=lambda *a: None), stop_after=2)
    raises(KeyboardInterrupt, mainloop.main, d + "/config.json", d + "/secrets.json", b)
    assert b.waits == [60, 60] and log() == []  # once a minute, and nothing sent
    fakeboard.write_json(d + "/config.json", {"profile": "zaikio", "base_url": url(),
                                              "repl_window": 0, "cycles": 1})
    fakeboard.write_json(d + "/secrets.json", {"client_id": CLIENT_ID, "client_sercet": "x"})
    b = fakeboard.RecordingBoard(Board(log=lambda *a: None), stop_after=1)
    raises(KeyboardInterrupt, mainloop.main, d + "/config.json", d + "/secrets.json", b)
    assert b.waits == [60] and log() == []
