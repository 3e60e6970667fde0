# Starts one real OAuth 2.0 server that is not a Node program on 127.0.0.1 for the conformance
# tests (launch.mjs starts the Node ones), with a tiny protected resource beside it.
# usage: python launch.py glewlwyd|authlib|lemonldap
# Prints one JSON line when ready: URLs, registered clients, HTTPS URLs (test CA from env
# CONFORMANCE_PKI, see pki.py). Exits when its stdin ends, and takes its servers with it.
import base64
import hashlib
import hmac
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONF = json.loads((HERE / "clients.json").read_text())
CLIENTS, SCOPES, API = CONF["clients"], CONF["scopes"], CONF["api"]
PKI = Path(os.environ.get("CONFORMANCE_PKI", HERE / "no-pki"))
_children = []  # server processes: ended when we end


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tls_context():
    """The HTTPS listeners' context: the test CA's localhost certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(PKI / "server.pem", PKI / "server.key")
    return ctx


def _serve(handler, ctx=None):
    """A ThreadingHTTPServer on 127.0.0.1 (HTTPS with ctx) in a thread; returns its port."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    if ctx is not None:
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd.server_address[1]


def _send(h, status, obj, headers=()):
    body = json.dumps(obj).encode() if obj is not None else b""
    h.send_response(status)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(body)))
    for k, v in headers:
        h.send_header(k, v)
    h.end_headers()
    h.wfile.write(body)


def resource(check):
    """GET /api/whoami: 200 with the claims that check(token) returns, or 401 with
    WWW-Authenticate (RFC 6750) when it returns None."""

    class Resource(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("Bearer ") or " " in auth[7:]:
                return _send(self, 401, {"error": "invalid_request"},
                             [("WWW-Authenticate", "Bearer")])
            claims = check(auth[7:])
            if claims is None:
                return _send(self, 401, {"error": "invalid_token"},
                             [("WWW-Authenticate", 'Bearer error="invalid_token"')])
            _send(self, 200, {"ok": True, "claims": claims})

    return Resource


def _b64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def hs256_claims(token, key, issuer, audience):
    """The claims of an HS256 JWT whose signature, iss, aud and exp check out, else None."""
    try:
        head, body, sig = token.split(".")
        mac = hmac.new(key.encode(), ("%s.%s" % (head, body)).encode(), hashlib.sha256)
        if not hmac.compare_digest(mac.digest(), _b64url(sig)):
            return None
        claims = json.loads(_b64url(body))
    except ValueError:
        return None
    aud = claims.get("aud")
    if claims.get("iss") != issuer or claims.get("exp", 0) < time.time() or \
            audience not in (aud if isinstance(aud, list) else [aud]):
        return None
    return claims


def _start(cmd, log, url, timeout=20):
    """Run a server process until it ends with us; wait until url answers."""
    import ctypes

    def die_with_parent():
        ctypes.CDLL(None).prctl(1, 15)  # PR_SET_PDEATHSIG, SIGTERM: no orphan on a kill -9

    p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         preexec_fn=die_with_parent)
    _children.append(p)
    ctx = ssl.create_default_context(cafile=str(PKI / "ca.pem")) if url.startswith("https") \
        else None
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if p.poll() is not None:
            raise SystemExit("%s exited %s (see its log)" % (cmd[0], p.returncode))
        try:
            urllib.request.urlopen(url, timeout=2, context=ctx).close()
            return p
        except OSError:
            time.sleep(0.05)
    raise SystemExit("%s not ready within %d s" % (cmd[0], timeout))


def _api(method, url, obj=None, cookie=None):
    """A JSON call to glewlwyd's admin API; returns (status, headers, parsed body or None)."""
    data = json.dumps(obj).encode() if obj is not None else None
    req = urllib.request.Request(url, data, method=method)
    req.add_header("Content-Type", "application/json")
    if cookie:
        req.add_header("Cookie", cookie)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
            return r.status, r.headers, json.loads(body) if body else None
    except urllib.error.HTTPError as e:
        raise SystemExit("glewlwyd %s %s: %s %s" % (method, url, e.code, e.read()[:500]))


# -- glewlwyd (Debian package): the OpenID Connect plugin's token endpoint ---------------------

