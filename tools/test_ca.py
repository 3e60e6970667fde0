"""`make test-ca`: a test CA and a certificate for 127.0.0.1 and localhost signed by it
(trustme), for the HTTPS stub server and a board's (or the virtual board's) ca.pem.

    build/test-ca/ca.pem      the CA certificate: copy it next to config.json as ca.pem
    build/test-ca/ca.der      the same in DER
    build/test-ca/server.pem  the server's certificate chain
    build/test-ca/server.key  its private key (mode 0600)

    python tools/stub_server.py --tls-cert build/test-ca/server.pem \\
        --tls-key build/test-ca/server.key

Files already there are kept (a board keeps trusting the CA it was given); --new replaces
them. For tests only: the CA's own key is thrown away, nothing else can be signed with it.
"""
import argparse
import os
import ssl
import sys
from pathlib import Path

from toolchain import ROOT, ToolchainError, venv_module

OUT = ROOT / "build" / "test-ca"
FILES = ("ca.pem", "ca.der", "server.pem", "server.key")
HOSTS = ("127.0.0.1", "localhost")


def make(out=OUT, new=False):
    """The test CA's folder, made unless all its files are there already."""
    out = Path(out)
    if not new and all((out / f).is_file() for f in FILES):
        return out
    trustme = venv_module("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert(*HOSTS)
    out.mkdir(parents=True, exist_ok=True)
    pem = ca.cert_pem.bytes()
    (out / "ca.pem").write_bytes(pem)
    (out / "ca.der").write_bytes(ssl.PEM_cert_to_DER_cert(pem.decode()))
    (out / "server.pem").write_bytes(b"".join(c.bytes() for c in cert.cert_chain_pems))
    key = out / "server.key"
    key.unlink(missing_ok=True)
    with os.fdopen(os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
        f.write(cert.private_key_pem.bytes())
    return out


def server_context(out=OUT):
    """An ssl.SSLContext that serves the test CA's server certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(Path(out) / "server.pem", Path(out) / "server.key")
    return ctx


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(OUT), help="default: build/test-ca")
    ap.add_argument("--new", action="store_true", help="replace the files that are there")
    args = ap.parse_args(argv)
    try:
        out = make(args.out, args.new)
    except ToolchainError as e:
        print("test-ca: %s" % e, file=sys.stderr)
        return 1
    for f in FILES:
        print(out / f)
    print("serve it: python tools/stub_server.py --tls-cert %s --tls-key %s"
          % (out / "server.pem", out / "server.key"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
