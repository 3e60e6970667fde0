# Mutual TLS client authentication (RFC 8705 section 2): the client's certificate and private
# key, read and checked when the client is made, and loaded into its transport's TLS context
# on both runtimes. Loaded only by a client given client_cert=.
from ._port import MICROPYTHON, a2b_base64

_KIND = {"client_cert": "certificate", "client_key": "private key"}


def _der(x, what):
    # DER bytes from DER or PEM bytes, PEM text, or the path of a file holding either
    if isinstance(x, str) and x.startswith("-----BEGIN"):
        x = x.encode()
    if isinstance(x, str):
        try:
            with open(x, "rb") as f:
                x = f.read()
        except OSError as e:
            raise ValueError("%s file %s cannot be read: %s" % (what, x, e))
    if not isinstance(x, (bytes, bytearray)):
        raise ValueError("%s must be DER or PEM bytes, or a file path" % what)
    if b"-----BEGIN" in x:
        # the block this is about: one PEM file may hold the certificate and the key
        i = x.find(b"CERTIFICATE-----" if what == "client_cert" else b"PRIVATE KEY-----")
        start = x.find(b"\n", i)
        end = x.find(b"-----END", start)
        if i < 0 or start < 0 or end < 0:
            raise ValueError("%s: no PEM %s found" % (what, _KIND[what]))
        if b"ENCRYPTED" in x[max(0, i - 20) : end]:
            raise ValueError("%s: encrypted keys are not supported" % what)
        try:
            x = a2b_base64(b"".join(x[start:end].split()))
        except ValueError:
            raise ValueError("%s: PEM is not Base64" % what)
    if len(x) < 2 or x[0] != 0x30:  # a DER SEQUENCE: the TLS library checks the rest
        raise ValueError("%s: not a DER or PEM %s" % (what, _KIND[what]))
    return bytes(x)


def attach(t, cert, key):
    """Show cert and key (client_cert=, client_key=: each DER or PEM bytes, PEM text, or a file
    path; one PEM file may hold both) in every TLS handshake of transport t (transport.py's or
    aiotransport.py's): its context is built now, with its CA, and kept. ValueError now, not
    in a handshake later, for anything the TLS library will not take. t.client_cert_digest:
    SHA-256 of the certificate and key DER, for a configuration fingerprint."""
    if cert is None or key is None:
        raise ValueError("client_cert and client_key go together")
    pair = _der(cert, "client_cert"), _der(key, "client_key")
    import hashlib

    t.client_cert_digest = hashlib.sha256(pair[0] + pair[1]).digest()
    from .errors import OAuthError
    from .tls import context

    try:
        ctx = context(t.ca, t.verify)
    except OAuthError:  # MicroPython without ca=: https is refused anyway; check the pair alone
        import ssl

        load(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), pair)
        return
    load(ctx, pair)
    t._ctx = ctx


def load(ctx, pair):
    """Put the (certificate DER, key DER) pair into the SSLContext ctx."""
    cert, key = pair
    try:
        if MICROPYTHON:
            ctx.load_cert_chain(cert, key)  # mbedTLS takes DER bytes
            return
        _load_files(ctx, cert, key)
    except (ValueError, OSError) as e:  # CPython's ssl.SSLError is an OSError
        raise ValueError("client_cert/client_key rejected by the TLS library: %s" % (e,))


def _load_files(ctx, cert, key):
    # CPython's load_cert_chain reads PEM files only: private temporary files, removed at once
    import os
    import tempfile

    names = []
    try:
        for der, label in ((cert, "CERTIFICATE"), (key, _key_label(key))):
            fd, name = tempfile.mkstemp(suffix=".pem")  # mode 0600
            names.append(name)
            with os.fdopen(fd, "wb") as f:
                f.write(_pem(der, label))
        ctx.load_cert_chain(names[0], names[1])
    finally:
        for name in names:
            os.remove(name)


def _pem(der, label):
    import base64

    b = base64.b64encode(der)
    lines = [b[i : i + 64] for i in range(0, len(b), 64)]
    return b"-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label.encode(), b"\n".join(lines),
                                                            label.encode())


def _key_label(der):
    # the PEM label OpenSSL wants for this DER key: after SEQUENCE and the version INTEGER,
    # PKCS#8 has a SEQUENCE (the algorithm), PKCS#1 RSA an INTEGER, SEC1 EC an OCTET STRING
    i = 2 + (der[1] & 0x7F if der[1] & 0x80 else 0)
    i += 2 + der[i + 1] if der[i] == 0x02 and i + 1 < len(der) else 0
    tag = der[i] if i < len(der) else 0
    return {0x02: "RSA PRIVATE KEY", 0x04: "EC PRIVATE KEY"}.get(tag, "PRIVATE KEY")
