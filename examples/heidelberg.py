# Heidelberg: an organization token (Org/...), comma-separated scopes, HTTP Basic.
#   tools/mp examples/heidelberg.py [BASE_URL [CA_FILE]]
# BASE_URL defaults to the stub server (python3 tools/stub_server.py --profile heidelberg
# --port 8000); give https://directory.heidelberg.cloud and its root CA for the real one.
import sys

import oauthcc
from oauthcc import scopes

base = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
ca = sys.argv[2] if len(sys.argv) > 2 else None
ORG = "b1475f65-236c-58b8-96e1-e1778b43beb7"

client = oauthcc.from_profile("heidelberg", "device-1", "s3cret",
                              [scopes.org(ORG, "warehouse.items.r")], base, ca=ca)
t = client.token()
print("token:", t.expires_in, "s, scope", t.scope, "refresh token:", t.refresh_token is not None)
r = client.request("GET", base + "/api/v1/organization")
print("API:", r.status, r.json())
