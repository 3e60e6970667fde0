# Pure encoders: HTTP Basic credentials, form bodies, base64url. No I/O. Their code lives in
# grant.py (a renewal loads one module, not two) and jwt.py; this module only names them.
from .grant import basic_auth, form_encode, quote  # noqa: F401 (re-exported)


def b64url_decode(s):
    """Decode base64url (see jwt.b64url_decode, its home: a token fetch does not load it)."""
    from .jwt import b64url_decode

    return b64url_decode(s)
