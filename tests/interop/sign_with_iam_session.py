"""Prints CreateSession requests signed by iam-rolesanywhere-session (an independent signer).

Output: a JSON list of {name, method, path, query, headers: [[name, value], ...], body (base64)},
exactly as the library would send them. Used by tests/interop_verify.rs to check that
tessera's verifier accepts what another implementation produces.
"""

import base64
import json
import os
import sys
from urllib.parse import urlsplit

from botocore.awsrequest import AWSRequest
from iam_rolesanywhere_session import IAMRolesAnywhereSigner

CERTS = os.path.join(os.path.dirname(__file__), "..", "..", "certs", "test")
ACCOUNT = "123456789012"
REGION = "us-east-1"
CASES = [
    ("rsa-with-intermediate", "leaf-rsa.pem", "leaf-rsa.key", "intermediate.pem"),
    ("p256-with-intermediate", "leaf-p256.pem", "leaf-p256.key", "intermediate.pem"),
    ("p384-no-chain", "leaf-p384.pem", "leaf-p384.key", None),
]


def signed_request(certificate, key, chain):
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
    request = AWSRequest(
        method="POST",
        url=f"https://rolesanywhere.{REGION}.amazonaws.com/sessions",
        data=json.dumps(body),
    )
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
    for name, certificate, key, chain in CASES:
        entry = signed_request(certificate, key, chain)
        entry["name"] = name
        out.append(entry)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
