#!/usr/bin/env python3
"""A small keyward client: query-hmac (DevResults) and header-hmac (Devo) signing.

Standard library only (Python 3.11+). Import it for the signing functions:

    from keyward_client import sign_url, sign_headers

    url = sign_url("https://api.example.com/api/activities?page=1", token, secret)
    headers = sign_headers(token, secret, body, kind="domain")

or run it:

    python3 keyward_client.py check-vectors [VECTORS_DIR]
    KEYWARD_URL=... KEYWARD_KEY=... KEYWARD_SECRET=... python3 keyward_client.py live
    KEYWARD_URL=... KEYWARD_KEY=... KEYWARD_PRIVATE_KEY_FILE=key.pem python3 keyward_client.py ed25519

`ed25519` signs with RFC 9421 and an Ed25519 private key (a public-key credential: keyward holds
only the public key; `keyward keygen` writes the private one). The standard library has no
Ed25519, so that command alone uses the package `cryptography` (pip install cryptography). It
first reproduces RFC 9421's own Ed25519 example byte for byte, then calls the server.

The byte-level description of both schemes is docs/schemes.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

__all__ = [
    "decode_component",
    "parse_query",
    "query_string_to_sign",
    "sign_url",
    "header_string_to_sign",
    "sign_headers",
    "hmac_hex",
    "sign_ed25519",
    "now_ms",
]

ORDERS = ("bytewise", "url", "case-insensitive")
BLANK_VALUES = ("signed", "skipped")
KEY_HEADERS = {
    "domain": "x-logtrust-domain-apikey",
    "reseller": "x-logtrust-reseller-apikey",
}
_HEX = b"0123456789abcdefABCDEF"


def now_ms() -> int:
    """The current Unix time in milliseconds."""
    return time.time_ns() // 1_000_000


def hmac_hex(secret: str, data: bytes) -> str:
    """Lower-case hex HMAC-SHA256; the key is the UTF-8 bytes of the secret string."""
    return hmac.new(secret.encode("utf-8"), data, hashlib.sha256).hexdigest()


# --- query-hmac -------------------------------------------------------------------------------


def decode_component(raw: str | bytes) -> bytes:
    """Form-decode one key or value: '+' is a space, %XX (either case) is one byte.

    A '%' not followed by two hex digits stays a literal '%'. The result is bytes; nothing is
    re-encoded or normalised. (urllib.parse.unquote_plus is close, but it decodes to str and
    replaces invalid UTF-8, so it is not byte-exact.)
    """
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    data = data.replace(b"+", b" ")
    out = bytearray()
    i = 0
    while i < len(data):
        if data[i] == 0x25 and i + 2 < len(data) and data[i + 1] in _HEX and data[i + 2] in _HEX:
            out.append(int(data[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(data[i])
            i += 1
    return bytes(out)


def parse_query(query: str) -> list[tuple[bytes, bytes]]:
    """Parse a raw query string (the text after the first '?') into decoded (key, value) pairs,
    in URL order. Empty segments are skipped; a segment without '=' has an empty value."""
    pairs = []
    for segment in query.split("&"):
        if not segment:
            continue
        key, _, value = segment.partition("=")
        pairs.append((decode_component(key), decode_component(value)))
    return pairs


def query_string_to_sign(
    query: str, *, order: str = "bytewise", blank_values: str = "signed"
) -> bytes:
    """The query-hmac string-to-sign of a raw query: `key|value|` for every parameter but `s`.

    order: "bytewise" (canonical; what new clients should use), "url" or "case-insensitive"
    (a stable sort by the ASCII-lower-cased key). blank_values: "signed" (default) or
    "skipped" (leave out parameters whose value is empty; the server accepts that only when
    its operator turned the option on).
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}")
    if blank_values not in BLANK_VALUES:
        raise ValueError(f"blank_values must be one of {BLANK_VALUES}")
    pairs = parse_query(query)
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        names = ", ".join(key.decode("utf-8", "backslashreplace") for key in repeated)
        raise ValueError(f"repeated query parameter(s): {names} (the server refuses them)")
    pairs = [(key, value) for key, value in pairs if key != b"s"]
    if blank_values == "skipped":
        pairs = [(key, value) for key, value in pairs if value]
    if order == "bytewise":
        pairs.sort(key=lambda pair: pair[0])
    elif order == "case-insensitive":
        pairs.sort(key=lambda pair: pair[0].lower())  # bytes.lower() is ASCII-only; sort is stable
    return b"".join(key + b"|" + value + b"|" for key, value in pairs)


