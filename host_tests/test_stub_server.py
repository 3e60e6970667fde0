"""The stub authorization server itself (CPython only: it is a host tool), driven with the
standard library's HTTP client so its behaviour is checked independently of oauthcc."""
import base64
import hashlib
import hmac
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import stub_server
from stub_server import _JWT_KEY, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, ORG, PER, StubServer

ROOT = Path(__file__).resolve().parent.parent
BASIC = "Basic " + base64.b64encode(
    ("%s:%s" % (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)).encode()).decode()


def post(url, form, headers=None):
    req = urllib.request.Request(url, form.encode(), dict(headers or {}, Authorization=BASIC))
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _unb64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def test_zaikio_person_token_is_a_signed_jwt_with_the_seed_fields():
    with StubServer("zaikio", lifetime=120) as stub:
        status, a = post(stub.url + "/oauth/access_token",
                         "grant_type=client_credentials&scope=" + PER + ".zaikio.machines.rw")
    assert status == 200
    assert a["token_type"] == "bearer" and a["expires_in"] == 120
    assert a["scope"] == "zaikio.machines.rw" and a["refresh_token"]
    assert a["audiences"] == ["directory"] and a["bearer"]["type"] == "Organization"
    assert a["bearer_on_behalf_of"]["roles"] == ["owner", "admin"]
    head, payload, sig = a["access_token"].split(".")
    good = hmac.new(_JWT_KEY, (head + "." + payload).encode(), hashlib.sha256).digest()
    assert _unb64(sig) == good
    claims = json.loads(_unb64(payload))
    assert claims["roles"] == 3 and claims["scope"] == ["zaikio.machines.rw"]
    assert claims["exp"] - claims["nbf"] == 120 and claims["sub"].startswith("Person/")


def test_error_answers_have_rfc_statuses():
    with StubServer("zaikio") as stub:
        token_url = stub.url + "/oauth/access_token"
        assert post(token_url, "grant_type=client_credentials&scope=%s.nope.r" % ORG) == (
            400, {"error": "ungranted_scope", "error_description": ORG + ".nope.r was not granted"})
        assert post(token_url, "grant_type=password")[1]["error"] == "unsupported_grant_type"
        req = urllib.request.Request(token_url, b"grant_type=client_credentials")
        try:
            urllib.request.urlopen(req, timeout=5)
            raise AssertionError("no Basic header accepted")
        except urllib.error.HTTPError as e:
            assert e.code == 401 and json.loads(e.read())["error"] == "invalid_client"
        assert [e["status"] for e in stub.log] == [400, 400, 401]


def test_command_line_serves_until_stopped(tmp_path):
    url_file = tmp_path / "url"
    p = subprocess.Popen([sys.executable, str(ROOT / "tools" / "stub_server.py"), "--profile",
                          "wicked", "--lifetime", "42", "--url-file", str(url_file)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):  # bounded: 10 s
            if url_file.exists():
                break
            time.sleep(0.1)
        base = url_file.read_text().split()[0]
        req = urllib.request.Request(base + "/auth/default/api/petstore/token",
                                     b"grant_type=client_credentials&client_id=%s&client_secret=%s"
                                     % (DEFAULT_CLIENT_ID.encode(), DEFAULT_CLIENT_SECRET.encode()))
        with urllib.request.urlopen(req, timeout=5) as r:
            a = json.loads(r.read())
        assert a["expires_in"] == 42 and "refresh_token" not in a
    finally:
        p.terminate()
        p.wait(10)


# -- fault injection: each kind as a client sees it on the wire -------------------------------

@pytest.fixture(scope="module")
def generic():
    with StubServer("generic", admin_port=None) as stub:
        yield stub


def exchange(stub, path="/api/v1/resource", method="GET", body=b"", headers=()):
    """(bytes the stub sent until it ended the connection, recv calls, the error that ended it
    or None for an orderly close) of one raw HTTP/1.1 request that asks it to close."""
    head = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n%s\r\n" % (
        method, path, len(body), "".join("%s: %s\r\n" % h
                                         for h in (("Connection", "close"),) + tuple(headers)))
    s = socket.create_connection(("127.0.0.1", stub.port), timeout=5)
    try:
        s.sendall(head.encode() + body)
        data, reads = b"", 0
        for _ in range(10_000):  # bounded: the longest answer here is ~1,000 recv calls
            try:
                chunk = s.recv(65536)
            except ConnectionResetError as e:
                return data, reads, e
            if not chunk:
                return data, reads, None
            data += chunk
            reads += 1
        raise AssertionError("the stub never ended the connection")
    finally:
        s.close()


