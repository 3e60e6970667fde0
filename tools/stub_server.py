"""A stub OAuth 2.0 authorization server that plays each seed server on 127.0.0.1.

Profiles: zaikio and heidelberg (Basic auth, comma-separated Org/.../Per/...>Org/... scopes,
ungranted_scope, refresh tokens, JWT or opaque person tokens with a roles bitfield,
GET /api/v1/roles), wicked (id and secret in the form body, no refresh token, public clients
refused), generic (Basic auth, audience parameter, clients created on the admin port with
POST /client, the secret shown once).

Tests drive it through control endpoints on the main port, which are never logged:
  POST /_stub/reset   {"profile", "lifetime", "token_format": "jwt"|"opaque", "clients": [...],
                       "basic_decoding": "rfc"|"raw", "rotate_refresh", "person_roles",
                       "refresh": bool, "auth": "basic"|"post"|"jwt"|"tls",
                       "requests_per_connection": n}
                      auth "jwt" (RFC 7523 client_secret_jwt): an HS256 assertion signed
                      with the client's secret, iss = sub = its client_id, not expired
                      auth "tls" (RFC 8705 tls_client_auth): the body names the client, the
                      TLS client certificate's common name must be its client_id;
                      requests_per_connection: after that many answers a connection is
                      closed without saying so (default: no limit)
  POST /_stub/revoke  {"what": "refresh"|"access"}   forget issued tokens
  POST /_stub/expire  {}                             every access token expires now
  POST /_stub/faults  {"faults": [fault, ...]}       each fault is used by one request
  GET  /_stub/log                                    what the server received and answered
  GET  /_stub/tls                                    {"tls_failures": failed TLS handshakes}

Connections are HTTP/1.1 keep-alive: every answer has a Content-Length (or is chunked) and the
connection stays open for the next request unless the request or the answer says
`Connection: close`, a fault cuts it, or it idles IDLE_S seconds. Each log entry names its
"connection" (numbered from 1 as they are accepted, never reset), so tests can tell reuse.

A fault is a dict with "kind" and optionally "path" (a prefix; default: any request); a request
uses the first fault whose path it matches, and uses it up. The kinds, in the order they act:
replace the answer
  status   {"status", "headers", "body", "content_type"}   answer this instead (a "Date"
           header given here replaces the server's, so Retry-After dates are reproducible)
  json     {"status", "body": any JSON value}             answer this JSON instead
  oversize {"size"}     a 200 JSON body of `size` bytes
  patch    {"fields"}   the normal token answer with these fields changed (null removes one);
           elsewhere the fault is used up and changes nothing
  chunked  answer normally with Transfer-Encoding: chunked
cut the connection (the log has no status unless the answer's head went out)
  close    close the connection without an answer
  reset    close with a TCP reset
  raw      {"data": str}                                  send these bytes, then close
  truncate {"keep"}     send headers and `keep` body bytes of the answer, then close
  hangup   {"seconds"}  answer normally, as if keeping the connection, then close it when
           no request came within `seconds` (default 0: at once), as a server's idle
           timeout does
pace it
  slow     {"seconds"}  wait, then answer normally (a client timeout)
  drip     {"interval"} answer normally, one byte per interval seconds
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import secrets
import socket
import ssl
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote_plus

ORG_ID = "b1475f65-236c-58b8-96e1-e1778b43beb7"
PERSON_ID = "29b276b7-c0fa-4514-a5b1-c0fb4ee40fa7"
DEFAULT_CLIENT_ID = "device-1"
DEFAULT_CLIENT_SECRET = "s3cret"
ROLES = ["owner", "admin", "member", "print_admin"]
ORG = "Org/" + ORG_ID
PER = "Per/%s>Org/%s" % (PERSON_ID, ORG_ID)
ZAIKIO_GRANTED = [
    ORG + ".zaikio.machines.rw",
    ORG + ".warehouse.items.r",
    PER + ".zaikio.machines.rw",
]
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_JWT_KEY = b"stub-signing-key"  # the stub's own HS256 key: the device never checks it
IDLE_S = 15  # a kept connection idle this long is closed (real servers: 5 to 75 s)

# name: token path (None: the wicked pattern), client auth, scope separator, refresh, lifetime
PROFILES = {
    "zaikio": ("/oauth/access_token", "basic", ",", True, 599),
    "heidelberg": ("/oauth/access_token", "basic", ",", True, 599),
    "wicked": (None, "post", " ", False, 3600),
    "generic": ("/oauth/token", "basic", " ", False, 3600),
}


class OAuthFailure(Exception):
    def __init__(self, error, description=None, status=400):
        super().__init__(error)
        self.error, self.description, self.status = error, description, status


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(claims):
    head = _b64url(b'{"alg":"HS256","typ":"JWT"}') + "." + _b64url(json.dumps(claims).encode())
    sig = hmac.new(_JWT_KEY, head.encode(), hashlib.sha256).digest()
    return head + "." + _b64url(sig)


def _default_clients(profile):
    granted = ZAIKIO_GRANTED if profile in ("zaikio", "heidelberg") else None
    return [{"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET,
             "granted_scopes": granted}]


class State:
    """Everything the stub remembers; one lock, because requests run on threads."""

    def __init__(self, **config):
        self.lock = threading.Lock()
        self.connections = 0  # accepted so far: numbers stay unique across resets
        self.reset(config)

    def reset(self, config):
        config = dict(config or {})
        profile = config.get("profile", "zaikio")
        if profile not in PROFILES:
            raise ValueError("unknown profile %r" % profile)
        path, auth, sep, refresh, lifetime = PROFILES[profile]
        with self.lock:
            self.profile = profile
            self.token_path = path
            self.auth = config.get("auth", auth)
            self.sep = sep
            self.refresh = config.get("refresh", refresh)
            self.lifetime = int(config.get("lifetime", lifetime))
            self.token_format = config.get("token_format", "jwt")
            self.basic_decoding = config.get("basic_decoding", "rfc")
            self.rotate_refresh = config.get("rotate_refresh", True)
            self.per_connection = config.get("requests_per_connection")
            self.person_roles = config.get("person_roles", ["owner", "admin"])
            clients = config.get("clients")
            if clients is None:
                clients = _default_clients(profile)
            self.clients = {c["client_id"]: dict(c) for c in clients}
            self.access = {}  # access token -> {"client_id", "scope", "exp" (monotonic)}
            self.refresh_tokens = {}  # refresh token -> {"client_id", "scope"}
            self.faults = []
            self.log = []
            self.tls_failures = 0

    def is_token_path(self, path):
        if self.token_path is not None:
            return path == self.token_path
        parts = path.split("/")  # /auth/<auth method>/api/<api>/token
        return (len(parts) == 6 and parts[1] == "auth" and parts[3] == "api"
                and parts[5] == "token" and all(parts[2:5]))

    def take_fault(self, path):
        with self.lock:
            for i, f in enumerate(self.faults):
                if path.startswith(f.get("path", "")):
                    return self.faults.pop(i)
        return None

    # -- the token endpoint ------------------------------------------------------------------

    def client_auth(self, headers, form, peer=None):
        """(client_id, secret, basic pair for the log) as the profile expects them. peer: the
        common name of the TLS client certificate, or None."""
        if self.auth == "tls":
            cid = form.get("client_id")
            if "authorization" in headers or "client_secret" in form or not cid or peer != cid:
                raise OAuthFailure("invalid_client", "client certificate required", 401)
            with self.lock:
                secret = self.clients.get(cid, {}).get("client_secret")
            return cid, secret, None
        if self.auth == "jwt":
            return self.assertion_auth(headers, form)
        h = headers.get("authorization", "")
        basic = None
        if h[:6].lower() == "basic ":
            try:
                raw = base64.b64decode(h[6:].strip(), validate=True).decode()
            except (ValueError, UnicodeError):
                raise OAuthFailure("invalid_client", "malformed Basic header", 401)
            cid, sep, secret = raw.partition(":")
            if not sep:
                raise OAuthFailure("invalid_client", "malformed Basic header", 401)
            if self.basic_decoding == "rfc":
                cid, secret = unquote_plus(cid), unquote_plus(secret)
            basic = [cid, secret]
        if self.auth == "basic":
            if basic is None:
                raise OAuthFailure("invalid_client", "HTTP Basic authentication required", 401)
            return basic[0], basic[1], basic
        if basic is not None:
            raise OAuthFailure("invalid_client", "send client_id and client_secret in the body",
                               401)
        return form.get("client_id"), form.get("client_secret"), None

    def assertion_auth(self, headers, form):
        """client_secret_jwt: (client_id, its secret, None) when the assertion is good."""
        a = form.get("client_assertion", "")
        if ("authorization" in headers or "client_secret" in form or a.count(".") != 2
                or form.get("client_assertion_type") != JWT_BEARER):
            raise OAuthFailure("invalid_client", "client_secret_jwt assertion required", 401)
        body, sig = a.rsplit(".", 1)
        try:
            claims = json.loads(base64.urlsafe_b64decode(body.split(".")[1] + "=="))
            cid = claims["iss"]
            with self.lock:
                secret = str(self.clients[cid].get("client_secret", ""))
        except (ValueError, KeyError, TypeError):
            raise OAuthFailure("invalid_client", "malformed assertion", 401)
        good = _b64url(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())
        if (not hmac.compare_digest(good, sig) or claims.get("sub") != cid
                or form.get("client_id", cid) != cid or claims.get("exp", 0) < time.time()):
            raise OAuthFailure("invalid_client", "assertion refused", 401)
        return cid, secret, None

    def token(self, headers, form, peer=None):
        """(status, JSON answer) of a token request."""
        cid, secret, _ = self.client_auth(headers, form, peer)
        with self.lock:
            client = self.clients.get(cid)
        if client is None or self.auth != "tls" and (not secret or not hmac.compare_digest(
                str(client.get("client_secret", "")).encode(), secret.encode())):
            raise OAuthFailure("invalid_client", "client authentication failed", 401)
        if client.get("public"):
            raise OAuthFailure("unauthorized_client", "public clients cannot use this flow")
        gt = form.get("grant_type")
        if gt == "client_credentials":
            scope = self.check_scope(client, form.get("scope"))
            self.check_audience(client, form.get("audience"))
        elif gt == "refresh_token" and self.refresh:
            with self.lock:
                held = self.refresh_tokens.get(form.get("refresh_token"))
            if held is None or held["client_id"] != cid:
                raise OAuthFailure("invalid_grant", "refresh token invalid, expired or revoked")
            scope = held["scope"]
            if self.rotate_refresh:
                with self.lock:
                    self.refresh_tokens.pop(form.get("refresh_token"), None)
        else:
            raise OAuthFailure("unsupported_grant_type", "grant_type %s" % gt)
        return 200, self.issue(cid, scope, refresh=(gt == "client_credentials"
                                                    or self.rotate_refresh))

    def check_scope(self, client, scope):
        """The list of requested scope names, or OAuthFailure."""
        names = [s for s in (scope or "").split(self.sep) if s]
        if self.profile in ("zaikio", "heidelberg"):
            if not names:
                raise OAuthFailure("invalid_scope", "scope is required")
            for s in names:
                if not (s.startswith("Org/") or s.startswith("Per/")) or "." not in s:
                    raise OAuthFailure("invalid_scope", "malformed scope %s" % s)
        granted = client.get("granted_scopes")
        if isinstance(granted, str):
            granted = granted.split()
        for s in names:
            if granted is not None and s not in granted:
                if self.profile in ("zaikio", "heidelberg"):
                    raise OAuthFailure("ungranted_scope", "%s was not granted" % s)
                raise OAuthFailure("invalid_scope", "%s is not allowed" % s)
        return names

    def check_audience(self, client, audience):
        allowed = client.get("audience")
        if audience is not None and allowed is not None and audience not in allowed:
            raise OAuthFailure("invalid_request", "unknown audience")

    def issue(self, cid, scope, refresh):
        lifetime = self.lifetime
        answer = {"token_type": "bearer", "expires_in": lifetime}
        if self.profile in ("zaikio", "heidelberg"):
            answer.update(self.zaikio_fields(scope))
            at = self.access_token(answer, scope, lifetime)
            answer["scope"] = ",".join(s[s.index(".", s.rindex("/")) + 1:] for s in scope)
        else:
            at = secrets.token_hex(16)
            if scope:
                answer["scope"] = " ".join(scope)
        answer["access_token"] = at
        with self.lock:
            self.access[at] = {"client_id": cid, "scope": scope,
                               "exp": time.monotonic() + lifetime}
            if self.refresh and refresh:
                rt = secrets.token_urlsafe(18)
                self.refresh_tokens[rt] = {"client_id": cid, "scope": scope}
                answer["refresh_token"] = rt
        return answer

    def zaikio_fields(self, scope):
        person = any(s.startswith("Per/") for s in scope)
        fields = {"audiences": ["directory"],
                  "bearer": {"id": ORG_ID, "type": "Organization"}}
        if person:
            fields["bearer_on_behalf_of"] = {"id": PERSON_ID, "type": "Person",
                                             "roles": list(self.person_roles)}
        return fields

    def access_token(self, answer, scope, lifetime):
        if self.token_format != "jwt":
            return secrets.token_hex(16)
        person = "bearer_on_behalf_of" in answer
        now = int(time.time())
        claims = {
            "iss": "ZAI" if self.profile == "zaikio" else "HDD",
            "sub": ("Person/%s>Organization/%s" % (PERSON_ID, ORG_ID)) if person
            else "Organization/" + ORG_ID,
            "aud": [], "jti": secrets.token_hex(8), "nbf": now, "exp": now + lifetime,
            "jku": "https://hub.zaikio.com/api/v1/jwt_public_keys",
            "scope": [s[s.index(".", s.rindex("/")) + 1:] for s in scope],
        }
        if person:
            bits = 0
            for r in self.person_roles:
                if r in ROLES:
                    bits |= 1 << ROLES.index(r)
            claims["roles"] = bits
        return make_jwt(claims)

    # -- resources ---------------------------------------------------------------------------

    def bearer(self, headers):
        h = headers.get("authorization", "")
        if h[:7].lower() != "bearer ":
            return None
        with self.lock:
            t = self.access.get(h[7:].strip())
        if t is None or t["exp"] <= time.monotonic():
            return None
        return t

    def create_client(self, body):
        """The generic identity service's admin endpoint: the secret is shown only here."""
        cid = body.get("client_id") or "client-" + secrets.token_hex(4)
        client = dict(body, client_id=cid, client_secret=secrets.token_urlsafe(24))
        scope = body.get("scope")
        client["granted_scopes"] = scope.split() if isinstance(scope, str) else None
        with self.lock:
            if cid in self.clients:  # as a real service: the old secret is not replaced
                return None
            self.clients[cid] = client
        return {k: v for k, v in client.items() if k != "granted_scopes"}