def sign_url(
    url: str,
    token: str,
    secret: str,
    ms: int | str | None = None,
    *,
    order: str = "bytewise",
    blank_values: str = "signed",
) -> str:
    """Sign a URL with query-hmac and return the signed URL.

    Appends t=<token> and ms=<ms> (ms defaults to the current time in milliseconds), signs
    every query parameter, and appends s=<hex HMAC>. The URL may have a query or not; it must
    not already carry t, ms or s. The signature covers decoded keys and values, so an HTTP
    library that re-percent-encodes the URL does no harm; one that rewrites '+' or drops empty
    parameters breaks it.
    """
    if ms is None:
        ms = now_ms()
    base, hash_mark, fragment = url.partition("#")
    path, _, query = base.partition("?")
    present = {key for key, _ in parse_query(query)}
    for name in (b"t", b"ms", b"s"):
        if name in present:
            raise ValueError(f"the URL already has a {name.decode()!r} query parameter")
    added = urllib.parse.urlencode({"t": token, "ms": ms}, quote_via=urllib.parse.quote)
    query = f"{query}&{added}" if query and not query.endswith("&") else query + added
    signature = hmac_hex(secret, query_string_to_sign(query, order=order, blank_values=blank_values))
    return f"{path}?{query}&s={signature}" + (hash_mark + fragment)


# --- header-hmac ------------------------------------------------------------------------------


