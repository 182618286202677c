#!/usr/bin/env python3
"""Verify a keyward RFC 9421 request (or response) signature with an independent library.

Uses the third-party package http-message-signatures (pip install 'http-message-signatures>=3,<4'),
not keyward's code, so a signature that passes here is interoperable.

    verify_rfc9421.py [--now UNIX_SECONDS] [--skew SECONDS] [--label LABEL] [--policy keyward|none] < request.json
    verify_rfc9421.py --response [--label LABEL] < response.json
    verify_rfc9421.py --self-test

request.json is one JSON object:

    {"method": "POST", "url": "http://127.0.0.1:8080/api/activities?page=1",
     "headers": [["Content-Type", "application/json"], ["Content-Digest", "sha-256=:...:"],
                 ["Signature-Input", "sig1=(...);created=...;..."], ["Signature", "sig1=:...:"]],
     "body": "<the body as text>", "secret": "kwsec_...", "keyid": "kwkey_..."}

For a key with a public key, "public_key" (PEM) and "algorithm" (ed25519, ecdsa-p256-sha256,
ecdsa-p384-sha384, rsa-pss-sha512, rsa-v1_5-sha256) replace "secret".

response.json (--response) is {"status": 200, "headers": [...], "body": "...", "public_key":
"...", "algorithm": "ed25519", "keyid": "...", "request": {"method": ..., "url": ...,
"headers": [...]}}: the response's signature, which may cover the request's components with
;req, verified with the server's public key; it must cover @status and, with a body,
content-digest.

"url" may also be a path ("/api/activities?page=1"); the authority then comes from the Host
header. Prints "verified" and exits 0 when the signature labelled sig1 is valid; otherwise prints
the reason and exits 1.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import sys
import time
import warnings
from dataclasses import dataclass
from urllib.parse import urlsplit

from http_message_signatures import (
    HTTPMessageSignaturesException,
    HTTPMessageSigner,
    HTTPMessageVerifier,
    InvalidSignature,
    MappingKeyResolver,
    algorithms,
)
from http_message_signatures.signatures import SignatureVerifyWarning
from cryptography.hazmat.primitives.serialization import load_pem_public_key

DEFAULT_SKEW_SECONDS = 300  # keyward's default clock window


class Headers:
    """Header field lines in wire order, with the mapping operations the library uses.

    requests' PreparedRequest is not used: its header dict merges repeated field lines and it
    re-quotes the URL (%7e becomes ~, 100% becomes 100%25), which changes what was signed.
    """

    def __init__(self, lines=()):
        self._lines = [(str(name), str(value)) for name, value in lines]

    def items(self):
        return list(self._lines)

    def __iter__(self):
        return iter(dict.fromkeys(name for name, _ in self._lines))

    def __contains__(self, name):
        return any(n.lower() == name.lower() for n, _ in self._lines)

    def get(self, name, default=None):
        values = [v for n, v in self._lines if n.lower() == name.lower()]
        return ", ".join(values) if values else default

    def __setitem__(self, name, value):
        self._lines = [(n, v) for n, v in self._lines if n.lower() != name.lower()]
        self._lines.append((name, value))

    def __delitem__(self, name):
        if name not in self:
            raise KeyError(name)
        self._lines = [(n, v) for n, v in self._lines if n.lower() != name.lower()]


@dataclass
class Request:
    """The request view the library reads: an upper-case method, an absolute URL, headers."""

    method: str
    url: str
    headers: Headers


@dataclass
class Response:
    """The response view the library reads: status, headers, and the request it answers."""

    status_code: int
    headers: Headers
    request: Request | None


ALGORITHMS = {
    "hmac-sha256": algorithms.HMAC_SHA256,
    "ed25519": algorithms.ED25519,
    "ecdsa-p256-sha256": algorithms.ECDSA_P256_SHA256,
    "ecdsa-p384-sha384": algorithms.ECDSA_P384_SHA384,
    "rsa-pss-sha512": algorithms.RSA_PSS_SHA512,
    "rsa-v1_5-sha256": algorithms.RSA_V1_5_SHA256,
}


def verification_key(obj: dict):
    """The key the input names, and its algorithm: a secret (HMAC) or a PEM public key."""
    if isinstance(obj.get("public_key"), str):
        name = obj.get("algorithm")
        if name not in ALGORITHMS or name == "hmac-sha256":
            raise ValueError(f"unknown public-key algorithm {name!r}")
        return load_pem_public_key(obj["public_key"].encode()), ALGORITHMS[name]
    if isinstance(obj.get("secret"), str):
        return obj["secret"].encode("utf-8"), algorithms.HMAC_SHA256
    raise ValueError('input has neither "secret" nor "public_key"')


class KeywardVerifier(HTTPMessageVerifier):
    """HTTPMessageVerifier with keyward's time rules instead of the library's defaults.

    keyward: |created - now| <= skew (300 s), created required; expires, when present, must not be
    before now (no skew). The library's defaults are a 5 s allowance for a future created, a
    maximum age of one day and a 5 s allowance on expires, always against the real clock.
    """

    # Select a signature by its label (sig1). The label is not signed; the library warns about
    # that and refuses it unless this is set. keyward signs one signature per request.
    allow_label_only_selection = True

    def __init__(self, *, now: float | None = None, skew: int = DEFAULT_SKEW_SECONDS, **kwargs):
        super().__init__(**kwargs)
        self.now = now
        self.skew = skew

    def validate_created_and_expires(self, sig_input, max_age=None):
        now = time.time() if self.now is None else self.now
        params = sig_input.params
        if "created" not in params:
            raise InvalidSignature('Signature is missing a required "created" parameter')
        created = self._parse_integer_timestamp(params["created"], field_name="created").timestamp()
        if abs(created - now) > self.skew:
            raise InvalidSignature(
                f'"created" ({created:.0f}) is more than {self.skew} s away from now ({now:.0f})'
            )
        if "expires" in params:
            expires = self._parse_integer_timestamp(params["expires"], field_name="expires").timestamp()
            if expires < now:
                raise InvalidSignature(f'Signature expired at {expires:.0f} (now {now:.0f})')


def build_request(obj: dict) -> tuple[Request, bytes]:
    if not isinstance(obj, dict):
        raise ValueError("input is not a JSON object")
    for field in ("method", "url", "keyid"):
        if not isinstance(obj.get(field), str):
            raise ValueError(f'input has no string "{field}"')
    if not isinstance(obj.get("body", ""), (str, type(None))):
        raise ValueError('"body" must be a string')
    lines = obj.get("headers")
    if not isinstance(lines, list) or not all(
        isinstance(line, list) and len(line) == 2 and all(isinstance(x, str) for x in line) for line in lines
    ):
        raise ValueError('"headers" must be a list of [name, value] string pairs')
    headers = Headers(lines)
    url = obj["url"]
    host = headers.get("host")
    if url.startswith("/"):
        if host is None:
            raise ValueError('"url" is a path and there is no Host header')
        url = f"http://{host}{url}"
    elif host is not None and urlsplit(url).netloc.lower() != host.lower():
        raise ValueError(f"the Host header ({host}) and the URL's authority differ")
    body = obj.get("body") or ""
    return Request(obj["method"], url, headers), body.encode("utf-8")


def check_keyward_policy(request: Request, covered: dict, body: bytes) -> None:
    """keyward's required components (docs/schemes.md, section 4), with its alternatives."""
    ids = set(covered)
    has_target = bool(ids & {'"@target-uri"', '"@request-target"'})
    if '"@method"' not in ids:
        raise InvalidSignature('"@method" is not covered')
    if not (has_target or '"@path"' in ids):
        raise InvalidSignature('"@path" (or "@target-uri" / "@request-target") is not covered')
    if urlsplit(request.url).query and not (has_target or '"@query"' in ids):
        raise InvalidSignature('the URL has a query but "@query" is not covered')
    if body and '"content-digest"' not in ids:
        raise InvalidSignature('the request has a body but "content-digest" is not covered')