GLEWLWYD_SQL = Path("/usr/share/dbconfig-common/data/glewlwyd/install/sqlite3")
GLEWLWYD_KEY = "conf-glewlwyd-hs256-signing-key-0123456789"  # the plugin's HS256 token key
GLEWLWYD_CONF = """port=%(port)d
bind_address="127.0.0.1"
external_url="%(url)s"
api_prefix="api"
static_files_path="/usr/share/glewlwyd/webapp/"
log_mode="console"
log_level="DEBUG"
cookie_domain="127.0.0.1"
cookie_secure=0
session_key="GLEWLWYD2_SESSION_ID"
session_expiration=3600
admin_scope="g_admin"
profile_scope="g_profile"
login_api_enabled=true
user_module_path="/usr/lib/glewlwyd/user"
user_middleware_module_path="/usr/lib/glewlwyd/user_middleware"
client_module_path="/usr/lib/glewlwyd/client"
user_auth_scheme_module_path="/usr/lib/glewlwyd/scheme"
plugin_module_path="/usr/lib/glewlwyd/plugin"
hash_algorithm="SHA512"
database={ type="sqlite3" path="%(db)s" };
%(tls)s
"""


def _glewlwyd_client(c, tls_url):
    client = {"client_id": c["id"], "name": c["id"], "confidential": True, "enabled": True,
              "authorization_type": ["client_credentials"], "scope": SCOPES,
              "token_endpoint_auth_method": [c["auth"]]}
    if c["auth"] == "client_secret_jwt":
        client["client_secret"] = c["secret"]  # kept as is, not hashed: HS256 needs it
    elif c["secret"] is not None:
        client["password"] = c["secret"]  # stored as a PBKDF2 hash
    if "tls_client_auth_san_dns" in c:
        client["tls_client_auth_san_dns"] = c["tls_client_auth_san_dns"]
    if c["auth"] == "self_signed_tls_client_auth":
        client["jwks"] = {"keys": [json.loads((PKI / "selfsigned.jwk.json").read_text())]}
    return client


def glewlwyd():
    exe = shutil.which("glewlwyd")
    if not exe or not GLEWLWYD_SQL.exists():
        raise SystemExit("glewlwyd is not installed (Debian package glewlwyd: as root, "
                         "make conformance-debs)")
    d = Path(tempfile.mkdtemp(prefix="oauthcc-glewlwyd-"))
    import atexit
    import sqlite3

    atexit.register(shutil.rmtree, d, True)
    db = sqlite3.connect(d / "glewlwyd.db")
    db.executescript(GLEWLWYD_SQL.read_text())  # the package's schema, admin/password
    db.close()
    port, tls_port = _free_port(), _free_port()
    url, tls_url = "http://127.0.0.1:%d" % port, "https://localhost:%d" % tls_port
    conf = {"port": port, "url": url, "db": d / "glewlwyd.db", "tls": ""}
    (d / "http.conf").write_text(GLEWLWYD_CONF % conf)
    _start([exe, "-c", str(d / "http.conf")], sys.stderr, url + "/config")

    # configure it through its admin API, as a person would in the admin web app
    _, h, _ = _api("POST", url + "/api/auth/", {"username": "admin", "password": "password"})
    cookie = h["Set-Cookie"].split(";")[0]
    for s in SCOPES + ["admin"]:  # admin exists but no client may have it
        _api("POST", url + "/api/scope/", {"name": s, "display_name": s, "description":
                                           "conformance " + s, "password_required": False},
             cookie)
    _api("POST", url + "/api/mod/plugin/", {
        "module": "oidc", "name": "oidc", "display_name": "oidc", "enabled": True,
        "parameters": {
            "iss": url + "/api/oidc", "jwt-type": "sha", "jwt-key-size": "256",
            "key": GLEWLWYD_KEY, "access-token-duration": 3600, "code-duration": 600,
            "refresh-token-duration": 1209600, "allow-non-oidc": True,
            "auth-type-client-enabled": True, "auth-type-refresh-enabled": True,
            "resource-allowed": True, "resource-scope": {s: [API] for s in SCOPES},
            "client-cert-source": "TLS", "client-cert-self-signed-allowed": True,
            "client-cert-use-endpoint-aliases": False,
            "request-parameter-allow": True,  # client_assertion (client_secret_jwt) needs it
            "introspection-revocation-allowed": True,
            "introspection-revocation-allow-target-client": True}}, cookie)
    for c in CLIENTS:
        _api("POST", url + "/api/client/", _glewlwyd_client(c, tls_url), cookie)

    # the HTTPS listener: a second glewlwyd on the same database (one listener each), its CA
    # file the test CA, so that it verifies client certificates (tls_client_auth)
    # GnuTLS refuses a client certificate that no CA in this file vouches for: the
    # self-signed one (self_signed_tls_client_auth) must be in it too, or it never gets here
    (d / "client-ca.pem").write_bytes((PKI / "ca.pem").read_bytes()
                                      + (PKI / "selfsigned.pem").read_bytes())
    tls = ('use_secure_connection=true\nsecure_connection_key_file="%s"\n'
           'secure_connection_pem_file="%s"\nsecure_connection_ca_file="%s"\n'
           % (PKI / "server.key", PKI / "server.pem", d / "client-ca.pem"))
    conf.update(port=tls_port, url=tls_url, tls=tls)
    (d / "https.conf").write_text(GLEWLWYD_CONF % conf)
    _start([exe, "-c", str(d / "https.conf")], sys.stderr, tls_url + "/config")

    def check(token):
        return hs256_claims(token, GLEWLWYD_KEY, url + "/api/oidc", API)

    api_port = _serve(resource(check))
    version = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "glewlwyd"],
                             capture_output=True, text=True).stdout or "?"
    return {"server": "glewlwyd", "version": version, "issuer": url + "/api/oidc",
            "token_url": url + "/api/oidc/token",
            "revoke_url": url + "/api/oidc/revoke",
            "tls_token_url": tls_url + "/api/oidc/token",
            "api_url": "http://127.0.0.1:%d/api/whoami" % api_port, "resource": API}