def token_exchange(stub):
    return exchange(stub, "/oauth/token", "POST", b"grant_type=client_credentials",
                    [("Authorization", BASIC),
                     ("Content-Type", "application/x-www-form-urlencoded")])


def parse(data):
    """(status, {lowercased header: value}, body) of a whole answer."""
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep, data
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def last_entry(stub):
    return stub.log[-1]


def test_without_a_fault_the_answer_is_json_with_a_length(generic):
    generic.reset({"profile": "generic"})
    status, h, body = parse(exchange(generic)[0])
    assert status == 401 and json.loads(body) == {"error": "invalid_token"}
    assert h["content-type"] == "application/json" and h["content-length"] == str(len(body))
    assert h["connection"] == "close" and "date" in h and h["www-authenticate"]  # as asked


def test_fault_status_replaces_status_headers_and_body(generic):
    date = "Sun, 06 Nov 1994 08:49:37 GMT"
    generic.faults({"kind": "status", "status": 503, "body": "down",
                    "headers": {"Retry-After": "7", "Date": date}})
    status, h, body = parse(exchange(generic)[0])
    assert (status, body) == (503, b"down")
    assert h["retry-after"] == "7" and h["date"] == date and h["content-type"] == "text/plain"
    assert "www-authenticate" not in h  # the normal answer's headers are gone
    assert last_entry(generic)["status"] == 503 and last_entry(generic)["fault"] == "status"
    generic.faults({"kind": "status", "content_type": "text/html"})
    status, h, body = parse(exchange(generic)[0])
    assert (status, h["content-type"], body) == (500, "text/html", b"")


def test_fault_json_answers_that_json_value(generic):
    generic.faults({"kind": "json", "status": 429, "body": {"error": "slow_down"}})
    status, h, body = parse(token_exchange(generic)[0])
    assert status == 429 and json.loads(body) == {"error": "slow_down"}
    assert h["content-type"] == "application/json" and "cache-control" not in h
    generic.faults({"kind": "json", "body": [1, 2]})
    status, h, body = parse(exchange(generic)[0])
    assert (status, json.loads(body)) == (200, [1, 2])


def test_fault_oversize_is_a_200_json_body_of_that_size(generic):
    generic.faults({"kind": "oversize", "size": 1000})
    status, h, body = parse(exchange(generic)[0])
    assert status == 200 and len(body) == 1000 and h["content-length"] == "1000"
    assert set(json.loads(body)) == {"pad"}


def test_fault_patch_edits_the_token_answer_only(generic):
    generic.reset({"profile": "generic"})
    generic.faults({"kind": "patch", "fields": {"expires_in": "120", "token_type": None,
                                                "extra": [1]}})
    status, _, body = parse(token_exchange(generic)[0])
    a = json.loads(body)
    assert status == 200 and a["expires_in"] == "120" and a["extra"] == [1]
    assert "token_type" not in a and a["access_token"]
    # elsewhere a patch is used up and changes nothing
    generic.faults({"kind": "patch", "fields": {"error": None}})
    status, _, body = parse(exchange(generic)[0])
    assert (status, json.loads(body)) == (401, {"error": "invalid_token"})
    assert last_entry(generic)["fault"] == "patch"


