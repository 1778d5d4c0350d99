"""Prints CreateSession requests signed by iam-rolesanywhere-session (an independent signer).

Output: a JSON list of {name, method, path, query, headers: [[name, value], ...], body (base64)},
exactly as the library would send them. Used by tests/interop_verify.rs to check that
tessera's verifier accepts what another implementation produces.
"""

import base64
import json
import os
import sys
from urllib.parse import urlencode, urlsplit

from botocore.awsrequest import AWSRequest
from iam_rolesanywhere_session import IAMRolesAnywhereSigner

CERTS = os.path.join(os.path.dirname(__file__), "..", "..", "certs", "test")
ACCOUNT = "123456789012"
REGION = "us-east-1"
CASES = [
    ("rsa-with-intermediate", "leaf-rsa.pem", "leaf-rsa.key", "intermediate.pem", False),
    ("p256-with-intermediate", "leaf-p256.pem", "leaf-p256.key", "intermediate.pem", False),
    ("p384-no-chain", "leaf-p384.pem", "leaf-p384.key", None, False),
    # As the official helper sends it: the ARNs in the query (their ':' and '/' percent-encoded
    # by botocore's canonicalization, not tessera's), the duration in the body.
    ("p256-arns-in-query", "leaf-p256.pem", "leaf-p256.key", "intermediate.pem", True),
]


def signed_request(certificate, key, chain, arns_in_query):
    signer = IAMRolesAnywhereSigner(
        certificate=os.path.join(CERTS, certificate),
        private_key=os.path.join(CERTS, key),
        certificate_chain=os.path.join(CERTS, chain) if chain else None,
        region=REGION,
    )
    body = {
        "durationSeconds": 3600,
        "profileArn": f"arn:aws:rolesanywhere:{REGION}:{ACCOUNT}:profile/p",
        "roleArn": f"arn:aws:iam::{ACCOUNT}:role/app",
        "trustAnchorArn": f"arn:aws:rolesanywhere:{REGION}:{ACCOUNT}:trust-anchor/ta",
    }
    url = f"https://rolesanywhere.{REGION}.amazonaws.com/sessions"
    if arns_in_query:
        arns = {k: body.pop(k) for k in ("profileArn", "roleArn", "trustAnchorArn")}
        url += "?" + urlencode(arns)
    request = AWSRequest(method="POST", url=url, data=json.dumps(body))
    signer.add_auth(request)
    prepared = request.prepare()
    url = urlsplit(prepared.url)
    payload = prepared.body if isinstance(prepared.body, bytes) else prepared.body.encode()
    return {
        "method": prepared.method,
        "path": url.path,
        "query": url.query,
        "headers": [[k, v] for k, v in prepared.headers.items()],
        "body": base64.b64encode(payload).decode(),
    }


def main():
    out = []
    for name, certificate, key, chain, arns_in_query in CASES:
        entry = signed_request(certificate, key, chain, arns_in_query)
        entry["name"] = name
        out.append(entry)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
