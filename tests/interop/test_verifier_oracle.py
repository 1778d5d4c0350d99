"""The oracle is checked too: the Python verifier (ra_verifier.py, the stub's judge) accepts what
an independent signer (iam-rolesanywhere-session, through botocore's SigV4 canonicalization)
produces, the ARNs-in-the-query form included, and refuses the same requests tampered with."""

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

import ra_verifier

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def signed():
    out = subprocess.run([sys.executable, str(HERE / "sign_with_iam_session.py")],
                         capture_output=True, text=True, check=True, timeout=60)
    requests = json.loads(out.stdout)
    assert len(requests) == 4 and any(r["query"] for r in requests)
    return requests


def verify(request, **change):
    request = dict(request, **change)
    headers = {k.lower(): v for k, v in request["headers"]}
    return ra_verifier.verify(request["method"], request["path"], request["query"], headers,
                              base64.b64decode(request["body"]))


def test_the_verifier_accepts_every_independently_signed_request(signed):
    for request in signed:
        fields = verify(request)
        assert fields, request["name"]


def test_the_verifier_refuses_them_tampered_with(signed):
    for request in signed:
        flipped = [[k, v[:-1] + ("0" if v[-1] != "0" else "1")] if k.lower() == "authorization" else [k, v]
                   for k, v in request["headers"]]
        with pytest.raises(ra_verifier.VerificationError):
            verify(request, headers=flipped)
        body = base64.b64decode(request["body"]).replace(b"3600", b"4600")
        with pytest.raises(ra_verifier.VerificationError):
            verify(request, body=base64.b64encode(body).decode())
        if request["query"]:
            with pytest.raises(ra_verifier.VerificationError):
                verify(request, query=request["query"].replace("role%2Fapp", "role%2Fadmin"))
