# How the device proves it is the client (auth=), one method chosen by the first argument:
#   auto   HTTP Basic RFC-encoded; after a refusal that can be the encoding, raw, then the body
#   basic  HTTP Basic only          post   id and secret in the form body only
#   jwt    client_secret_jwt: an assertion signed with the secret (needs the wall clock)
#   tools/mp examples/client_auth.py auto|basic|post|jwt [BASE_URL [CA_FILE]]
# BASE_URL defaults to the stub server: python3 tools/stub_server.py --profile generic --port 8000
# (--auth post or --auth jwt for those methods).
import sys

import oauthcc

method = sys.argv[1] if len(sys.argv) > 1 else "auto"
base = sys.argv[2] if len(sys.argv) > 2 else "http://127.0.0.1:8000"
ca = sys.argv[3] if len(sys.argv) > 3 else None

client = oauthcc.TokenClient(base + "/oauth/token", "device-1", "s3cret", "read",
                             auth=method, ca=ca, log=print)
t = client.token()
print("token with auth=%s: %s s" % (method, t.expires_in))
print("API:", client.request("GET", base + "/api/v1/things").status)