def verify(obj: dict, *, now=None, skew=DEFAULT_SKEW_SECONDS, label="sig1", policy="keyward"):
    """Verify one request object; return the library's VerifyResult or raise."""
    request, body = build_request(obj)
    key, algorithm = verification_key(obj)
    resolver = MappingKeyResolver(public_keys={obj["keyid"]: key}, private_keys={})
    verifier = KeywardVerifier(signature_algorithm=algorithm, key_resolver=resolver, now=now, skew=skew)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SignatureVerifyWarning)
        # body=: the library checks every Content-Digest member (sha-256, sha-512) against these
        # bytes, and refuses a non-empty body whose digest the signature does not cover.
        results = verifier.verify(request, expect_label=label, max_age=None, body=body)
    result = results[0]
    if result.parameters.get("keyid") != obj["keyid"]:
        raise InvalidSignature("keyid differs from the expected key")
    if policy == "keyward":
        check_keyward_policy(request, result.covered_components, body)
    return result


def verify_response(obj: dict, *, label="sig1"):
    """Verify a response's signature with the server's public key; return the library's result."""
    headers = obj.get("headers")
    if not isinstance(obj.get("status"), int) or not isinstance(headers, list):
        raise ValueError('input needs an integer "status" and a "headers" list')
    request = None
    if isinstance(obj.get("request"), dict):
        request_obj = dict(obj["request"], keyid=obj["keyid"])
        request, _ = build_request(request_obj)
    response = Response(obj["status"], Headers(headers), request)
    body = (obj.get("body") or "").encode("utf-8")
    key, algorithm = verification_key(obj)
    resolver = MappingKeyResolver(public_keys={obj["keyid"]: key}, private_keys={})
    verifier = HTTPMessageVerifier(signature_algorithm=algorithm, key_resolver=resolver)
    verifier.allow_label_only_selection = True
    required = ["@status"] + (["content-digest"] if body else [])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SignatureVerifyWarning)
        results = verifier.verify(
            response, expect_label=label, max_age=None, body=body, require_components=required
        )
    return results[0]


# --- self-test --------------------------------------------------------------------------------

