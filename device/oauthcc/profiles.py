# Defaults of the servers we know, so a user need not look up paths and quirks.
from .client import TokenClient

# Basic, in the two encodings auth="auto" tries (where the server's documentation says Basic
# but not whether it decodes), and the form body only (where it says the body)
_BASIC = ("basic", "raw")
_POST = ("post",)

# name: (base URL or None, token path, scope separator, client authentication: the auth=)
PROFILES = {
    "zaikio": ("https://hub.zaikio.com", "/oauth/access_token", ",", _BASIC),
    "heidelberg": ("https://directory.heidelberg.cloud", "/oauth/access_token", ",", _BASIC),
    "wicked": (None, "/auth/{auth_method_id}/api/{api_id}/token", " ", _POST),
    "generic": (None, "/oauth/token", " ", "auto"),
    "custom": (None, None, " ", "auto"),
}


def from_profile(profile, client_id, client_secret, scope=None, base_url=None, *,
                 token_path=None, auth_method_id=None, api_id=None, audience=None, cls=None,
                 **kw):
    """A TokenClient with a server profile's defaults; every keyword overrides them.

    zaikio/heidelberg: base_url defaults to the production hub/directory, scopes join with ",",
    HTTP Basic in either encoding (auth=("basic", "raw"): see TokenClient's auth="auto").
    wicked: needs auth_method_id and api_id; id and secret go in the form body.
    generic: audience becomes the "audience" form parameter.
    custom: token_path (or a full token URL as base_url) is required.
    cls: the client class (default TokenClient; aio.AsyncTokenClient for asyncio).
    """
    try:
        base, path, sep, auth = PROFILES[profile]
    except KeyError:
        raise ValueError("unknown profile %r (known: %s)" % (profile, ", ".join(PROFILES)))
    base = (base_url or base or "").rstrip("/")
    if not base:
        raise ValueError("profile %r needs base_url" % profile)
    path = token_path if token_path is not None else path
    if path and "{" in path:
        if not (auth_method_id and api_id):
            raise ValueError("profile %r needs auth_method_id and api_id" % profile)
        path = path.format(auth_method_id=auth_method_id, api_id=api_id)
    if audience is not None:
        params = dict(kw.pop("params", None) or {})
        params["audience"] = audience
        kw["params"] = params
    kw.setdefault("scope_separator", sep)
    kw.setdefault("auth", auth)
    return (cls or TokenClient)(base + (path or ""), client_id, client_secret, scope, **kw)
