# This library doing what bench_naive.py does, for tools/bench.py: a client-credentials token
# (verified TLS with ca=) and one bearer API call. Each cycle forces a new token, like the snippet.
from oauthcc import TokenClient


def setup(base, scope, client_id, secret, ca):
    client = TokenClient(base + "/oauth/token", client_id, secret, scope, ca=ca)
    api = base + "/api/v1/resource"

    def cycle(i):
        if i:
            client.invalidate()
        return client.request("GET", api).json()

    return cycle
