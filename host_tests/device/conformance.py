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
