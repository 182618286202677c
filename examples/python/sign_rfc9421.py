#!/usr/bin/env python3
"""Sign a request for keyward with RFC 9421 and a private key, using an independent library.

Uses the third-party package http-message-signatures (pip install 'http-message-signatures>=3,<4'),
not keyward's code: what keyward accepts from it, any client of the RFC can send.

    sign_rfc9421.py < request.json

request.json is one JSON object:

    {"method": "POST", "url": "http://127.0.0.1:8080/api/activities",
     "headers": [["Content-Type", "application/json"]], "body": "<the body as text>",
     "keyid": "kwkey_...", "algorithm": "ed25519", "private_key": "<PKCS#8 PEM>"}

It covers what keyward requires (@method, @authority, @path, @query when there is a query,
content-digest with a body), with created, a nonce and alg, and prints the headers to send, as a
JSON list of [name, value] pairs (Host, Content-Digest, Signature-Input, Signature included).
"""

from __future__ import annotations

import datetime
import json
import secrets
import sys
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.serialization import load_pem_private_key
from http_message_signatures import HTTPMessageSigner, MappingKeyResolver

from verify_rfc9421 import ALGORITHMS, Headers, Request


def sign(obj: dict) -> list[list[str]]:
    name = obj["algorithm"]
    if name not in ALGORITHMS or name == "hmac-sha256":
        raise ValueError(f"unknown public-key algorithm {name!r}")
    headers = Headers(obj.get("headers", []))
    url = obj["url"]
    if "host" not in headers:
        headers["Host"] = urlsplit(url).netloc
    request = Request(obj["method"], url, headers)
    key = load_pem_private_key(obj["private_key"].encode(), password=None)
    body = (obj.get("body") or "").encode("utf-8")
    components = ["@method", "@authority", "@path"]
    if urlsplit(url).query:
        components.append("@query")
    if body:
        components.append("content-digest")
    signer = HTTPMessageSigner(
        signature_algorithm=ALGORITHMS[name],
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={obj["keyid"]: key}),
    )
    signer.sign(
        request,
        key_id=obj["keyid"],
        created=datetime.datetime.now(datetime.timezone.utc),
        nonce=secrets.token_urlsafe(12),
        label="sig1",
        include_alg=True,
        covered_component_ids=components,
        body=body or None,
    )
    return [list(line) for line in headers.items()]


if __name__ == "__main__":
    try:
        print(json.dumps(sign(json.load(sys.stdin))))
    except (ValueError, KeyError, TypeError) as error:
        print(f"cannot sign: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
