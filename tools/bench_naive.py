# The naive baseline for tools/bench.py: the snippet people paste today. Frozen `requests`,
# a hand-made Basic header, no TLS verification (requests turns it off), no error handling.
import binascii

import requests


def setup(base, scope, client_id, secret, ca):
    def cycle(i):
        auth = binascii.b2a_base64((client_id + ":" + secret).encode())[:-1].decode()
        body = "grant_type=client_credentials&scope=" + scope
        r = requests.post(base + "/oauth/token", data=body,
                          headers={"Authorization": "Basic " + auth,
                                   "Content-Type": "application/x-www-form-urlencoded"})
        token = r.json()["access_token"]
        r = requests.get(base + "/api/v1/resource", headers={"Authorization": "Bearer " + token})
        return r.json()

    return cycle