# -- fault injection: one table per phase, in the order they act on an answer -------------------

# 1. replace the answer: (fault, status, JSON value, headers) -> (status, headers, body)
def _as_is(fault, status, obj, headers):
    return status, headers, json.dumps(obj).encode()


def _status(fault, status, obj, headers):
    headers = dict(fault.get("headers", {}))
    headers.setdefault("Content-Type", fault.get("content_type", "text/plain"))
    return fault.get("status", 500), headers, fault.get("body", "").encode()


def _json(fault, status, obj, headers):
    return (fault.get("status", 200), {"Content-Type": "application/json"},
            json.dumps(fault.get("body")).encode())


def _oversize(fault, status, obj, headers):
    pad = b"x" * max(0, fault.get("size", 100_000) - 11)  # 11: the JSON around it
    return 200, headers, b'{"pad": "' + pad + b'"}'


def _patch(fault, status, obj, headers):
    obj = dict(obj)
    for k, v in fault.get("fields", {}).items():
        if v is None:
            obj.pop(k, None)
        else:
            obj[k] = v
    return status, headers, json.dumps(obj).encode()


def _chunked(fault, status, obj, headers):
    body = json.dumps(obj).encode()
    pieces = [body[i:i + 7] for i in range(0, len(body), 7)]
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    return status, dict(headers, **{"Transfer-Encoding": "chunked"}), body


