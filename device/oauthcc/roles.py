# The Zaikio/Heidelberg role bitfield: bit i is set when the holder has roles[i].


class RoleBitField:
    def __init__(self, bitfield, roles):
        self.bitfield = bitfield or 0
        self.roles = roles or []

    def _bit(self, name):
        try:
            return 1 << self.roles.index(name)
        except ValueError:
            return 0

    def has_role(self, name):
        return bool(self.bitfield & self._bit(name))

    def add_role(self, name):
        bit = self._bit(name)
        if not bit:
            raise ValueError("unknown role")
        self.bitfield |= bit

    def remove_role(self, name):
        self.bitfield &= ~self._bit(name)

    def active_roles(self):
        return [r for r in self.roles if self.has_role(r)]

    def __repr__(self):
        return "RoleBitField(%d, %r)" % (self.bitfield, self.roles)


def active_roles(token, roles):
    """The roles a token carries, in the order of `roles` (from GET /api/v1/roles).

    A JWT access token carries the bitfield in its "roles" claim; an opaque one comes with the
    names in bearer_on_behalf_of.roles. A token with neither has no roles. Both lists are
    server data: a role order that is not a list counts as empty, and only strings are roles
    (others keep their bit in the order, and are never returned).
    """
    from . import jwt

    if not isinstance(roles, list):
        roles = []
    try:
        bits = jwt.claims(token.access_token).get("roles")
    except ValueError:
        bits = None
    if isinstance(bits, int):
        names = RoleBitField(bits, roles).active_roles()
    else:
        extra = token.extra if isinstance(token.extra, dict) else {}
        obo = extra.get("bearer_on_behalf_of")
        names = obo.get("roles") if isinstance(obo, dict) else None
        if not isinstance(names, list):
            return []
        # keep the server's role order when we know it, and names we do not know at the end
        names = [r for r in roles if r in names] + [r for r in names if r not in roles]
    return [r for r in names if isinstance(r, str)]
