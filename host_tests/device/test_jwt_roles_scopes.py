from oauthcc import Token, jwt, scopes
from oauthcc.roles import RoleBitField, active_roles
from support import make_jwt, raises

SEED_004 = {
    "iss": "ZAI",
    "sub": "Person/29b276b7-c0fa-4514-a5b1-c0fb4ee40fa7>"
    "Organization/b1475f65-236c-58b8-96e1-e1778b43beb7",
    "aud": [],
    "jti": "b1475f65-236c-58b8-96e1-e1778b43beb7",
    "nbf": 1576225131,
    "exp": 1576225731,
    "jku": "https://https://hub.zaikio.com/api/v1/jwt_public_keys",
    "scope": ["zaikio.machines.rw"],
    "roles": 3,
}
ROLES = ["owner", "admin", "member", "print_admin"]


def test_claims_of_the_seed_004_payload():
    c = jwt.claims(make_jwt(SEED_004))
    assert c == SEED_004
    assert c["roles"] == 3
    assert jwt.lifetime(c) == 600  # exp - nbf: no wall clock involved


def test_lifetime_prefers_iat_and_ignores_nonsense():
    assert jwt.lifetime({"iat": 100, "nbf": 50, "exp": 400}) == 300
    assert jwt.lifetime({"exp": 400}) is None
    assert jwt.lifetime({"iat": 500, "exp": 400}) is None
    assert jwt.lifetime({"iat": "a", "exp": 400}) is None


def test_opaque_and_malformed_tokens_raise_value_error():
    for bad in ("749ceefd1f7909a1773501e0bc57d5b2", "a.b", "a.b.c.d", "x.!!!.y", "x.W10.y",
                "x.eyJh.y", "", None, 5):
        raises(ValueError, jwt.claims, bad)


def test_role_bitfield_seed_example():
    rb = RoleBitField(3, ROLES)
    assert rb.active_roles() == ["owner", "admin"]
    assert rb.has_role("owner") and rb.has_role("admin")
    assert not rb.has_role("member")


def test_role_bitfield_add_remove_and_unknown():
    rb = RoleBitField(3, ROLES)
    rb.add_role("print_admin")
    assert rb.bitfield == 11
    rb.add_role("print_admin")  # idempotent, unlike += in the seed
    assert rb.bitfield == 11
    rb.remove_role("owner")
    rb.remove_role("owner")
    assert rb.bitfield == 10
    assert rb.active_roles() == ["admin", "print_admin"]
    assert not rb.has_role("superuser")
    raises(ValueError, rb.add_role, "superuser")
    rb.remove_role("superuser")  # not held: nothing to remove
    assert rb.bitfield == 10


def test_role_bitfield_none_behaves_as_in_the_seed():
    assert RoleBitField(None, ROLES).bitfield == 0
    assert RoleBitField(None, ROLES).active_roles() == []
    assert RoleBitField(3, None).active_roles() == []
    assert not RoleBitField(3, None).has_role("owner")


def test_active_roles_from_jwt_claim_or_opaque_response():
    jwt_token = Token(make_jwt(SEED_004))
    assert active_roles(jwt_token, ROLES) == ["owner", "admin"]
    # a reordered role list changes what the same bits mean: why the order is fetched anew
    assert active_roles(jwt_token, ["member", "print_admin", "owner", "admin"]) == [
        "member", "print_admin"]
    opaque = Token("749ceefd1f7909a1773501e0bc57d5b2", extra={
        "bearer_on_behalf_of": {"id": "x", "type": "Person", "roles": ["admin", "owner", "new"]}})
    assert active_roles(opaque, ROLES) == ["owner", "admin", "new"]
    assert active_roles(Token("opaque"), ROLES) == []


def test_scope_builders():
    o, p = "b1475f65-236c-58b8-96e1-e1778b43beb7", "29b276b7-c0fa-4514-a5b1-c0fb4ee40fa7"
    assert scopes.org(o, "warehouse.items.r") == "Org/" + o + ".warehouse.items.r"
    assert scopes.person_in_org(p, o, "zaikio.machines.rw") == (
        "Per/" + p + ">Org/" + o + ".zaikio.machines.rw")


def test_scope_prefix_stripped_before_comparing():
    o = "Org/b1475f65-236c-58b8-96e1-e1778b43beb7"
    per = "Per/29b276b7-c0fa-4514-a5b1-c0fb4ee40fa7>" + o
    assert scopes.strip_bearer(o + ".a.b.r") == "a.b.r"
    assert scopes.strip_bearer(per + ".zaikio.machines.rw") == "zaikio.machines.rw"
    assert scopes.strip_bearer("read:secrets") == "read:secrets"
    assert not scopes.differs(o + ".a.r," + o + ".b.rw", "b.rw,a.r")
    assert not scopes.differs([per + ".zaikio.machines.rw"], "zaikio.machines.rw")
    assert not scopes.differs("read:secrets", None)  # no scope answered: granted as asked
    assert scopes.differs("read:secrets write:secrets", "read:secrets")
    assert scopes.split(None) == []


def test_client_says_when_the_granted_scope_differs():
    # the client's check skips loading scopes only where the answer cannot differ
    import json

    from oauthcc import TokenClient
    from oauthcc.transport import Response
    from support import ORG, FakeClock

    class Server:
        def request(self, method, url, body=None, headers=None):
            d = {"access_token": "a", "token_type": "bearer", "expires_in": 60}
            if granted is not None:
                d["scope"] = granted
            return Response(200, {}, json.dumps(d).encode())

    o = ORG + ".a.r"
    for asked, granted, differs in (("read", None, False), ("read", "read", False),
                                    ("read write", "read write", False),
                                    ("read write", "write read", False),
                                    ("read write", "read", True), (o, o, True),
                                    (o, "a.r", False), (ORG + ".b.r", "a.r", True)):
        said = []
        TokenClient("https://as.example/token", "id", "secret", asked, transport=Server(),
                    clock=FakeClock(), log=said.append).token()
        assert any("differs" in m for m in said) == differs, (asked, granted, said)
