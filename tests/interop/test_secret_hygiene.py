"""No secret reaches a log or an output it does not belong in. Every command runs with --debug
and TESSERA_LOG=trace against the local anchor (also at trace), and all their logs and outputs
are searched for: the secret access key, the session token, the IMDS and ECS tokens, the private
key bytes and the key passphrase."""

import base64
import http.client
import json
import re
import subprocess
import time
import urllib.request

import pytest

from conftest import CERTS, clean_env, free_port
from test_serve import PROFILE, ROLE, TA, anchor_config

TRACE = {"TESSERA_LOG": "trace"}
PASSPHRASE = "test-passphrase"


def key_fragments(name):
    """Base64 runs of a plaintext private key file, and hex of its DER, 32 characters each."""
    body = "".join(l for l in (CERTS / name).read_text().splitlines() if not l.startswith("-----"))
    der_hex = base64.b64decode(body).hex()
    return [body[i:i + 32] for i in range(0, len(body) - 32, 32)] + [der_hex[i:i + 32] for i in range(64, len(der_hex) - 32, 32)]


@pytest.fixture(scope="module")
def anchor(tessera_bin, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("anchor")
    config = anchor_config(tmp, 3600)
    port = free_port()
    log = tmp / "anchor.log"
    with open(log, "w") as err:
        process = subprocess.Popen([tessera_bin, "--debug", "anchor", "--config", str(config), "--ca-dir", str(tmp / "ca"),
                                    "--listen", f"127.0.0.1:{port}"], stdout=err, stderr=subprocess.STDOUT, env=clean_env(**TRACE))
    deadline = time.monotonic() + 20
    while "listening" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    process.url, process.log = f"http://127.0.0.1:{port}", log
    yield process
    process.terminate()
    process.wait(timeout=10)


def flags(anchor):
    return ["--certificate", str(CERTS / "leaf-rsa.pem"), "--private-key", str(CERTS / "leaf-rsa.aes256.key"), "--intermediates",
            str(CERTS / "intermediate.pem"), "--trust-anchor-arn", TA, "--profile-arn", PROFILE, "--role-arn", ROLE, "--endpoint", anchor.url]


def run(tessera_bin, *args, **env):
    return subprocess.run([tessera_bin, "--debug", *args], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60,
                          env=clean_env(**{"TESSERA_KEY_PASSPHRASE": PASSPHRASE, **TRACE, **env}))


def test_no_secret_in_any_log_or_unrelated_output(tessera_bin, anchor, tmp_path):
    logs = {}
    secrets = {f"key bytes {i}": fragment for i, fragment in enumerate(key_fragments("leaf-rsa.key"))}
    secrets["passphrase"] = PASSPHRASE

    process = run(tessera_bin, "credential-process", *flags(anchor), TESSERA_CACHE="none")
    assert process.returncode == 0, process.stderr
    credentials = json.loads(process.stdout)
    secrets["secret access key"] = credentials["SecretAccessKey"]
    secrets["session token"] = credentials["SessionToken"]
    logs["credential-process stderr"] = process.stderr

    # serve: fetch through IMDS and ECS, so their tokens and the served credentials exist.
    serve_log = tmp_path / "serve.log"
    with open(serve_log, "w") as err:
        serve = subprocess.Popen([tessera_bin, "--debug", "serve", *flags(anchor), "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                                  "--token-dir", str(tmp_path / "tokens"), "--imds", "--audit-log", str(tmp_path / "audit.log")],
                                 stdout=subprocess.PIPE, stderr=err, text=True,
                                 env=clean_env(TESSERA_KEY_PASSPHRASE=PASSPHRASE, **TRACE))
    try:
        lines = [serve.stdout.readline() for _ in range(3)]
        address, admin = re.search(r"listening on http://(\S+) .*admin on http://(\S+)", lines[0]).groups()
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://{admin}/readyz", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, serve_log.read_text()
                time.sleep(0.1)

        def call(method, path, headers):
            connection = http.client.HTTPConnection(address, timeout=5)
            connection.request(method, path, headers=headers)
            response = connection.getresponse()
            return response.status, response.read().decode()

        status, imds_token = call("PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"})
        assert status == 200
        secrets["IMDS token"] = imds_token
        status, body = call("GET", "/latest/meta-data/iam/security-credentials/app", {"X-aws-ec2-metadata-token": imds_token})
        assert status == 200
        served = json.loads(body)
        secrets["served secret access key"] = served["SecretAccessKey"]
        secrets["served session token"] = served["Token"]
        ecs_token = (tmp_path / "tokens/default.token").read_text()
        secrets["ECS token"] = ecs_token
        assert call("GET", "/v1/credentials/default", {"Authorization": ecs_token})[0] == 200
        assert call("GET", "/v1/credentials/default", {"Authorization": "wrong-token"})[0] == 401
        logs["serve stdout"] = "".join(lines)
        for page in ("/status", "/status.json", "/metrics"):
            with urllib.request.urlopen(f"http://{admin}{page}", timeout=5) as response:
                logs[f"serve admin {page}"] = response.read().decode()
        audit = (tmp_path / "audit.log").read_text()
        assert '"event":"credentials","channel":"imds"' in audit and '"event":"credentials","channel":"ecs"' in audit, audit
        logs["serve audit log"] = audit
    finally:
        serve.terminate()
        serve.wait(timeout=10)
    logs["serve stderr"] = serve_log.read_text()

    update = run(tessera_bin, "update", "--once", "--credentials-file", str(tmp_path / "credentials"), *flags(anchor))
    assert update.returncode == 0, update.stderr
    logs["update stdout+stderr"] = update.stdout + update.stderr
    written = (tmp_path / "credentials").read_text()
    secrets["updated secret access key"] = re.search(r"aws_secret_access_key = (\S+)", written).group(1)
    assert (tmp_path / "credentials").stat().st_mode & 0o777 == 0o600

    execute = run(tessera_bin, "exec", *flags(anchor), "--", "true")
    assert execute.returncode == 0, execute.stderr
    logs["exec stdout+stderr"] = execute.stdout + execute.stderr

    doctor = run(tessera_bin, "doctor", *flags(anchor), "--trust-anchor-ca", str(CERTS / "root.pem"))
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    logs["doctor stdout+stderr"] = doctor.stdout + doctor.stderr

    sign = run(tessera_bin, "sign-string", "--private-key", str(CERTS / "leaf-rsa.aes256.key"))
    assert sign.returncode == 0, sign.stderr
    logs["sign-string stderr"] = sign.stderr

    wrong = run(tessera_bin, "credential-process", *flags(anchor), TESSERA_CACHE="none", TESSERA_KEY_PASSPHRASE="not-" + PASSPHRASE)
    assert wrong.returncode == 1
    logs["credential-process (wrong passphrase) stderr"] = wrong.stderr

    logs["anchor log"] = anchor.log.read_text()
    assert len(logs["anchor log"]) > 0 and "DEBUG" in logs["serve stderr"] + logs["anchor log"], "trace logging did not run"
    leaks = [(secret, where) for secret, value in secrets.items() for where, text in logs.items() if value and value in text]
    assert not leaks, f"secrets in logs: {leaks}"
