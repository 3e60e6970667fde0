# Zaikio: a person token (Per/...>Org/...) with the person's roles, then an API call.
#   tools/mp examples/zaikio.py [BASE_URL [CA_FILE]]
# BASE_URL defaults to the stub server (python3 tools/stub_server.py --profile zaikio --port 8000);
# give https://hub.zaikio.com and its root CA for the real hub.
import sys

import oauthcc
from oauthcc import roles, scopes

base = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
ca = sys.argv[2] if len(sys.argv) > 2 else None
ORG = "b1475f65-236c-58b8-96e1-e1778b43beb7"  # the organization, and the person acting in it
PERSON = "29b276b7-c0fa-4514-a5b1-c0fb4ee40fa7"

client = oauthcc.from_profile(
    "zaikio", "device-1", "s3cret",
    [scopes.person_in_org(PERSON, ORG, "zaikio.machines.rw")],  # granted in the hub beforehand
    base, ca=ca)
t = client.token()
print("token:", t.expires_in, "s, scope", t.scope, "for", t.extra["bearer_on_behalf_of"]["id"])
order = client.request("GET", base + "/api/v1/roles").json()  # the order of the role bits
print("roles:", roles.active_roles(t, order))
r = client.request("GET", base + "/api/v1/person")
print("API:", r.status, r.json())
