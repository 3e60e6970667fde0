# A token and an API call with it: the blocking TokenClient, the server given by its URL.
#   tools/mp examples/blocking.py [BASE_URL [CA_FILE]]          (MicroPython unix port)
#   PYTHONPATH=device python3 examples/blocking.py [BASE_URL [CA_FILE]]      (CPython)
# BASE_URL defaults to the stub server: python3 tools/stub_server.py --profile generic --port 8000
import sys

import oauthcc

base = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
ca = sys.argv[2] if len(sys.argv) > 2 else None  # the server's root CA (https on MicroPython)

client = oauthcc.TokenClient(base + "/oauth/token", "device-1", "s3cret", "read", ca=ca)
try:
    t = client.token()  # cached, renewed when due
    print("token:", t.token_type, "for", t.expires_in, "s, scope", t.scope)
    r = client.request("GET", base + "/api/v1/things")  # sends the token
    print("API:", r.status, r.json())
except (oauthcc.OAuthError, OSError) as e:
    # the library never sleeps: it says how long to wait before the next attempt
    print("failed:", e, "- next attempt in", client.next_attempt_in_ms(), "ms")
client.close()  # the connection kept for the next request: close it before sleeping
