# Helpers for the conformance tests against real servers (conformance/launch.mjs).
# conftest.py starts each server a module names in NEEDS_SERVERS and passes its ready line
# (URLs, registered clients) as JSON in env SERVER_<NAME>.
import json
import os

import oauthcc
from oauthcc.transport import Transport


def server(name):
    return json.loads(os.getenv("SERVER_" + name.upper()))


def secret(info, client_id):
    for c in info["clients"]:
        if c["id"] == client_id:
            return c["secret"]
    raise KeyError(client_id)


def client(info, client_id, scope=None, **kw):
    """A TokenClient for a registered client, made as a user would: the "custom" profile."""
    kw.setdefault("rand", lambda n: n // 2)  # deterministic backoff jitter
    return oauthcc.from_profile("custom", client_id, kw.pop("client_secret", None)
                                or secret(info, client_id), scope, info["token_url"], **kw)


def api_call(info, access_token):
    """The protected resource, called with a bare bearer token (no renewal, no retry)."""
    return Transport().request("GET", info["api_url"], None,
                               {"Authorization": "Bearer " + access_token})


class Recorder(Transport):
    """The real transport, remembering (method, url, status) of every request it made."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def request(self, method, url, body=None, headers=None):
        r = super().request(method, url, body, headers)
        self.seen.append((method, url, r.status))
        return r


def check_expiry_makes_a_new_grant(info):
    """Neither server issues a refresh token for client credentials: expiry is a new grant."""
    from support import FakeClock

    clock = FakeClock()  # 5 s before the ticks wrap
    rec = Recorder()
    c = client(info, "conf-basic", "read", clock=clock, transport=rec)
    t1 = c.token()
    clock.advance(t1.expires_in * 1000)
    t2 = c.token()
    assert t2 is not t1 and t2.refresh_token is None
    assert rec.seen == [("POST", info["token_url"], 200)] * 2  # two client-credentials grants


def check_401_after_one_renewal(info, rec, r):
    """The resource refused the token: one renewal and one retry, then the 401 is returned;
    and the resource refuses a forged token too, so its check is real."""
    assert r.status == 401 and "invalid_token" in r.headers["www-authenticate"]
    token, api = ("POST", info["token_url"], 200), ("GET", info["api_url"], 401)
    assert rec.seen == [token, api, token, api]
    assert api_call(info, "forged." + "x" * 20 + ".sig").status == 401
