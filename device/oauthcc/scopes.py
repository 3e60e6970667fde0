# Scope strings of Zaikio and Heidelberg: the bearer (an organization, or a person acting in
# one) prefixes each scope name, and the server answers with the bare names.


def org(org_id, name):
    return "Org/%s.%s" % (org_id, name)


def person_in_org(person_id, org_id, name):
    return "Per/%s>Org/%s.%s" % (person_id, org_id, name)


def strip_bearer(scope):
    """"Org/<id>.a.b.r" and "Per/<id>>Org/<id>.a.b.r" -> "a.b.r"; other scopes unchanged."""
    if scope.startswith("Org/") or scope.startswith("Per/"):
        i = scope.find(".", scope.rfind("/"))
        if i > 0:
            return scope[i + 1 :]
    return scope


def split(scope):
    """A scope string (comma- or space-separated) or list -> list of names."""
    if scope is None:
        return []
    if isinstance(scope, str):
        scope = scope.replace(",", " ").split()
    return list(scope)


def differs(requested, granted):
    """True when the granted scope is not the requested one, bearer prefixes ignored.

    A server that returns no scope granted what was asked (RFC 6749 section 5.1).
    """
    if granted is None:
        return False
    want = sorted(strip_bearer(s) for s in split(requested))
    return want != sorted(split(granted))