REPLACE = {"status": _status, "json": _json, "oversize": _oversize, "patch": _patch,
           "chunked": _chunked}


# 2. cut the connection: (handler, fault, head, body) -> the bytes sent before it ends
def _whole(h, fault, head, body):
    return head + body


def _close(h, fault, head, body):
    return b""


def _reset(h, fault, head, body):
    # closed here with SO_LINGER 0: the RST comes first (socketserver would send a FIN before)
    h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    h.connection.close()
    return b""


def _raw(h, fault, head, body):
    return fault["data"].encode("latin-1")


def _truncate(h, fault, head, body):
    return head + body[:fault.get("keep", 5)]


def _hangup(h, fault, head, body):
    # the whole answer, the connection kept as the client may expect; then the idle close
    seconds = fault.get("seconds", 0)
    if seconds:
        h.connection.settimeout(seconds)  # handle_one_request ends the connection on it
    else:
        h.close_connection = True
    return head + body


CUT = {"close": _close, "reset": _reset, "raw": _raw, "truncate": _truncate,
       "hangup": _hangup}


# 3. pace it: (handler, fault, data) sends the data
def _send(h, fault, data):
    if data:
        h.wfile.write(data)


def _slow(h, fault, data):
    time.sleep(fault.get("seconds", 5))
    _send(h, fault, data)


