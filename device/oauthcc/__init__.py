# oauthcc: OAuth 2.0 client credentials for MicroPython and CPython.
from .client import TokenClient
from .errors import OAuthError
from .grant import Token

__all__ = ["TokenClient", "OAuthError", "Token", "from_profile"]
__version__ = "0.1.0"


def from_profile(profile, client_id, client_secret, scope=None, base_url=None, **kw):
    from .profiles import from_profile

    return from_profile(profile, client_id, client_secret, scope, base_url, **kw)
