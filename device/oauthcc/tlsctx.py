# The verifying TLS context from a CA (DER or PEM, one root or a bundle), built once per
# transport: tls.context loads this module for that and lets it go after it, so a device's
# steady state and its requests do not carry the CA decoding.
from .errors import OAuthError


def _der_length(data, i):
    # one DER SEQUENCE at data[i:]: tag 0x30, then a short or 1-3 byte long length
    if len(data) < i + 2 or data[i] != 0x30:
        raise ValueError("ca: not a DER or PEM certificate")
    n, k = data[i + 1], 0
    if n & 0x80:
        k = n & 0x7F
        if not 1 <= k <= 3 or len(data) < i + 2 + k:
            raise ValueError("ca: not a DER or PEM certificate")
        n = int.from_bytes(data[i + 2 : i + 2 + k], "big")
    if len(data) < i + 2 + k + n:
        raise ValueError("ca: DER certificate is truncated")
    return 2 + k + n


def ca_certs(ca):
    """The DER certificates in ca: DER bytes (one or several), PEM bytes or text (one or a
    bundle), or the path of a file holding either. ValueError when there is none.

    PEM is decoded here because some MicroPython builds take only DER.
    """
    if isinstance(ca, str) and ca.startswith("-----BEGIN"):
        ca = ca.encode()  # PEM text rather than a file name
    if isinstance(ca, str):
        try:
            with open(ca, "rb") as f:
                ca = f.read()
        except OSError as e:
            raise ValueError("ca file %s cannot be read: %s" % (ca, e))
    if not isinstance(ca, (bytes, bytearray)):
        raise ValueError("ca must be DER or PEM bytes, or a file path")
    certs = []
    if b"-----BEGIN" in ca:
        from ._port import a2b_base64

        for block in ca.split(b"-----BEGIN CERTIFICATE-----")[1:]:
            end = block.find(b"-----END CERTIFICATE-----")
            if end < 0:
                raise ValueError("ca: PEM certificate without END line")
            try:
                der = a2b_base64(b"".join(block[:end].split()))
            except ValueError:
                raise ValueError("ca: PEM certificate is not Base64")
            _der_length(der, 0)
            certs.append(der)
    else:
        i = 0
        while i < len(ca):
            n = _der_length(ca, i)
            certs.append(bytes(ca[i : i + n]))
            i += n
    if not certs:
        raise ValueError("ca: no certificate found (DER or PEM expected)")
    return certs


def context(ca, verify):
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if not verify:  # explicit opt-out, documented as unsafe
        if hasattr(ctx, "check_hostname"):
            ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    ctx.verify_mode = ssl.CERT_REQUIRED  # never rely on the default: MicroPython's is NONE
    if ca is None:
        if not hasattr(ctx, "load_default_certs"):
            # MicroPython has no system trust store: refuse before connecting
            raise OAuthError("tls_verification_failed", "no CA for https: pass ca= (the "
                             "server's root certificate as DER or PEM bytes or a file), or "
                             "verify=False to skip verification (unsafe)", retryable=False)
        ctx.load_default_certs()
        return ctx
    for der in ca_certs(ca):
        try:
            ctx.load_verify_locations(cadata=der)  # MicroPython adds each root to the chain
        except (ValueError, OSError) as e:  # CPython's ssl.SSLError is an OSError
            raise ValueError("ca: certificate rejected by the TLS library: %s" % (e,))
    return ctx
