# wicked.haufe.io: the token path names the auth method and the API; id and secret go in the
# form body; no refresh token (a new grant when the token expires).
#   tools/mp examples/wicked.py [BASE_URL [CA_FILE]]
# BASE_URL defaults to the stub server (python3 tools/stub_server.py --profile wicked --port 8000).
import sys

import oauthcc

base = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
ca = sys.argv[2] if len(sys.argv) > 2 else None

client = oauthcc.from_profile("wicked", "device-1", "s3cret", ["read"], base,
                              auth_method_id="default", api_id="petstore", ca=ca)
print("token URL:", client.token_url)
t = client.token()
print("token:", t.expires_in, "s, scope", t.scope, "refresh token:", t.refresh_token)
r = client.request("GET", base + "/petstore/v1/pets")  # another origin: list it in api_origins=
print("API:", r.status, r.json())
