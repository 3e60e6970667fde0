from oauthcc._port import a2b_base64
from oauthcc.encoding import b64url_decode, basic_auth, form_encode, quote
from support import raises

SPECIAL = ": + / % & = é"  # with spaces: everything that breaks naive snippets


def _decode_basic(header):
    assert header.startswith("Basic ")
    return a2b_base64(header[6:]).decode()


def test_basic_auth_reproduces_seed_003_header():
    h = basic_auth("my-api4", "TeHVVM9XFt0XP-cBg4Aw0pR3ux")
    assert h == "Basic bXktYXBpNDpUZUhWVk05WEZ0MFhQLWNCZzRBdzBwUjN1eA=="


def test_basic_auth_rfc_encodes_special_characters_before_base64():
    h = basic_auth("id:" + SPECIAL, "sec" + SPECIAL)
    assert _decode_basic(h) == (
        "id%3A%3A%20%2B%20%2F%20%25%20%26%20%3D%20%C3%A9:sec%3A%20%2B%20%2F%20%25%20%26%20%3D%20%C3%A9")


def test_basic_auth_raw_sends_values_unchanged():
    h = basic_auth("id", "sec" + SPECIAL, encode=False)
    assert _decode_basic(h) == "id:sec" + SPECIAL


def test_quote_keeps_unreserved_and_encodes_the_rest():
    assert quote("AZaz09-._~") == "AZaz09-._~"
    assert quote(" ") == "%20"
    assert quote("+") == "%2B"
    assert quote("é") == "%C3%A9"
    assert quote("€") == "%E2%82%AC"
    assert quote(b"\x00\xff") == "%00%FF"
    assert quote(42) == "42"


def test_form_encode_pairs_keep_order_and_dicts_work():
    body = form_encode([("grant_type", "client_credentials"), ("scope", "a b,c"), ("x", "")])
    assert body == "grant_type=client_credentials&scope=a%20b%2Cc&x="
    assert form_encode({"audience": "https://localhost:5001/"}) == (
        "audience=https%3A%2F%2Flocalhost%3A5001%2F")
    assert form_encode([]) == ""


def test_b64url_decode_with_and_without_padding():
    assert b64url_decode("eyJhIjoxfQ") == b'{"a":1}'
    assert b64url_decode("eyJhIjoxfQ==") == b'{"a":1}'
    assert b64url_decode(b"eyJhIjoxfQ") == b'{"a":1}'
    # "-" and "_" are the url-safe 62nd and 63rd characters, which MicroPython would skip
    assert b64url_decode("-_-_") == b"\xfb\xff\xbf"
    assert b64url_decode("") == b""


def test_b64url_decode_rejects_garbage_with_value_error():
    for bad in ("a", "ab$d", "ab+d", "ab/d", "é", "abcde", "ab cd"):
        raises(ValueError, b64url_decode, bad)
