# The test PKI of the real servers, made fresh for each test session (trustme + cryptography):
#   ca.pem                         the CA that signed the servers' and conf-mtls's certificates
#   server.pem / server.key        the HTTPS listeners: localhost and 127.0.0.1
#   client.pem / client.key        conf-mtls (tls_client_auth): CN conf-mtls, DNS conf-mtls.example
#   selfsigned.pem / .key          conf-selfsigned (self_signed_tls_client_auth), signed by itself
#   selfsigned.jwk.json            its public key as a JWK with x5c, as servers register it
# Each certificate and key is there as PEM and as DER (.der, .key.der), as a board may want.
# usage: python pki.py DIR
import base64
import datetime
import json
import sys
from pathlib import Path

MTLS_CN = "conf-mtls"
MTLS_DNS = "conf-mtls.example"
SELF_CN = "conf-selfsigned"


def _der(pem_cert=None, key=None):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization as s

    if pem_cert is not None:
        return x509.load_pem_x509_certificate(pem_cert).public_bytes(s.Encoding.DER)
    return key.private_bytes(s.Encoding.DER, s.PrivateFormat.PKCS8, s.NoEncryption())


def _self_signed():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives import serialization as s
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SELF_CN)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    nums = key.public_key().public_numbers()
    der = cert.public_bytes(s.Encoding.DER)

    def b64u(n):
        return base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()

    jwk = {"kty": "EC", "crv": "P-256", "x": b64u(nums.x), "y": b64u(nums.y), "use": "sig",
           "kid": SELF_CN, "x5c": [base64.b64encode(der).decode()]}
    pem_key = key.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption())
    return cert.public_bytes(s.Encoding.PEM), pem_key, key, jwk


def make(d):
    """Write the files into d (a Path); returns d."""
    import trustme
    from cryptography.hazmat.primitives import serialization as s

    d.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1")
    client = ca.issue_cert(MTLS_DNS, common_name=MTLS_CN)
    files = {"ca.pem": ca.cert_pem.bytes(),
             "server.pem": b"".join(b.bytes() for b in server.cert_chain_pems),
             "server.key": server.private_key_pem.bytes()}
    pem = client.cert_chain_pems[0].bytes()
    key = s.load_pem_private_key(client.private_key_pem.bytes(), None)
    files.update({"client.pem": pem, "client.key": client.private_key_pem.bytes(),
                  "client.der": _der(pem), "client.key.der": _der(key=key)})
    pem, pem_key, key, jwk = _self_signed()
    files.update({"selfsigned.pem": pem, "selfsigned.key": pem_key,
                  "selfsigned.der": _der(pem), "selfsigned.key.der": _der(key=key),
                  "selfsigned.jwk.json": json.dumps(jwk).encode(),
                  "ca.der": _der(ca.cert_pem.bytes())})
    for name, data in files.items():
        (d / name).write_bytes(data)
    return d


if __name__ == "__main__":
    print(make(Path(sys.argv[1])))
