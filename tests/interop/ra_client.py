"""Crafts CreateSession requests with iam-rolesanywhere-session's signer (an independent
implementation), optionally at another time or with tampering, and sends them with urllib."""

import base64
import datetime
import json
import ssl
import urllib.error
import urllib.request
from unittest import mock
from urllib.parse import urlsplit

import iam_rolesanywhere_session.iam_rolesanywhere_session as iam_module
from botocore.awsrequest import AWSRequest
from iam_rolesanywhere_session import IAMRolesAnywhereSigner


def sign(url, cert, key, chain=None, body=None, at=None):
    """Returns (headers dict, body bytes) as the library would send them to `url`."""
    signer = IAMRolesAnywhereSigner(certificate=str(cert), private_key=str(key),
                                    certificate_chain=str(chain) if chain else None, region="us-east-1")
    request = AWSRequest(method="POST", url=url, data=json.dumps(body))
    if at is not None:
        class Frozen(datetime.datetime):
            @classmethod
            def now(cls, tz=None):
                return at
        with mock.patch.object(iam_module, "datetime", Frozen):
            signer.add_auth(request)
    else:
        signer.add_auth(request)
    prepared = request.prepare()
    payload = prepared.body if isinstance(prepared.body, bytes) else prepared.body.encode()
    return dict(prepared.headers.items()), payload


def send(url, headers, body, cafile=None):
    """POSTs; returns (status, error type header, parsed JSON body)."""
    context = ssl.create_default_context(cafile=cafile) if url.startswith("https") else None
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return response.status, response.headers.get("X-Amzn-ErrorType"), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("X-Amzn-ErrorType"), json.loads(error.read() or b"{}")


def create_session(base_url, cert, key, chain=None, at=None, tamper=None, **fields):
    """Signs and sends a CreateSession; `tamper(headers, body) -> (headers, body)` edits it."""
    url = f"{base_url}/sessions"
    body = {"durationSeconds": 3600, **fields}
    headers, payload = sign(url, cert, key, chain, body, at)
    if tamper:
        headers, payload = tamper(headers, payload)
    return send(url, headers, payload)


def flip_signature(headers, body):
    auth = headers["Authorization"]
    head, sig = auth.rsplit("Signature=", 1)
    headers["Authorization"] = f"{head}Signature={'1' if sig[0] == '0' else '0'}{sig[1:]}"
    return headers, body


def change_serial(headers, body):
    headers["Authorization"] = headers["Authorization"].replace("Credential=", "Credential=1", 1)
    return headers, body


def der_b64(pem_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    cert = x509.load_pem_x509_certificate(pem_path.read_bytes())
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