def test_fault_close_ends_the_connection_without_an_answer(generic):
    generic.faults({"kind": "close"})
    assert exchange(generic) == (b"", 0, None)
    assert last_entry(generic)["status"] is None and last_entry(generic)["fault"] == "close"


def test_fault_reset_is_a_tcp_reset_not_an_orderly_close(generic):
    generic.faults({"kind": "reset"})
    data, _, err = exchange(generic)
    assert data == b"" and isinstance(err, ConnectionResetError)
    assert last_entry(generic)["status"] is None


def test_fault_raw_sends_those_bytes_then_closes(generic):
    generic.faults({"kind": "raw", "data": "SSH-2.0-OpenSSH_9\r\n\xff"})
    assert exchange(generic)[0] == b"SSH-2.0-OpenSSH_9\r\n\xff"
    assert last_entry(generic)["status"] is None


def test_fault_truncate_keeps_the_head_and_that_much_body(generic):
    generic.faults({"kind": "truncate", "keep": 3})
    data, _, err = exchange(generic)
    status, h, body = parse(data)
    assert status == 401 and h["content-length"] == "26" and body == b'{"e' and err is None
    generic.faults({"kind": "truncate", "keep": 0})
    assert parse(exchange(generic)[0])[2] == b""


def test_fault_chunked_sends_the_normal_answer_in_7_byte_chunks(generic):
    generic.faults({"kind": "chunked"})
    status, h, body = parse(exchange(generic)[0])
    assert h["transfer-encoding"] == "chunked" and "content-length" not in h
    sizes, out = [], b""
    for _ in range(100):  # bounded: the body has a few chunks
        size, _, body = body.partition(b"\r\n")
        sizes.append(int(size, 16))
        out, body = out + body[:sizes[-1]], body[sizes[-1] + 2:]
        if sizes[-1] == 0:
            break
    assert (status, json.loads(out)) == (401, {"error": "invalid_token"})
    assert sizes[-1] == 0 and max(sizes) == 7 and body == b""


def test_fault_slow_waits_then_answers_normally(generic):
    generic.faults({"kind": "slow", "seconds": 0.3})
    t0 = time.monotonic()
    status, _, body = parse(exchange(generic)[0])
    assert time.monotonic() - t0 >= 0.3 and status == 401 and json.loads(body)


def test_fault_drip_sends_the_normal_answer_a_byte_at_a_time(generic):
    generic.faults({"kind": "drip", "interval": 0.001})
    data, reads, _ = exchange(generic)
    status, _, body = parse(data)
    assert status == 401 and json.loads(body) == {"error": "invalid_token"}
    assert reads > len(data) // 4  # the bytes came one by one, not in one write


class Kept:
    """One client connection to the stub, kept for several requests (no Connection: close)."""

    def __init__(self, stub):
        self.s = socket.create_connection(("127.0.0.1", stub.port), timeout=5)
        self.buf = b""

    def ask(self, path="/api/v1/resource", headers=()):
        """(status, headers, body) of one request; the answer read by its Content-Length."""
        self.s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n" % (
            path, "".join("%s: %s\r\n" % h for h in headers))).encode())
        for _ in range(1000):  # bounded: a few recv calls
            if b"\r\n\r\n" in self.buf:
                head, _, rest = self.buf.partition(b"\r\n\r\n")
                n = int(parse(head + b"\r\n\r\n")[1]["content-length"])
                if len(rest) >= n:
                    self.buf = rest[n:]
                    return parse(head + b"\r\n\r\n" + rest[:n])
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        raise AssertionError("no whole answer")

    def ended(self, seconds=5):
        """True when the stub closes the connection within `seconds`, sending nothing more."""
        self.s.settimeout(seconds)
        try:
            return self.s.recv(1) == b""
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False

    def close(self):
        self.s.close()


