# A generic identity service: the token endpoint at /oauth/token, an audience parameter.
# The client comes from its admin endpoint (tools/provision.py creates one).
#   tools/mp examples/generic.py [BASE_URL [CA_FILE]]
# BASE_URL defaults to the stub server (python3 tools/stub_server.py --profile generic --port 8000).
import sys

import oauthcc

base = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
ca = sys.argv[2] if len(sys.argv) > 2 else None

client = oauthcc.from_profile("generic", "device-1", "s3cret", "read:secrets", base,
                              audience="https://localhost:5001/", ca=ca)
t = client.token()
print("token:", t.expires_in, "s, scope", t.scope)
r = client.request("GET", base + "/secrets")
print("API:", r.status, r.json())
