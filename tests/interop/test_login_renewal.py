"""A login certificate renews itself under serve, with no new sign-in, against the same real
peers as test_login.py; past the login's maximum lifetime the user gets one line. These tests
wait on real certificate lifetimes (minutes), so they sit in their own module for xdist."""

import json
import re
import subprocess
import time
import urllib.request

from cryptography import x509

from conftest import clean_env
from test_login import ACCOUNT, Anchor, Person, device_login, idp  # noqa: F401 (idp is a fixture)


def start_serve(person):
    process = subprocess.Popen(
        [person.bin, "serve", "--config", str(person.config), "--all-profiles",
         "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
         "--token-dir", str(person.home / "tokens")],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=(person.home / "serve.log").open("w"),
        text=True, env=person.env())
    lines = [process.stdout.readline() for _ in range(3)]
    address = re.search(r"listening on http://(\S+)", lines[0]).group(1)
    token_file = re.search(r"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=(\S+)", "".join(lines)).group(1)
    return process, address, token_file


def ecs(address, token_file):
    request = urllib.request.Request(f"http://{address}/v1/credentials/dev",
                                     headers={"Authorization": open(token_file).read()})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, {}


def caller_arn(person, anchor, credentials):
    env = clean_env(AWS_ACCESS_KEY_ID=credentials["AccessKeyId"], AWS_SECRET_ACCESS_KEY=credentials["SecretAccessKey"],
                    AWS_SESSION_TOKEN=credentials["Token"], AWS_CONFIG_FILE="/nonexistent",
                    AWS_SHARED_CREDENTIALS_FILE="/nonexistent")
    cli = subprocess.run(["aws", "sts", "get-caller-identity", "--endpoint-url", anchor.url, "--region", "us-east-1",
                          "--output", "json"], capture_output=True, text=True, timeout=60, env=env)
    assert cli.returncode == 0, cli.stderr
    return json.loads(cli.stdout)["Arn"]


def serial(person):
    return x509.load_pem_x509_certificate((person.data / "dev" / "certificate.pem").read_bytes()).serial_number


def person_with_anchor(tessera_bin, tmp_path, idp, **enrolment):
    anchor = Anchor(tessera_bin, tmp_path / "anchor",
                    {"issuer": idp, "audiences": ["tessera"], **enrolment})
    home = tmp_path / "home"
    home.mkdir()
    return Person(tessera_bin, home, idp, anchor), anchor


def test_serve_renews_a_two_minute_certificate_twice_without_a_new_login(tessera_bin, tmp_path, idp):
    person, anchor = person_with_anchor(tessera_bin, tmp_path, idp, certificateSeconds=120, maxLoginSeconds=3600)
    serve = None
    try:
        code, _, err, _ = device_login(person, "alice", *person.first_login_args())
        assert code == 0, err
        serials = [serial(person)]
        serve, address, token_file = start_serve(person)
        ready_by = time.monotonic() + 20
        while ecs(address, token_file)[0] != 200:
            assert time.monotonic() < ready_by, (person.home / "serve.log").read_text()
            time.sleep(0.2)
        seen_keys = {}
        deadline = time.monotonic() + 240
        while len(set(serials)) < 3:
            assert time.monotonic() < deadline, f"renewed {len(set(serials)) - 1} times: {(person.home / 'serve.log').read_text()}"
            status, credentials = ecs(address, token_file)
            assert status == 200, (status, (person.home / "serve.log").read_text())
            seen_keys.setdefault(credentials["AccessKeyId"], credentials)
            if serial(person) != serials[-1]:
                serials.append(serial(person))
            time.sleep(2)
        # Every set handed out works, and each names the person's role.
        for credentials in seen_keys.values():
            assert caller_arn(person, anchor, credentials).startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/developer/")
        log = (person.home / "serve.log").read_text()
        assert log.count("renewed the login certificate") >= 2
        assert "run 'tessera login" not in log
    finally:
        if serve:
            serve.terminate()
            serve.wait(timeout=10)
        anchor.stop()


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
    person, anchor = person_with_anchor(tessera_bin, tmp_path, idp, certificateSeconds=60, maxLoginSeconds=90)
    serve = None
    try:
        code, _, err, _ = device_login(person, "alice", *person.first_login_args())
        assert code == 0, err
        first = x509.load_pem_x509_certificate((person.data / "dev" / "certificate.pem").read_bytes())
        deadline = first.not_valid_before_utc.timestamp() + 30 + 90  # NotBefore is back-dated 30 s
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
        # The CA itself refuses to renew an expired certificate.
        status, body = renew(anchor, renewal_token(person, anchor))
        assert status == 403 and "cannot be renewed after it expires" in body["message"], body
    finally:
        if serve:
            serve.terminate()
            serve.wait(timeout=10)
        anchor.stop()