def _drip(h, fault, data):
    for i in range(len(data)):
        h.wfile.write(data[i:i + 1])
        h.wfile.flush()
        time.sleep(fault.get("interval", 1))


PACE = {"slow": _slow, "drip": _drip}
FAULT_KINDS = (*REPLACE, *CUT, *PACE)


def check_faults(faults):
    """The list of faults, or ValueError naming the first one of no known kind."""
    for f in faults:
        if not isinstance(f, dict) or f.get("kind") not in FAULT_KINDS:
            raise ValueError("unknown fault %r: the kinds are %s" % (f, ", ".join(FAULT_KINDS)))
    return list(faults)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "oauthcc-stub/1"
    timeout = IDLE_S  # for every read: an idle kept connection ends (handle_one_request)

    def log_message(self, fmt, *args):  # quiet: the log endpoint says what happened
        pass

    def setup(self):
        st = self.server.state
        with st.lock:
            st.connections += 1
            self.number = st.connections
        self.served = 0
        ctx = self.server.tls
        if ctx is not None:
            self.request.settimeout(10)
            try:
                self.request = ctx.wrap_socket(self.request, server_side=True)
            except (OSError, ssl.SSLError):
                with self.server.state.lock:
                    self.server.state.tls_failures += 1
                self.request = None
        super().setup() if self.request is not None else None

    def handle(self):
        if self.request is None:
            return
        try:
            super().handle()
        except (ConnectionError, TimeoutError, ssl.SSLError):
            pass

    def finish(self):
        if self.request is not None:
            try:
                super().finish()
            except OSError:
                pass

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_HEAD(self):  # e.g. a device reading the Date header to set its clock
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def dispatch(self):
        st = self.server.state
        self.connection.settimeout(IDLE_S)  # a hangup fault's shorter wait is over
        body = self.read_body()
        path = self.path.split("?")[0]
        if self.server.admin:
            return self.admin(path, body)
        if path.startswith("/_stub/"):
            return self.control(path, body)
        headers = {k.lower(): v for k, v in self.headers.items()}
        entry = {"method": self.command, "path": path, "headers": headers, "status": None,
                 "client_cert": self.peer(), "connection": self.number}
        with st.lock:
            st.log.append(entry)
        fault = st.take_fault(path)
        if fault:
            entry["fault"] = fault["kind"]
        if st.is_token_path(path) and self.command == "POST":
            form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            entry["form"] = form
            entry["grant_type"] = form.get("grant_type")
            try:
                entry["basic"] = st.client_auth(headers, form, entry["client_cert"])[2]
            except OAuthFailure:
                entry["basic"] = None
            try:
                status, answer = st.token(headers, form, entry["client_cert"])
            except OAuthFailure as e:
                status, answer = e.status, {"error": e.error}
                if e.description:
                    answer["error_description"] = e.description
            extra = {"Cache-Control": "no-store", "Pragma": "no-cache"}
            if status == 401:
                extra["WWW-Authenticate"] = 'Basic realm="oauth"'
            return self.answer(entry, fault, status, answer, extra)
        if fault and fault["kind"] == "patch":
            fault = None  # it edits token answers only: here it is used up, nothing changes
        t = st.bearer(headers)
        if t is None:
            return self.answer(entry, fault, 401, {"error": "invalid_token"},
                               {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if path == "/api/v1/roles":
            return self.answer(entry, fault, 200, ROLES)
        return self.answer(entry, fault, 200, {"ok": True, "path": path,
                                               "client_id": t["client_id"],
                                               "scope": t["scope"]})

    def peer(self):
        """The common name of the client's TLS certificate, or None (none, or plain HTTP)."""
        cert = self.request.getpeercert() if hasattr(self.request, "getpeercert") else None
        for rdn in (cert or {}).get("subject", ()):
            for k, v in rdn:
                if k == "commonName":
                    return v
        return None

    def answer(self, entry, fault, status, obj, headers=None):
        """Send a JSON answer, or what the fault makes of it: its kind acts in one phase."""
        kind = fault["kind"] if fault else None
        headers = dict(headers or {})
        headers.setdefault("Content-Type", "application/json")
        status, headers, body = REPLACE.get(kind, _as_is)(fault, status, obj, headers)
        head = "HTTP/1.1 %d %s\r\n" % (status, self.responses.get(status, ("X",))[0])
        if "close" in str(headers.get("Connection", "")).lower():
            self.close_connection = True  # a fault's answer says so: then it does
        if self.close_connection:  # the request asked for it (parse_request saw to that)
            headers["Connection"] = "close"
        headers.setdefault("Date", self.date_time_string())
        if "Transfer-Encoding" not in headers:
            headers["Content-Length"] = str(len(body))
        for k, v in headers.items():
            head += "%s: %s\r\n" % (k, v)
        head = head.encode("latin-1") + b"\r\n"
        if self.command == "HEAD":
            body = b""
        data = CUT.get(kind, _whole)(self, fault, head, body)
        if kind in CUT and kind != "hangup":
            self.close_connection = True  # cut: nothing more on this connection
        entry["status"] = status if data.startswith(head) else None
        PACE.get(kind, _send)(self, fault, data)
        self.served += 1
        st = self.server.state
        if st.per_connection and self.served >= st.per_connection:
            self.close_connection = True  # without having said so in the answer

    def send_json(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def json_body(self, body):
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            data = None
        return data if isinstance(data, dict) else None

    def control(self, path, body):
        st = self.server.state
        data = self.json_body(body)
        if path == "/_stub/log":
            with st.lock:
                return self.send_json(200, list(st.log))
        if path == "/_stub/tls":
            with st.lock:
                return self.send_json(200, {"tls_failures": st.tls_failures})
        if data is None:
            return self.send_json(400, {"error": "JSON object expected"})
        if path == "/_stub/reset":
            try:
                st.reset(data)
            except (ValueError, TypeError, KeyError) as e:
                return self.send_json(400, {"error": str(e)})
            return self.send_json(200, {"profile": st.profile})
        with st.lock:
            if path == "/_stub/revoke":
                what = data.get("what", "refresh")
                (st.refresh_tokens if what == "refresh" else st.access).clear()
            elif path == "/_stub/expire":
                for t in st.access.values():
                    t["exp"] = 0
            elif path == "/_stub/faults":
                try:
                    st.faults = check_faults(data.get("faults", []))
                except (ValueError, TypeError) as e:
                    return self.send_json(400, {"error": str(e)})
            else:
                return self.send_json(404, {"error": "no such control"})
        return self.send_json(200, {})

    def admin(self, path, body):
        data = self.json_body(body)
        if path != "/client" or self.command != "POST":
            return self.send_json(404, {"error": "not_found"})
        if data is None:
            return self.send_json(400, {"error": "invalid_request"})
        created = self.server.state.create_client(data)
        if created is None:
            return self.send_json(409, {"error": "conflict",
                                        "error_description": "client_id already exists"})
        return self.send_json(201, created)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, state, admin=False, tls=None):
        super().__init__(addr, Handler)
        self.state, self.admin, self.tls = state, admin, tls

    def handle_error(self, request, client_address):
        pass  # a client that hangs up is normal here


class StubServer:
    """The stub on 127.0.0.1: `url` serves the profile, `admin_url` the admin endpoint.

    tls: an ssl.SSLContext (server side) to serve the main port over HTTPS. state: share the
    State of another StubServer (an HTTPS listener beside a plain one, one log for both).
    admin_port=None: no admin listener.
    """

    def __init__(self, profile="zaikio", port=0, admin_port=0, tls=None, state=None,
                 **config):
        self.state = state or State(profile=profile, **config)
        self._servers = [_Server(("127.0.0.1", port), self.state, tls=tls)]
        self.port = self._servers[0].server_address[1]
        scheme = "https" if tls else "http"
        self.url = "%s://127.0.0.1:%d" % (scheme, self.port)
        self.admin_url = None
        if admin_port is not None:
            self._servers.append(_Server(("127.0.0.1", admin_port), self.state, admin=True))
            self.admin_url = "http://127.0.0.1:%d" % self._servers[1].server_address[1]
        self._threads = []

    def start(self):
        for s in self._servers:
            t = threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1},
                                 daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self):
        for s in self._servers:
            s.shutdown()
            s.server_close()
        for t in self._threads:
            t.join(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def reset(self, config=None):
        self.state.reset(config or {})

    def faults(self, *faults):
        faults = check_faults(faults)
        with self.state.lock:
            self.state.faults = faults

    @property
    def log(self):
        with self.state.lock:
            return list(self.state.log)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", choices=sorted(PROFILES), default="zaikio")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--admin-port", type=int, default=0)
    ap.add_argument("--lifetime", type=int, help="token lifetime in seconds")
    ap.add_argument("--token-format", choices=("jwt", "opaque"), default="jwt")
    ap.add_argument("--auth", choices=("basic", "post", "jwt", "tls"),
                    help="the client authentication it takes (default: the profile's)")
    ap.add_argument("--tls-cert", help="PEM certificate chain: serve HTTPS")
    ap.add_argument("--tls-key", help="PEM private key for --tls-cert")
    ap.add_argument("--url-file", help="write the base URL here once listening")
    args = ap.parse_args(argv)
    tls = None
    if args.tls_cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    config = {"token_format": args.token_format}
    if args.lifetime:
        config["lifetime"] = args.lifetime
    if args.auth:
        config["auth"] = args.auth
    stub = StubServer(args.profile, args.port, args.admin_port, tls, **config).start()
    print("stub %s: %s (admin %s)" % (args.profile, stub.url, stub.admin_url), flush=True)
    if args.url_file:
        tmp = args.url_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(stub.url + "\n" + stub.admin_url + "\n")
        os.replace(tmp, args.url_file)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stub.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