# -- authlib (PyPI): its AuthorizationServer and grants, driven by our glue --------------------
# authlib is a toolkit: it decides client authentication, grants, scopes and errors; we give it
# the storage (a dict), the HTTP plumbing (http.server) and the client model below.

AUTHLIB_LIFETIME = 3600


def authlib_server():
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # its HTTP listener (HTTPS is beside it)
    import authlib
    from authlib.common.security import generate_token
    from authlib.oauth2 import rfc6749
    from authlib.oauth2.rfc6749 import grants
    from authlib.oauth2.rfc6750 import BearerTokenGenerator
    from authlib.oauth2.rfc7009 import RevocationEndpoint
    from authlib.oauth2.rfc7523 import JWTBearerClientAssertion

    tokens = {}  # access token -> (client id, scope, expiry, revoked)
    urls = []  # the token endpoint URLs: accepted as a client assertion's aud

    class Client(rfc6749.ClientMixin):
        def __init__(self, c):
            self.c = c

        def get_client_id(self):
            return self.c["id"]

        def get_default_redirect_uri(self):
            return None

        def get_allowed_scope(self, scope):  # as authlib's own SQLAlchemy mixin does
            return " ".join(s for s in (scope or "").split() if s in SCOPES)

        def check_redirect_uri(self, redirect_uri):
            return False

        def check_client_secret(self, client_secret):
            return self.c["secret"] is not None and \
                hmac.compare_digest(self.c["secret"].encode(), client_secret.encode())

        def check_endpoint_auth_method(self, method, endpoint):
            return method == self.c["auth"]

        def check_response_type(self, response_type):
            return False

        def check_grant_type(self, grant_type):
            return grant_type == "client_credentials"

    class SecretJWT(JWTBearerClientAssertion):
        CLIENT_AUTH_METHOD = "client_secret_jwt"
        seen = set()

        def get_audiences(self):
            return urls

        def resolve_client_public_key(self, client):
            from joserfc.jwk import OctKey

            return OctKey.import_key(client.c["secret"])  # HS256: the shared secret is the key

        def validate_jti(self, claims, jti):
            if jti in self.seen:
                return False
            self.seen.add(jti)
            return True

    class ClientCredentials(grants.ClientCredentialsGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post",
                                       "client_secret_jwt"]

    class Revocation(RevocationEndpoint):
        CLIENT_AUTH_METHODS = ClientCredentials.TOKEN_ENDPOINT_AUTH_METHODS

        def query_token(self, token_string, token_type_hint):
            if token_string in tokens:
                return Token(token_string)

        def revoke_token(self, token, request):
            tokens[token.value] = tokens[token.value][:3] + (True,)

    class Token(rfc6749.TokenMixin):
        def __init__(self, value):
            self.value = value

        def check_client(self, client):
            return tokens[self.value][0] == client.get_client_id()

    class Payload(rfc6749.OAuth2Payload):
        def __init__(self, form):
            self.form = form

        @property
        def data(self):
            return {k: v[0] for k, v in self.form.items()}

        @property
        def datalist(self):
            return self.form

    class Request(rfc6749.OAuth2Request):
        def __init__(self, h, form):
            super().__init__("POST", h.url, headers=h.headers)
            self.payload = Payload(form)
            self._form = self.payload.data

        @property
        def form(self):
            return self._form

        @property
        def args(self):
            return {}

    class Server(rfc6749.AuthorizationServer):
        def query_client(self, client_id):
            c = [c for c in CLIENTS if c["id"] == client_id]
            return Client(c[0]) if c else None

        def save_token(self, token, request):
            tokens[token["access_token"]] = (request.client.get_client_id(),
                                             token.get("scope"),
                                             time.time() + token["expires_in"], False)

        def create_oauth2_request(self, request):
            return request

        def handle_response(self, status, body, headers):
            return status, body, headers

        def send_signal(self, name, *args, **kwargs):
            pass

    server = Server(scopes_supported=SCOPES + ["admin"])  # admin: known, given to no one
    server.register_token_generator("default", BearerTokenGenerator(
        lambda **kw: generate_token(42),
        expires_generator=lambda client, grant_type: AUTHLIB_LIFETIME))
    server.register_grant(ClientCredentials)
    server.register_client_auth_method(SecretJWT.CLIENT_AUTH_METHOD, SecretJWT(leeway=30))
    server.register_endpoint(Revocation)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            from urllib.parse import parse_qs

            n = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(n).decode("utf-8", "replace"),
                            keep_blank_values=True)
            self.url = "%s://%s%s" % ("https" if isinstance(self.connection, ssl.SSLSocket)
                                      else "http", self.headers.get("Host"), self.path)
            req = Request(self, form)
            if self.path == "/oauth/token":
                status, body, headers = server.create_token_response(req)
            elif self.path == "/oauth/revoke":
                status, body, headers = server.create_endpoint_response("revocation", req)
            else:
                status, body, headers = 404, {"error": "not_found"}, []
            _send(self, status, body, [h for h in headers if h[0].lower() != "content-type"])

    def check(token):
        t = tokens.get(token)
        if t is None or t[3] or t[2] < time.time():
            return None
        return {"client_id": t[0], "scope": t[1]}

    port, tls_port = _serve(Handler), _serve(Handler, _tls_context())
    url, tls_url = "http://127.0.0.1:%d" % port, "https://localhost:%d" % tls_port
    urls.extend([url + "/oauth/token", tls_url + "/oauth/token"])
    api_port = _serve(resource(check))
    return {"server": "authlib", "version": authlib.__version__, "issuer": url,
            "token_url": url + "/oauth/token", "revoke_url": url + "/oauth/revoke",
            "tls_token_url": tls_url + "/oauth/token",
            "api_url": "http://127.0.0.1:%d/api/whoami" % api_port}


