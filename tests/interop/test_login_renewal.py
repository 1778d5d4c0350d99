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
