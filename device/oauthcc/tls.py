# TLS for both transports, imported only for https: the verifying context (the transport
# builds and keeps it; its code, the CA decoding, is tlsctx.py, loaded for that only), the
# clock check, the blocking transport's bounded handshake, and what counts as a failed
# verification. A plain HTTP fetch never loads it.
from ._port import MICROPYTHON, const
from .errors import OAuthError

_MBEDTLS_X509_CERT_VERIFY_FAILED = const(-0x2700)


def ca_certs(ca):
    """The DER certificates in ca: DER bytes (one or several), PEM bytes or text (one or a
    bundle), or the path of a file holding either. ValueError when there is none (tlsctx)."""
    from ._port import release
    from .tlsctx import ca_certs

    try:
        return ca_certs(ca)
    finally:
        release(("tlsctx",))


def context(ca, verify):
    """The client's TLS context: verify_mode CERT_REQUIRED with the roots of ca (ca_certs),
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
    send) for the blocking transport, its handshake bounded by the per-read timeout and the
    request's deadline; the OAuthError tls_verification_failed when the server failed it.

    CPython bounds a whole handshake by the socket's timeout (within: transport._within).
    MicroPython's wrap_socket's own handshake loops in C for as long as the server sends, a
    byte at a time if it likes (a timeout only makes mbedTLS try again). Over a non-blocking
    socket mbedTLS shakes hands inside the first write, which returns whenever bytes are
    missing: they are waited for here, and the request line (nothing secret) is that first
    write: mbedTLS sends it only once the handshake, verification included, has succeeded.
    """
    import gc

    gc.collect()  # the handshake needs the largest free blocks we can give it
    try:
        if not MICROPYTHON:
            return within(raw.settimeout, timeout_ms, deadline, ctx.wrap_socket, raw,
                          server_hostname=host), line
        sock = ctx.wrap_socket(raw, server_hostname=host, do_handshake_on_connect=False)
        try:
            import select

            from ._port import ticks_diff, ticks_ms

            raw.setblocking(False)
            p = select.poll()
            p.register(sock, select.POLLOUT)  # a TLS socket polls for what its handshake awaits
            data = line.encode()
            while data:
                n = sock.write(data)
                if n:
                    data = data[n:]
                    continue
                ms = max(0, min(timeout_ms, ticks_diff(deadline, ticks_ms())))  # as _within
                if not ms or not p.poll(ms):
                    from .untrusted import timeout

                    raise timeout(ms < timeout_ms)
            raw.settimeout(timeout_ms / 1000)  # blocking again, for the head and the body
            return sock, ""
        except BaseException:
            sock.close()  # mbedTLS's memory now, not at the next garbage collection
            raise
    except Exception as e:
        raise verify_failed(e) or e


def verify_failed(e):
    """e as OAuthError("tls_verification_failed") when it says the server failed
    verification, else None: only these, as that error latches."""
    name = type(e).__name__
    if not (name == "SSLCertVerificationError"  # CPython
            or MICROPYTHON and isinstance(e, ValueError)  # mbedTLS: host name mismatch
            or isinstance(e, OSError) and e.args and e.args[0] == _MBEDTLS_X509_CERT_VERIFY_FAILED):
        return None
    # mbedTLS lists the reasons one per line: one line for a log
    return OAuthError("tls_verification_failed", " ".join(str(e).split()), retryable=False)