def header_string_to_sign(apikey: str, body: bytes | str, timestamp: str) -> bytes:
    """The header-hmac string-to-sign: apikey + body + timestamp, as raw bytes, no separators."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    return apikey.encode("utf-8") + (body or b"") + str(timestamp).encode("utf-8")


def sign_headers(
    token: str,
    secret: str,
    body: bytes | str = b"",
    timestamp: int | str | None = None,
    kind: str = "domain",
) -> dict[str, str]:
    """The three x-logtrust-* headers that sign a request with header-hmac.

    kind is "domain" (x-logtrust-domain-apikey) or "reseller" (x-logtrust-reseller-apikey).
    timestamp defaults to the current time in milliseconds. Sign the exact body bytes you send.
    """
    if kind not in KEY_HEADERS:
        raise ValueError(f"kind must be one of {tuple(KEY_HEADERS)}")
    timestamp = str(now_ms() if timestamp is None else timestamp)
    signature = hmac_hex(secret, header_string_to_sign(token, body, timestamp))
    return {
        KEY_HEADERS[kind]: token,
        "x-logtrust-timestamp": timestamp,
        "x-logtrust-sign": signature,
    }


# --- check-vectors ----------------------------------------------------------------------------


def _default_vectors_dir() -> Path:
    if os.environ.get("KEYWARD_VECTORS"):
        return Path(os.environ["KEYWARD_VECTORS"])
    return Path(__file__).resolve().parent / ".." / ".." / "vectors"


def _read_request(case: Path) -> tuple[str, str, list[tuple[str, str]], bytes]:
    """request.txt (+ body.txt) -> method, request target, header lines, body."""
    lines = (case / "request.txt").read_bytes().decode("utf-8").split("\n")
    method, target, _version = lines[0].split(" ")
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name, value.strip(" \t")))
    body_file = case / "body.txt"
    body = body_file.read_bytes() if body_file.exists() else b""
    return method, target, headers, body


def _show(data: bytes) -> str:
    return data.decode("utf-8", "backslashreplace")


def _check_query_hmac(case: Path, context: dict) -> list[str]:
    _method, target, _headers, _body = _read_request(case)
    query = target.partition("?")[2]
    expected = (case / "string-to-sign.txt").read_bytes()
    options = context.get("options", {})
    problems = []
    if context.get("sign"):
        order = options.get("order", "bytewise")
        blank = options.get("blank_values", "signed")
        computed = query_string_to_sign(query, order=order, blank_values=blank)
        if computed != expected:
            problems.append(f"string-to-sign {_show(computed)!r} != expected {_show(expected)!r}")
        signature = hmac_hex(context["key"]["secret"], computed)
        expected_sig = (case / "signature.txt").read_text()
        if signature != expected_sig:
            problems.append(f"signature {signature} != expected {expected_sig}")
        # The public entry point: strip t, ms and s, then sign_url must give the same s.
        if order == "bytewise":
            kept = [seg for seg in query.split("&") if seg.partition("=")[0] not in ("t", "ms", "s")]
            params = {
                decode_component(k).decode(): decode_component(v).decode()
                for k, _, v in (seg.partition("=") for seg in query.split("&") if seg)
            }
            path = target.partition("?")[0]
            url = "https://api.example.com" + path + ("?" + "&".join(kept) if kept else "")
            signed = sign_url(
                url, params["t"], context["key"]["secret"], params["ms"], blank_values=blank
            )
            s = signed.rpartition("&s=")[2]
            if s != expected_sig:
                problems.append(f"sign_url gave s={s}, expected {expected_sig}")
    else:
        computed = query_string_to_sign(query)
        if computed != expected:
            problems.append(f"string-to-sign {_show(computed)!r} != expected {_show(expected)!r}")
        _check_given_signature(case, context, computed, problems)
    return problems


def _check_header_hmac(case: Path, context: dict) -> list[str]:
    _method, _target, headers, body = _read_request(case)
    fields = {name.lower(): value for name, value in headers}
    key_names = ("x-logtrust-domain-apikey", "x-logtrust-reseller-apikey", "x-logtrust-apikey")
    key_header = next(name for name in key_names if name in fields)
    apikey, timestamp = fields[key_header], fields["x-logtrust-timestamp"]
    expected = (case / "string-to-sign.txt").read_bytes()
    problems = []
    if context.get("sign"):
        kind = "reseller" if key_header == "x-logtrust-reseller-apikey" else "domain"
        signed = sign_headers(apikey, context["key"]["secret"], body, timestamp, kind)
        computed = header_string_to_sign(apikey, body, timestamp)
        if computed != expected:
            problems.append(f"string-to-sign {_show(computed)!r} != expected {_show(expected)!r}")
        expected_sig = (case / "signature.txt").read_text()
        if signed["x-logtrust-sign"] != expected_sig:
            problems.append(f"signature {signed['x-logtrust-sign']} != expected {expected_sig}")
        if signed["x-logtrust-sign"] != fields.get("x-logtrust-sign"):
            problems.append("signature differs from the x-logtrust-sign header of request.txt")
        if key_header != "x-logtrust-apikey" and key_header not in signed:
            problems.append(f"sign_headers did not produce {key_header}")
    else:
        computed = header_string_to_sign(apikey, body, timestamp)
        if computed != expected:
            problems.append(f"string-to-sign {_show(computed)!r} != expected {_show(expected)!r}")
        _check_given_signature(case, context, computed, problems)
    return problems


def _check_given_signature(case: Path, context: dict, computed: bytes, problems: list) -> None:
    """A positive case that is not re-signed (rotation, upper-case hex) still has signature.txt:
    it must be the HMAC of the string-to-sign under the key's secret or its previous secret."""
    sig_file = case / "signature.txt"
    if not sig_file.exists():
        return
    expected_sig = sig_file.read_text().lower()
    secrets = [context["key"].get("secret"), context["key"].get("previous_secret")]
    if not any(secret and hmac_hex(secret, computed) == expected_sig for secret in secrets):
        problems.append("signature.txt is not the HMAC of the string-to-sign under any key secret")