def test_connections_are_kept_and_numbered_in_the_log(generic):
    generic.reset({"profile": "generic"})
    a, b = Kept(generic), Kept(generic)
    try:
        for k in (a, b, a, a):
            status, h, body = k.ask()
            assert status == 401 and "connection" not in h and h["content-length"] == str(len(body))
        n = [e["connection"] for e in generic.log]
        assert n[0] == n[2] == n[3] != n[1], n
        status, h, _ = a.ask(headers=[("Connection", "close")])  # asked to close: it does
        assert h["connection"] == "close" and a.ended()
    finally:
        a.close()
        b.close()


def test_an_answer_that_says_close_closes(generic):
    k = Kept(generic)
    try:
        generic.faults({"kind": "status", "status": 503, "headers": {"Connection": "close"}})
        assert k.ask()[0] == 503 and k.ended()
    finally:
        k.close()


def test_fault_hangup_answers_then_closes_the_idle_connection(generic):
    k = Kept(generic)
    try:
        generic.faults({"kind": "hangup"})
        status, h, _ = k.ask()
        assert status == 401 and "connection" not in h and k.ended()  # at once, unsaid
    finally:
        k.close()
    k = Kept(generic)
    try:
        generic.faults({"kind": "hangup", "seconds": 0.5}, {"kind": "hangup", "seconds": 0.5})
        k.ask()
        time.sleep(0.1)
        assert k.ask()[0] == 401  # a request within the wait is served
        t0 = time.monotonic()
        assert not k.ended(0.2) and k.ended() and time.monotonic() - t0 < 3  # then the wait
        assert generic.log[-1]["fault"] == "hangup"
    finally:
        k.close()


def test_requests_per_connection_closes_after_that_many_answers(generic):
    generic.reset({"profile": "generic", "requests_per_connection": 2})
    k = Kept(generic)
    try:
        assert k.ask()[0] == k.ask()[0] == 401 and k.ended()
    finally:
        k.close()
    generic.reset({"profile": "generic"})


def test_faults_match_a_path_prefix_and_each_is_used_once(generic):
    generic.reset({"profile": "generic"})
    generic.faults({"kind": "status", "status": 502, "path": "/api/"}, {"kind": "close"})
    assert token_exchange(generic)[0] == b""  # the first fault that matches the path
    assert parse(exchange(generic)[0])[0] == 502
    assert parse(exchange(generic)[0])[0] == 401  # used up: a normal answer
    assert [e.get("fault") for e in generic.log] == ["close", "status", None]


def test_faults_through_the_control_endpoint(generic):
    req = urllib.request.Request(generic.url + "/_stub/faults", json.dumps(
        {"faults": [{"kind": "status", "status": 418}]}).encode())
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status == 200
    assert parse(exchange(generic)[0])[0] == 418


def test_every_documented_fault_kind_is_known():
    doc = stub_server.__doc__.split("A fault is a dict", 1)[1]
    documented = {line.split()[0] for line in doc.splitlines()[1:] if line.startswith("  ")
                  and not line.startswith("   ")}
    assert documented == set(stub_server.FAULT_KINDS) and len(documented) == 12


def test_an_unknown_fault_kind_is_refused(generic):
    with pytest.raises(ValueError, match="nope"):
        generic.faults({"kind": "nope"})
    req = urllib.request.Request(generic.url + "/_stub/faults", json.dumps(
        {"faults": [{"kind": "nope"}]}).encode())
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 400 and b"nope" in e.value.read()


def test_the_stub_does_not_import_the_library():
    # an independent oracle: with device/ on the path, importing the stub loads none of it
    code = ("import sys; sys.path[:0] = [%r, %r]; import stub_server; print(sorted(m for m in "
            "sys.modules if m.split('.')[0] in ('oauthcc', 'app', 'aioapp', 'board', 'state')))"
            % (str(ROOT / "tools"), str(ROOT / "device")))
    p = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                       timeout=30)
    assert p.stdout.strip() == "[]", p.stdout + p.stderr