SELF_TEST_KEYID = "kwkey_CahZh8o4J61AzLNtm03GG7emUhcYvb0oTB3h"
SELF_TEST_SECRET = "kwsec_FRWtTnoe4edklHqEWcnYvezW2StouC0MYlga"


def _signed(url, components, *, body, nonce=None, created=None, content_type=None, digest=True) -> dict:
    """Sign a request with the library's HTTPMessageSigner; return it as verifier input.

    With digest=True the signer adds Content-Digest for the body and covers it."""
    headers = Headers([("Host", urlsplit(url).netloc)])
    if content_type:
        headers["Content-Type"] = content_type
    request = Request("POST", url, headers)
    secret = SELF_TEST_SECRET.encode("utf-8")
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.HMAC_SHA256,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={SELF_TEST_KEYID: secret}),
    )
    signer.sign(
        request,
        key_id=SELF_TEST_KEYID,
        created=created or datetime.datetime.now(datetime.timezone.utc),
        nonce=nonce,
        label="sig1",
        include_alg=True,
        covered_component_ids=components,
        body=body.encode("utf-8") if digest else None,
    )
    return {
        "method": request.method,
        "url": request.url,
        "headers": [list(line) for line in headers.items()],
        "body": body,
        "secret": SELF_TEST_SECRET,
        "keyid": SELF_TEST_KEYID,
    }


def _replace_header(obj: dict, name: str, change) -> dict:
    copy = json.loads(json.dumps(obj))
    copy["headers"] = [[n, change(v) if n.lower() == name else v] for n, v in copy["headers"]]
    return copy


def _flip_signature(value: str) -> str:
    label, _, rest = value.partition("=")
    raw = bytearray(base64.b64decode(rest.strip(":")))
    raw[0] ^= 0x01
    return f"{label}=:{base64.b64encode(bytes(raw)).decode()}:"


def self_test() -> int:
    body = '{"data":{"name":"self-test"}}'
    basic = _signed(
        "https://api.example.com/api/activities",
        ("@method", "@authority", "@path", "content-digest"),
        body=body,
    )
    # What a keyward client covers: @query when there is a query, content-type with a body,
    # and a nonce next to created, alg and keyid.
    client_like = _signed(
        "https://api.example.com/api/activities?page=1",
        ("@method", "@authority", "@path", "@query", "content-digest", "content-type"),
        body=body,
        nonce="1795610143408-31236-0",
        content_type="application/json",
    )
    stale = _signed(
        "https://api.example.com/api/activities",
        ("@method", "@authority", "@path", "content-digest"),
        body=body,
        created=datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=10),
    )
    print("signed by HTTPMessageSigner:")
    for name, value in client_like["headers"]:
        print(f"  {name}: {value}")

    tampered_body = dict(basic, body='{"data":{"name":"tampered"}}')
    no_digest = _signed(
        "https://api.example.com/api/activities",
        ("@method", "@authority", "@path"),
        body=body,
        digest=False,
    )
    cases = [
        ("@method @authority @path content-digest", basic, True),
        ("keyward client components, with @query, content-type and nonce", client_like, True),
        ("tampered signature (one bit flipped)", _replace_header(basic, "signature", _flip_signature), False),
        ("tampered body (Content-Digest no longer matches)", tampered_body, False),
        ("tampered query", dict(client_like, url=client_like["url"].replace("page=1", "page=2")), False),
        ("wrong secret", dict(basic, secret="kwsec_" + "x" * 36), False),
        ("body without a signed Content-Digest", no_digest, False),
        ("created 10 minutes ago", stale, False),
    ]
    failures = 0
    for name, obj, should_verify in cases:
        try:
            verify(obj)
            outcome, verified = "verified", True
        except (HTTPMessageSignaturesException, ValueError) as error:
            outcome, verified = f"rejected: {error}", False
        good = verified == should_verify
        failures += not good
        print(f"{'ok  ' if good else 'FAIL'} {name}: {outcome}")
    print("self-test passed" if failures == 0 else f"self-test FAILED ({failures})")
    return 0 if failures == 0 else 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--self-test", action="store_true", help="sign with the library and verify")
    parser.add_argument("--now", type=float, help="verifier clock, Unix seconds [the real clock]")
    parser.add_argument("--skew", type=int, default=DEFAULT_SKEW_SECONDS, help="clock window, s [300]")
    parser.add_argument("--label", default="sig1", help="signature label to verify [sig1]")
    parser.add_argument("--policy", choices=("keyward", "none"), default="keyward",
                        help="require keyward's covered components [keyward]")
    parser.add_argument("--response", action="store_true", help="verify a response's signature")
    args = parser.parse_args(argv)
    if args.self_test:
        return self_test()
    try:
        obj = json.load(sys.stdin)
        if args.response:
            result = verify_response(obj, label=args.label)
            print("covers: " + " ".join(result.covered_components))
        else:
            verify(obj, now=args.now, skew=args.skew, label=args.label, policy=args.policy)
    except (HTTPMessageSignaturesException, ValueError, TypeError, KeyError) as error:
        print(f"not verified: {type(error).__name__}: {error}")
        return 1
    print("verified")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