# -- LemonLDAP::NG (Debian liblemonldap-ng-portal-perl): its portal's OpenID Connect issuer -----
# The portal is a PSGI program: plackup runs it, with an ini file and a File configuration
# store of ours (the package's own default configuration, plus an OIDC issuer and our clients).

LLNG_PSGI = Path("/usr/share/lemonldap-ng/portal/htdocs/index.psgi")
LLNG_DEFAULT_CONF = Path("/var/lib/lemonldap-ng/conf/lmConf-1.json")
LLNG_INI = """[all]
logLevel = debug
[configuration]
type = File
dirName = %(d)s/conf
localStorage = Cache::FileCache
localStorageOptions = { 'namespace' => 'lemonldap-ng-config', 'cache_root' => '%(d)s/cache' }
[portal]
staticPrefix = /static
templateDir = /usr/share/lemonldap-ng/portal/templates
languages = en
"""


def _rsa_pem():
    from cryptography.hazmat.primitives import serialization as s
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return (key.private_bytes(s.Encoding.PEM, s.PrivateFormat.TraditionalOpenSSL,
                              s.NoEncryption()).decode(),
            key.public_key().public_bytes(s.Encoding.PEM,
                                          s.PublicFormat.SubjectPublicKeyInfo).decode())


def lemonldap():
    plackup = shutil.which("plackup")
    if not plackup or not LLNG_PSGI.exists() or not LLNG_DEFAULT_CONF.exists():
        raise SystemExit("LemonLDAP::NG is not installed (Debian packages "
                         "liblemonldap-ng-portal-perl and more: as root, make conformance-debs)")
    import atexit

    d = Path(tempfile.mkdtemp(prefix="oauthcc-lemonldap-"))
    atexit.register(shutil.rmtree, d, True)
    for sub in ("conf", "cache", "sessions/lock", "psessions/lock", "notifications"):
        (d / sub).mkdir(parents=True)
    port = _free_port()
    url = "http://127.0.0.1:%d/" % port
    conf = json.loads(LLNG_DEFAULT_CONF.read_text())
    private, public = _rsa_pem()
    secret_clients = [c for c in CLIENTS if c["auth"] in ("client_secret_basic",
                                                           "client_secret_post")]
    conf.update({
        "portal": url, "domain": "127.0.0.1", "cfgNum": 1,
        # the demo's self-registration and notifications need mail modules: not ours to test
        "registerDB": "Null", "notification": 0,
        "globalStorageOptions": dict(conf["globalStorageOptions"], Directory=str(
            d / "sessions"), LockDirectory=str(d / "sessions/lock")),
        "persistentStorageOptions": {"Directory": str(d / "psessions"),
                                     "LockDirectory": str(d / "psessions/lock")},
        "localSessionStorageOptions": dict(conf["localSessionStorageOptions"],
                                           cache_root=str(d / "cache")),
        "notificationStorageOptions": {"dirName": str(d / "notifications")},
        "issuerDBOpenIDConnectActivation": 1,
        "oidcServiceMetaDataIssuer": url.rstrip("/"),
        "oidcServicePrivateKeySig": private, "oidcServicePublicKeySig": public,
        "oidcServiceKeyIdSig": "conf",
        "oidcServiceAllowOnlyDeclaredScopes": 1,  # else any scope asked is granted
        "oidcRPMetaDataOptions": {"rp-" + c["id"]: {
            "oidcRPMetaDataOptionsClientID": c["id"],
            "oidcRPMetaDataOptionsClientSecret": c["secret"],
            "oidcRPMetaDataOptionsPublic": 0,
            "oidcRPMetaDataOptionsAllowClientCredentialsGrant": 1,
            "oidcRPMetaDataOptionsAccessTokenExpiration": 3600} for c in secret_clients},
        # a scope is granted when it was asked ($requested); nothing else is known
        "oidcRPMetaDataScopeRules": {"rp-" + c["id"]: {s: "$requested" for s in SCOPES}
                                     for c in secret_clients},
        "oidcRPMetaDataExportedVars": {"rp-" + c["id"]: {} for c in secret_clients},
    })
    (d / "conf" / "lmConf-1.json").write_text(json.dumps(conf))
    (d / "lemonldap-ng.ini").write_text(LLNG_INI % {"d": d})
    env = dict(os.environ, LLNG_DEFAULTCONFFILE=str(d / "lemonldap-ng.ini"))
    os.environ.update(env)  # _start passes our environment on
    cmd = [plackup, "-E", "deployment", "--host", "127.0.0.1", str(LLNG_PSGI)]
    _start(cmd + ["--port", str(port)], sys.stderr, url + ".well-known/openid-configuration",
           timeout=20)
    # HTTPS: a second portal process on the same configuration and session files
    tls_port = _free_port()
    tls_url = "https://localhost:%d/" % tls_port
    _start(cmd + ["--port", str(tls_port), "--ssl", "1", "--ssl-key-file", str(
        PKI / "server.key"), "--ssl-cert-file", str(PKI / "server.pem")], sys.stderr,
        tls_url + ".well-known/openid-configuration", timeout=20)

    def check(token):  # RFC 7662 introspection, as conf-basic
        from urllib.parse import urlencode

        c = next(c for c in CLIENTS if c["id"] == "conf-basic")
        auth = base64.b64encode(("%s:%s" % (c["id"], c["secret"])).encode()).decode()
        req = urllib.request.Request(url + "oauth2/introspect", urlencode(
            {"token": token}).encode(), {"Authorization": "Basic " + auth})
        with urllib.request.urlopen(req, timeout=10) as r:
            answer = json.loads(r.read())
        return answer if answer.get("active") else None

    api_port = _serve(resource(check))
    version = subprocess.run(["dpkg-query", "-W", "-f", "${Version}",
                              "liblemonldap-ng-portal-perl"],
                             capture_output=True, text=True).stdout or "?"
    return {"server": "LemonLDAP::NG", "version": version, "issuer": url.rstrip("/"),
            "token_url": url + "oauth2/token", "tls_token_url": tls_url + "oauth2/token",
            "api_url": "http://127.0.0.1:%d/api/whoami" % api_port}


STARTERS = {"glewlwyd": glewlwyd, "authlib": authlib_server, "lemonldap": lemonldap}


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else ""
    if name not in STARTERS:
        raise SystemExit("usage: python launch.py %s" % "|".join(STARTERS))
    try:
        info = STARTERS[name]()
        info.update(ready=name, clients=CLIENTS, scopes=SCOPES,
                    pki=str(PKI) if PKI.exists() else None)
        sys.stdout.write(json.dumps(info) + "\n")
        sys.stdout.flush()
        sys.stdin.read()  # the parent holds our stdin: when it goes away, so do we
    finally:
        for p in _children:
            p.terminate()
        for p in _children:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
