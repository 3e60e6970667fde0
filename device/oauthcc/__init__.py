# oauthcc: OAuth 2.0 client credentials for MicroPython and CPython.
import gc

# Load the modules one at a time into a freshly collected heap: otherwise the .mpy loader's
# garbage ends up between the modules' code and the import needs a larger heap (make bench).
for _name in ("_port", "errors", "http", "client"):
    gc.collect()
    __import__(__name__ + "." + _name)
gc.collect()
del _name

from ._port import release  # noqa: E402
from .client import TokenClient  # noqa: E402
from .errors import OAuthError, Token  # noqa: E402

__all__ = ["TokenClient", "OAuthError", "Token", "from_profile"]
__version__ = "0.1.0"


def from_profile(profile, client_id, client_secret, scope=None, base_url=None, **kw):
    from .profiles import from_profile

    try:
        return from_profile(profile, client_id, client_secret, scope, base_url, **kw)
    finally:
        release(("profiles",))  # its tables serve this call only (a device: the boot)
