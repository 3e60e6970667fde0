# The one exception type for protocol failures (network failures stay OSError), and the
# Token: what every module of the library hands out. Token lives here, not in grant.py, so
# that a cached token does not hold grant's code (a renewal lets grant go: client.py).


class OAuthError(Exception):
    """An OAuth 2.0 error answer, or a response that breaks the protocol.

    error: the RFC 6749 code ("invalid_client", ...), or "invalid_response", "http_<status>",
    "tls_verification_failed", "backoff" (an attempt refused because the last one failed and
    the retry time has not come). description: the server's text, never a secret of ours.
    status: HTTP status or None. retry_after: seconds or None. retryable: may succeed later.
    """

    def __init__(self, error, description=None, status=None, retry_after=None, retryable=None):
        super().__init__(error, description, status)
        self.error = error
        self.description = description
        self.status = status
        self.retry_after = retry_after
        if retryable is None:
            retryable = error in ("temporarily_unavailable", "server_error") or (
                status is not None and (status == 408 or status == 429 or status >= 500)
            )
        self.retryable = retryable

    @property
    def permanent(self):
        """A 4xx answer with a permanent code, or tls_verification_failed (backoff.PERMANENT)."""
        from .backoff import permanent  # asked only after a failure: a fetch never loads it

        return permanent(self)

    def __str__(self):
        s = self.error
        if self.description:
            s += ": " + self.description
        if self.status:
            s += " (HTTP %d)" % self.status
        return s

    def __repr__(self):
        return "OAuthError(%s)" % self


class Token:
    """An access token as the server issued it.

    expires_in is the lifetime in seconds the client works with: the server's expires_in, else
    the JWT's exp - iat, else the client's default, kept within 10 s and a day. extra holds
    every other response field (Zaikio's audiences, bearer, bearer_on_behalf_of, ...).
    """

    def __init__(self, access_token, token_type="Bearer", expires_in=None, refresh_token=None,
                 scope=None, extra=None):
        self.access_token = access_token
        self.token_type = token_type
        self.expires_in = expires_in
        self.refresh_token = refresh_token
        self.scope = scope
        self.extra = extra if extra is not None else {}

    def __repr__(self):  # never the token itself: repr ends up in logs
        return "<Token %s scope=%r expires_in=%r refresh=%s>" % (
            self.token_type, self.scope, self.expires_in, self.refresh_token is not None)
