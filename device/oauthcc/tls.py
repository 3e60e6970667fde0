# TLS for both transports, imported only for https: the verifying context (the transport
# builds and keeps it; its code, the CA decoding, is tlsctx.py, loaded for that only), the
# clock check and the blocking transport's bounded handshake (its code is handshake.py, loaded
# for it); what counts as a failed verification is untrusted.py's (failure only). A plain
# HTTP fetch never loads it.
from .errors import OAuthError


def context(ca, verify):
    """The client's TLS context: verify_mode CERT_REQUIRED with the roots of ca (tlsctx.ca_certs),
    the default trust store where the runtime has one (CPython), or refused; verify=False
    checks nothing (unsafe). Its code (tlsctx) serves this call only."""
    from ._port import release
    from .tlsctx import context

    try:
        return context(ca, verify)
    finally:
        release(("tlsctx",))


def check_clock(clock):
    """Refuse https while the wall clock is unset (clock.unix_time() None), before connecting.

    Certificate dates cannot be checked: the handshake would fail and latch
    tls_verification_failed for good. This passes once NTP has set the clock.
    """
    if clock.unix_time() is None:
        raise OAuthError("clock_not_set", "set the wall clock (NTP) before https: "
                         "certificate dates are checked", retryable=True)


def connect(ctx, raw, host, line, timeout_ms, deadline, within):
    """(the TLS socket over the connected socket raw, what is left of the request line to
    send): the blocking transport's bounded handshake. Its code (handshake.py) serves the
    handshake only: let go after it, it is not resident while the answer is read."""
    from ._port import MICROPYTHON, release

    if MICROPYTHON:  # CPython needs no help (and handshake.connect collects anyway)
        import gc

        gc.collect()  # its code lands low, not between garbage
    from .handshake import connect

    try:
        return connect(ctx, raw, host, line, timeout_ms, deadline, within)
    finally:
        release(("handshake",))