def check_vectors(vectors_dir: Path) -> int:
    checkers = {"query-hmac": _check_query_hmac, "header-hmac": _check_header_hmac}
    passed = failed = skipped = 0
    for scheme, checker in checkers.items():
        scheme_dir = vectors_dir / scheme
        if not scheme_dir.is_dir():
            print(f"FAIL {scheme}: no directory {scheme_dir}")
            failed += 1
            continue
        for case in sorted(path for path in scheme_dir.iterdir() if path.is_dir()):
            if not (case / "string-to-sign.txt").exists():
                skipped += 1  # negative case refused before the server computes anything
                continue
            context = json.loads((case / "context.json").read_text(encoding="utf-8"))
            try:
                problems = checker(case, context)
            except Exception as error:  # a broken case must show up as a failure, not a crash
                problems = [f"{type(error).__name__}: {error}"]
            for problem in problems:
                print(f"FAIL {scheme}/{case.name}: {problem}")
            if problems:
                failed += 1
            else:
                passed += 1
    print(f"({skipped} negative cases have no string-to-sign.txt and were not checked)")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


# --- live -------------------------------------------------------------------------------------


def _send(request: urllib.request.Request) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


def resource() -> str:
    """The path the live commands call: KEYWARD_PATH, below KEYWARD_URL [default:
    /api/activities, keyward's sample resource]."""
    return os.environ.get("KEYWARD_PATH", "/api/activities")


def live() -> int:
    try:
        base = os.environ["KEYWARD_URL"].rstrip("/")
        token, secret = os.environ["KEYWARD_KEY"], os.environ["KEYWARD_SECRET"]
    except KeyError as missing:
        print(f"set {missing.args[0]} (and KEYWARD_URL, KEYWARD_KEY, KEYWARD_SECRET)")
        return 2
    ok = True

    url = sign_url(f"{base}{resource()}?page=1", token, secret, now_ms())
    status, text = _send(urllib.request.Request(url, headers={"Accept": "application/json"}))
    print(f"query-hmac  GET  {resource()}?page=1 -> {status}")
    if not 200 <= status < 300:
        print(f"  {text}")
        ok = False

    body = json.dumps({"data": {"name": "from python"}}, separators=(",", ":")).encode("utf-8")
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    headers.update(sign_headers(token, secret, body, now_ms(), kind="domain"))
    request = urllib.request.Request(f"{base}{resource()}", data=body, headers=headers, method="POST")
    status, text = _send(request)
    print(f"header-hmac POST {resource()} -> {status}")
    if not 200 <= status < 300:
        print(f"  {text}")
        ok = False
    return 0 if ok else 1


# --- api-key (a plain API key, sent as is) --------------------------------------------------------


def api_key() -> int:
    """A plain API key (`kwapi_...`, a key of type api-key) needs no signing: it is sent as is, in
    X-API-Key or as a bearer token. Over HTTPS only: whoever sees it can use it."""
    try:
        base = os.environ["KEYWARD_URL"].rstrip("/")
        key = os.environ["KEYWARD_API_KEY"]
    except KeyError as missing:
        print(f"set {missing.args[0]} (and KEYWARD_URL, KEYWARD_API_KEY)")
        return 2
    ok = True
    for header, value in (("X-API-Key", key), ("Authorization", f"Bearer {key}")):
        request = urllib.request.Request(
            f"{base}{resource()}?page=1", headers={header: value, "Accept": "application/json"}
        )
        status, text = _send(request)
        print(f"api-key     GET  {resource()}?page=1 ({header}) -> {status}")
        if status != 200:
            print(f"  {text}")
            ok = False
    return 0 if ok else 1


# --- ed25519 (RFC 9421 with a private key) -------------------------------------------------------


