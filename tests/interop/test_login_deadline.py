"""Past the maximum login lifetime a login certificate stops renewing and the user gets one
line; the CA refuses replayed and expired renewal tokens. Its own module so that xdist can run
it beside the two-minute renewal test (both wait on real certificate lifetimes)."""

import json
import re
import time
import urllib.request

from cryptography import x509

from test_login import device_login, idp  # noqa: F401 (idp is a fixture)
from test_login_renewal import person_with_anchor, start_serve


def renewal_token(person, anchor):
    """A renewal token made here from the stored key and certificate (step-ca's shape)."""
    import base64
    import os
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    from test_login import b64
    key = serialization.load_pem_private_key((person.data / "dev" / "key.pem").read_bytes(), None)
    cert = x509.load_pem_x509_certificate((person.data / "dev" / "certificate.pem").read_bytes())
    der = cert.public_bytes(serialization.Encoding.DER)
    now = int(time.time())
    head = {"alg": "ES256", "x5c": [base64.b64encode(der).decode()]}
    body = {"aud": f"{anchor.url}/1.0/renew", "iat": now, "exp": now + 60, "jti": os.urandom(8).hex()}
    signing_input = f"{b64(json.dumps(head).encode())}.{b64(json.dumps(body).encode())}"
    r, s_ = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{b64(r.to_bytes(32, 'big') + s_.to_bytes(32, 'big'))}"


def renew(anchor, token):
    request = urllib.request.Request(f"{anchor.url}/1.0/renew", method="POST", data=b"{}",
                                     headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def test_renewal_stops_at_the_maximum_login_lifetime_with_one_line(tessera_bin, tmp_path, idp):
    person, anchor = person_with_anchor(tessera_bin, tmp_path, idp, certificateSeconds=60, maxLoginSeconds=60)
    serve = None
    try:
        code, _, err, _ = device_login(person, "alice", *person.first_login_args())
        assert code == 0, err
        first = x509.load_pem_x509_certificate((person.data / "dev" / "certificate.pem").read_bytes())
        deadline = first.not_valid_before_utc.timestamp() + 30 + 60  # NotBefore is back-dated 30 s
        # A token made here replays nothing: a second use of the same token is refused.
        token = renewal_token(person, anchor)
        assert renew(anchor, token)[0] == 201
        status, body = renew(anchor, token)
        assert status == 401 and "used before" in body["message"]
        serve, _, _ = start_serve(person)
        # Renewals go on, but never past the login's end.
        wait_until = time.monotonic() + 150
        log = person.home / "serve.log"
        while "run 'tessera login --profile dev'" not in log.read_text():
            assert time.monotonic() < wait_until, log.read_text()
            cert = x509.load_pem_x509_certificate((person.data / "dev" / "certificate.pem").read_bytes())
            assert cert.not_valid_after_utc.timestamp() <= deadline + 1
            time.sleep(2)
        text = log.read_text()
        assert "renewed the login certificate" in text
        assert re.search(r"the certificate for profile dev expired at \S+; run 'tessera login --profile dev'", text)
        out = person.run("credential-process", "--profile", "dev")
        assert out.returncode == 1
        assert re.fullmatch(r"tessera: the certificate for profile dev expired at \S+; run 'tessera login --profile dev'",
                            out.stderr.splitlines()[0]), out.stderr
        # The CA itself refuses to renew an expired certificate. The last certificate ends at the
        # login's end, so in the second they share the deadline says so first.
        status, body = renew(anchor, renewal_token(person, anchor))
        assert status == 403, body
        assert "cannot be renewed after it expires" in body["message"] or "(maxLoginSeconds)" in body["message"], body
    finally:
        if serve:
            serve.terminate()
            serve.wait(timeout=10)
        anchor.stop()
