# The one exception type for protocol failures. Network failures stay OSError.

# Codes of a 4xx answer that cannot succeed until the configuration (or the grant on the
# server) changes: the client waits long before it asks again (backoff.py). The same
# code in a 5xx, 408 or 429 answer is retryable like any other: only a 4xx can be permanent.
PERMANENT = (
    "invalid_client",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "ungranted_scope",
    "invalid_target",  # RFC 8707: unknown resource indicator
    # a bare 401 or 403, no JSON: how some servers refuse a client (Glewlwyd: a wrong secret,
    # an unknown scope); as final as invalid_client, and just as curable by a fix
    "http_401",
    "http_403",
    "tls_verification_failed",
)


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
        """A 4xx answer with a PERMANENT code, or tls_verification_failed (no answer at all)."""
        s = self.status
        return not self.retryable and self.error in PERMANENT and (
            400 <= s < 500 if s else self.error == "tls_verification_failed")

    def __str__(self):
        s = self.error
        if self.description:
            s += ": " + self.description
        if self.status:
            s += " (HTTP %d)" % self.status
        return s

    def __repr__(self):
        return "OAuthError(%s)" % self