def sign_ed25519(method: str, url: str, token: str, private_key, body: bytes = b"") -> dict[str, str]:
    """The headers that sign `method url` (and `body`) for keyid `token` with an Ed25519 key
    (a `cryptography` Ed25519PrivateKey): Content-Digest with a body, Signature-Input and
    Signature, over @method, @authority, @path, @query (with a query) and content-digest."""
    parts = urllib.parse.urlsplit(url)
    lines = [f'"@method": {method}', f'"@authority": {parts.netloc.lower()}', f'"@path": {parts.path or "/"}']
    components = ['"@method"', '"@authority"', '"@path"']
    headers = {}
    if parts.query:
        lines.append(f'"@query": ?{parts.query}')
        components.append('"@query"')
    if body:
        headers["Content-Digest"] = f"sha-256=:{base64.b64encode(hashlib.sha256(body).digest()).decode()}:"
        lines.append(f'"content-digest": {headers["Content-Digest"]}')
        components.append('"content-digest"')
    nonce = base64.urlsafe_b64encode(os.urandom(12)).decode()
    params = f'({" ".join(components)});created={int(time.time())};keyid="{token}";alg="ed25519";nonce="{nonce}"'
    lines.append(f'"@signature-params": {params}')
    signature = base64.b64encode(private_key.sign("\n".join(lines).encode())).decode()
    headers["Signature-Input"] = f"sig1={params}"
    headers["Signature"] = f"sig1=:{signature}:"
    return headers


def ed25519() -> int:
    try:
        from cryptography.hazmat.primitives.serialization import load_pem_private_key
    except ImportError:
        print("the ed25519 command needs the package cryptography (pip install cryptography)")
        return 2
    # RFC 9421 Appendix B.2.6, reproduced: Ed25519 is deterministic.
    vector = _default_vectors_dir() / "http-signature" / "rfc9421-b26"
    context = json.loads((vector / "context.json").read_text())
    key = load_pem_private_key(context["key"]["private_key"].encode(), password=None)
    produced = f"sig-b26=:{base64.b64encode(key.sign((vector / 'signature-base.txt').read_bytes())).decode()}:"
    expected = (vector / "signature.txt").read_text()
    ok = produced == expected
    print("RFC 9421 B.2.6 " + ("reproduced" if ok else f"differs: {produced}"))
    try:
        base = os.environ["KEYWARD_URL"].rstrip("/")
        token, key_file = os.environ["KEYWARD_KEY"], os.environ["KEYWARD_PRIVATE_KEY_FILE"]
    except KeyError as missing:
        print(f"set {missing.args[0]} (and KEYWARD_URL, KEYWARD_KEY, KEYWARD_PRIVATE_KEY_FILE)")
        return 2
    private_key = load_pem_private_key(Path(key_file).read_bytes(), password=None)
    url = f"{base}{resource()}?page=1"
    headers = {"Accept": "application/json", **sign_ed25519("GET", url, token, private_key)}
    status, text = _send(urllib.request.Request(url, headers=headers))
    print(f"ed25519 GET  {resource()}?page=1 -> {status}")
    if not 200 <= status < 300:
        print(f"  {text}")
        ok = False
    body = json.dumps({"data": {"name": "from python, ed25519"}}, separators=(",", ":")).encode()
    url = f"{base}{resource()}"
    headers = {"Content-Type": "application/json", **sign_ed25519("POST", url, token, private_key, body)}
    status, text = _send(urllib.request.Request(url, data=body, headers=headers, method="POST"))
    print(f"ed25519 POST {resource()} -> {status}")
    if not 200 <= status < 300:
        print(f"  {text}")
        ok = False
    return 0 if ok else 1


def main(argv: list[str]) -> int:
    if len(argv) >= 1 and argv[0] == "check-vectors" and len(argv) <= 2:
        return check_vectors(Path(argv[1]) if len(argv) == 2 else _default_vectors_dir())
    if argv == ["live"]:
        return live()
    if argv == ["ed25519"]:
        return ed25519()
    if argv == ["api-key"]:
        return api_key()
    print("usage: keyward_client.py check-vectors [VECTORS_DIR] | live | ed25519 | api-key", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
