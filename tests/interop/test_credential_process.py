"""tessera credential-process against independent peers: a Python verifier (cryptography),
botocore/the AWS CLI, and moto server as the SigV4 verifier of the credentials."""

import base64
import json
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

import ra_verifier
from conftest import CERTS, arn_args, clean_env, identity_args, moto_bootstrap, moto_enforce_auth, run_tessera

KEY_CASES = [
    ("rsa-with-chain", identity_args("leaf-rsa.pem", "leaf-rsa.key", "intermediate.pem")),
    ("rsa-fullchain-pem", identity_args("leaf-rsa.fullchain.pem", "leaf-rsa.pkcs1.key")),
    ("p256-sec1", identity_args("leaf-p256.pem", "leaf-p256.sec1.key", "intermediate.pem")),
    ("p256-combined-pem", identity_args("leaf-p256.combined.pem")),
    ("p384", identity_args("leaf-p384.pem", "leaf-p384.key")),
    ("rsa-8192", identity_args("leaf-rsa8192.pem", "leaf-rsa8192.key")),
    ("pkcs12-legacy", identity_args("leaf-p256.legacy.p12")),
    ("pkcs12-aes", identity_args("leaf-rsa.p12") + ["--pkcs8-password", "test-passphrase"]),
    ("encrypted-pkcs8-scrypt", identity_args("leaf-p384.pem", "leaf-p384.scrypt.key") + ["--pkcs8-password", "test-passphrase"]),
    ("der-cert-and-key", identity_args("leaf-rsa.der", "leaf-rsa.key.der")),
]


def endpoint(stub, scheme="http"):
    return ["--endpoint", f"{scheme}://127.0.0.1:{stub.port}"]


@pytest.mark.parametrize("name,identity", KEY_CASES, ids=[c[0] for c in KEY_CASES])
def test_requests_pass_the_independent_verifier(tessera_bin, stub_factory, name, identity):
    stub = stub_factory()
    result = run_tessera(tessera_bin, ["credential-process", *identity, *arn_args(), *endpoint(stub)])
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert list(output) == ["Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"]
    assert output["Version"] == 1
    assert output["AccessKeyId"] == "ASIASTUBEXAMPLE00001"
    assert output["Expiration"].endswith("Z") and len(output["Expiration"]) == 20
    (request,) = stub.requests()
    assert request["verified"], request.get("reason")


def test_tampering_breaks_independent_verification(tessera_bin, stub_factory):
    stub = stub_factory()
    identity = identity_args("leaf-rsa.pem", "leaf-rsa.key", "intermediate.pem")
    result = run_tessera(tessera_bin, ["credential-process", *identity, *arn_args(), *endpoint(stub), "--role-session-name", "s1"])
    assert result.returncode == 0, result.stderr
    (request,) = stub.requests()
    headers, body = request["headers"], base64.b64decode(request["body"])
    ra_verifier.verify("POST", request["path"], request["query"], headers, body)

    def fails(path=request["path"], query=request["query"], hdrs=headers, payload=body):
        with pytest.raises((ra_verifier.VerificationError, ValueError)):
            ra_verifier.verify("POST", path, query, hdrs, payload)

    auth = headers["authorization"]
    for name in ["content-type", "host", "x-amz-date", "x-amz-x509", "x-amz-x509-chain"]:
        changed = dict(headers)
        value = changed[name]
        changed[name] = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
        fails(hdrs=changed)
    fails(payload=body.replace(b"s1", b"s2"))
    fails(query=request["query"].replace("role%2Fapp", "role%2Fadmin"))
    fails(hdrs=dict(headers, authorization=auth.replace("Credential=", "Credential=1")))
    date = headers["x-amz-date"]
    fails(hdrs=dict(headers, **{"x-amz-date": date[:-3] + ("59Z" if date[-3:] != "59Z" else "58Z")}))


def test_service_error_is_reported_with_status_code_and_message(tessera_bin, stub_factory):
    stub = stub_factory("--mode", "access-denied")
    identity = identity_args("leaf-p256.pem", "leaf-p256.key")
    result = run_tessera(tessera_bin, ["credential-process", *identity, *arn_args(), *endpoint(stub)])
    assert result.returncode == 1
    assert result.stdout == ""
    first = result.stderr.splitlines()[0]
    assert first == "tessera: CreateSession failed: HTTP 403 AccessDeniedException: Untrusted signing certificate (request id stub-request-1)"
    assert len(stub.requests()) == 1, "4xx other than 429 is never retried"


@pytest.mark.parametrize("mode,fragment", [
    ("status-500", "HTTP 500 InternalServerException: internal failure"),
    ("throttle", "HTTP 429 ThrottlingException: Rate exceeded"),
])
def test_transient_errors_are_retried_three_times(tessera_bin, stub_factory, mode, fragment):
    stub = stub_factory("--mode", mode)
    identity = identity_args("leaf-p256.pem", "leaf-p256.key")
    result = run_tessera(tessera_bin, ["credential-process", *identity, *arn_args(), *endpoint(stub)])
    assert result.returncode == 1
    assert fragment in result.stderr.splitlines()[0]
    requests = stub.requests()
    assert len(requests) == 3
    dates = {r["headers"]["authorization"].split("Signature=")[1] for r in requests}
    assert all(r["verified"] for r in requests), "every attempt is signed afresh and valid"


@pytest.mark.parametrize("mode,fragment", [
    ("non-json", "returned HTTP 201 with an unusable body: not CreateSession JSON"),
    ("empty-set", "returned HTTP 201 with an unusable body: credentialSet is empty"),
    ("expired", "the credentials already expired at"),
])
def test_unusable_success_responses_are_errors(tessera_bin, stub_factory, mode, fragment):
    stub = stub_factory("--mode", mode)
    identity = identity_args("leaf-p256.pem", "leaf-p256.key")
    result = run_tessera(tessera_bin, ["credential-process", *identity, *arn_args(), *endpoint(stub)])
    assert result.returncode == 1, result.stdout
    assert result.stdout == ""
    assert fragment in result.stderr.splitlines()[0]


def test_tls_failure_names_the_endpoint_and_the_fix(tessera_bin, stub_factory):
    stub = stub_factory("--tls-cert", str(CERTS / "server.pem"), "--tls-key", str(CERTS / "server.key"))
    identity = identity_args("leaf-p256.pem", "leaf-p256.key")
    result = run_tessera(tessera_bin, ["credential-process", *identity, *arn_args(), *endpoint(stub, "https")])
    assert result.returncode == 1
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"tessera: TLS connection to https://127.0.0.1:{stub.port} failed:"), first
    assert "pass --ca-bundle" in first
    assert stub.requests() == []


@pytest.mark.parametrize("how", ["flag", "aws-env", "no-verify"])
def test_tls_endpoint_with_a_private_ca(tessera_bin, stub_factory, how):
    stub = stub_factory("--tls-cert", str(CERTS / "server.pem"), "--tls-key", str(CERTS / "server.key"))
    identity = identity_args("leaf-p256.pem", "leaf-p256.key")
    args = ["credential-process", *identity, *arn_args(), *endpoint(stub, "https")]
    env = {}
    if how == "flag":
        args += ["--ca-bundle", str(CERTS / "root.pem")]
    elif how == "aws-env":
        env["AWS_CA_BUNDLE"] = str(CERTS / "root.pem")
    else:
        args += ["--no-verify-ssl"]
    result = run_tessera(tessera_bin, args, **env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["Version"] == 1
    assert stub.requests()[0]["verified"]


def test_endpoint_from_aws_endpoint_url_rolesanywhere(tessera_bin, stub_factory):
    stub = stub_factory()
    identity = identity_args("leaf-p256.pem", "leaf-p256.key")
    result = run_tessera(tessera_bin, ["credential-process", *identity, *arn_args()],
                         AWS_ENDPOINT_URL_ROLESANYWHERE=f"http://127.0.0.1:{stub.port}")
    assert result.returncode == 0, result.stderr


def test_the_identity_arn_endpoint_and_session_flags_can_come_from_the_environment(tessera_bin, stub_factory):
    stub = stub_factory()
    env = {
        "TESSERA_CERTIFICATE": str(CERTS / "leaf-rsa.pem"),
        "TESSERA_PRIVATE_KEY": str(CERTS / "leaf-rsa.aes256.key"),
        "TESSERA_INTERMEDIATES": str(CERTS / "intermediate.pem"),
        "TESSERA_KEY_PASSPHRASE": "test-passphrase",
        "TESSERA_TRUST_ANCHOR_ARN": arn_args()[1],
        "TESSERA_PROFILE_ARN": arn_args()[3],
        "TESSERA_ROLE_ARN": arn_args()[5],
        "TESSERA_ENDPOINT": f"http://127.0.0.1:{stub.port}",
        "TESSERA_SESSION_DURATION": "900",
        "TESSERA_ROLE_SESSION_NAME": "from-env",
    }
    result = run_tessera(tessera_bin, ["credential-process"], **env)
    assert result.returncode == 0, result.stderr
    (request,) = stub.requests()
    assert json.loads(base64.b64decode(request["body"])) == {"durationSeconds": 900, "roleSessionName": "from-env"}


def _moto_credentials(moto_url):
    """Role credentials from moto's own STS; then moto enforces signatures."""
    key = moto_bootstrap(moto_url)
    sts = boto3.client("sts", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                       endpoint_url=moto_url, region_name="us-east-1")
    creds = sts.assume_role(RoleArn="arn:aws:iam::123456789012:role/app", RoleSessionName="ra")["Credentials"]
    moto_enforce_auth(moto_url)
    return {
        "accessKeyId": creds["AccessKeyId"],
        "secretAccessKey": creds["SecretAccessKey"],
        "sessionToken": creds["SessionToken"],
        "expiration": creds["Expiration"].strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _aws_cli(config, moto_url, profile):
    aws = Path(sys.executable).parent / "aws"
    env = clean_env(AWS_CONFIG_FILE=str(config), AWS_SHARED_CREDENTIALS_FILE=str(config.parent / "none"))
    return subprocess.run(
        [str(aws), "sts", "get-caller-identity", "--profile", profile, "--endpoint-url", moto_url, "--output", "json"],
        capture_output=True, text=True, env=env, timeout=120,
    )


def test_aws_cli_uses_the_credentials_through_credential_process(tessera_bin, stub_factory, moto_server, tmp_path):
    creds = _moto_credentials(moto_server)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(creds))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dict(creds, secretAccessKey=creds["secretAccessKey"][:-4] + "XXXX")))
    good_stub = stub_factory("--credentials", str(good))
    bad_stub = stub_factory("--credentials", str(bad))

    def process(stub):
        parts = [tessera_bin, "credential-process", *identity_args("leaf-p256.pem", "leaf-p256.key", "intermediate.pem"), *arn_args(), "--endpoint", f"http://127.0.0.1:{stub.port}"]
        return " ".join(f'"{p}"' for p in parts)

    config = tmp_path / "config"
    config.write_text(
        f"[profile ra]\nregion = us-east-1\ncredential_process = {process(good_stub)}\n\n"
        f"[profile wrong-secret]\nregion = us-east-1\ncredential_process = {process(bad_stub)}\n"
    )
    result = _aws_cli(config, moto_server, "ra")
    assert result.returncode == 0, result.stderr
    identity = json.loads(result.stdout)
    assert identity["Arn"] == "arn:aws:sts::123456789012:assumed-role/app/ra"
    assert good_stub.requests()[0]["verified"]

    result = _aws_cli(config, moto_server, "wrong-secret")
    assert result.returncode != 0
    assert "SignatureDoesNotMatch" in result.stderr


def test_aws_cli_shows_tessera_error_line(tessera_bin, tmp_path):
    config = tmp_path / "config"
    bad = f'"{tessera_bin}" credential-process --certificate /nonexistent.pem --private-key /nonexistent.key ' + " ".join(arn_args())
    config.write_text(f"[profile broken]\nregion = us-east-1\ncredential_process = {bad}\n")
    result = _aws_cli(config, "http://127.0.0.1:9", "broken")
    assert result.returncode != 0
    assert "Error when retrieving credentials from custom-process: tessera: certificate file /nonexistent.pem does not exist" in result.stderr


def test_https_goes_through_https_proxy_unless_no_proxy(tessera_bin, stub_factory, tmp_path):
    stub = stub_factory("--tls-cert", str(CERTS / "server.pem"), "--tls-key", str(CERTS / "server.key"))
    log = tmp_path / "proxy.log"
    proxy = subprocess.Popen([sys.executable, str(Path(__file__).parent / "connect_proxy.py"), "--log", str(log)],
                             stdout=subprocess.PIPE, text=True)
    try:
        proxy_url = f"http://127.0.0.1:{int(proxy.stdout.readline())}"
        args = ["credential-process", *identity_args("leaf-p256.pem", "leaf-p256.key"), *arn_args(),
                *endpoint(stub, "https"), "--ca-bundle", str(CERTS / "root.pem")]
        result = run_tessera(tessera_bin, args, HTTPS_PROXY=proxy_url)
        assert result.returncode == 0, result.stderr
        assert log.read_text().splitlines() == [f"CONNECT 127.0.0.1:{stub.port}"]
        result = run_tessera(tessera_bin, args, HTTPS_PROXY=proxy_url, NO_PROXY="127.0.0.1")
        assert result.returncode == 0, result.stderr
        assert len(log.read_text().splitlines()) == 1, "NO_PROXY bypasses the proxy"
        assert len(stub.requests()) == 2
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)


def test_total_timeout_bounds_a_hanging_endpoint(tessera_bin, stub_factory):
    stub = stub_factory("--mode", "hang")
    args = ["credential-process", *identity_args("leaf-p256.pem", "leaf-p256.key"), *arn_args(), *endpoint(stub), "--timeout", "2"]
    result = run_tessera(tessera_bin, args)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == f"tessera: CreateSession at http://127.0.0.1:{stub.port} did not complete within 2 s (--timeout)"


def test_world_readable_key_gets_a_warning_after_the_result(tessera_bin, stub_factory, tmp_path):
    key = tmp_path / "key.pem"
    key.write_bytes((CERTS / "leaf-p256.key").read_bytes())
    key.chmod(0o644)
    stub = stub_factory()
    args = ["credential-process", "--certificate", str(CERTS / "leaf-p256.pem"), "--private-key", str(key), *arn_args(), *endpoint(stub)]
    result = run_tessera(tessera_bin, args)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["Version"] == 1
    assert f"private key {key} is readable by group or others (mode 644); run 'chmod 600 {key}'" in result.stderr
    key.chmod(0o600)
    result = run_tessera(tessera_bin, args)
    assert "readable" not in result.stderr


def _fixed_string(cert_path):
    """The official helper's sign-string input, rebuilt here from its documented layout."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = x509.load_pem_x509_certificate(cert_path.read_bytes()).public_key()
    if isinstance(key, rsa.RSAPublicKey):
        raw = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    else:
        raw = key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(b"IAM RA" + raw)
    return b"AWS Roles Anywhere Credential Helper Signing Test" + b"1" + digest.finalize()


def test_sign_string_signs_the_fixed_test_string_verifiably_with_openssl(tessera_bin, tmp_path):
    cases = [("leaf-rsa.key", "leaf-rsa.pem", "SHA256", "bin"), ("leaf-p384.key", "leaf-p384.pem", "SHA384", "text"),
             ("leaf-p256.sec1.key", "leaf-p256.pem", "SHA512", "json")]
    for key, cert, digest, fmt in cases:
        data = tmp_path / "data"
        data.write_bytes(_fixed_string(CERTS / cert))
        signed = subprocess.run([tessera_bin, "sign-string", "--private-key", str(CERTS / key), "--format", fmt, "--digest", digest],
                                stdin=subprocess.DEVNULL, capture_output=True, env=clean_env(), timeout=30)
        assert signed.returncode == 0, signed.stderr
        raw = {"bin": lambda b: b, "text": lambda b: bytes.fromhex(b.decode()), "json": lambda b: bytes.fromhex(json.loads(b))}[fmt](signed.stdout)
        sig = tmp_path / "sig"
        sig.write_bytes(raw)
        pub = tmp_path / "pub.pem"
        subprocess.run(["openssl", "x509", "-in", str(CERTS / cert), "-pubkey", "-noout", "-out", str(pub)], check=True)
        check = subprocess.run(["openssl", "dgst", f"-{digest.lower()}", "-verify", str(pub), "-signature", str(sig), str(data)],
                               capture_output=True, text=True)
        assert check.returncode == 0 and "Verified OK" in check.stdout, (key, check.stdout, check.stderr)


def test_a_profile_from_the_config_file_with_flags_overriding_it(tessera_bin, stub_factory, tmp_path):
    stub = stub_factory()
    (tmp_path / "tessera").mkdir()
    (tmp_path / "tessera" / "config.toml").write_text(f"""
[profiles.dev]
certificate = "{CERTS}/leaf-rsa.pem"
private-key = "{CERTS}/leaf-rsa.key"
intermediates = "{CERTS}/intermediate.pem"
trust-anchor-arn = "{arn_args()[1]}"
profile-arn = "{arn_args()[3]}"
role-arn = "{arn_args()[5]}"
endpoint = "http://127.0.0.1:{stub.port}"
session-duration = 1800
""")
    result = run_tessera(tessera_bin, ["credential-process", "--profile", "dev", "--session-duration", "900"], XDG_CONFIG_HOME=str(tmp_path))
    assert result.returncode == 0, result.stderr
    (request,) = stub.requests()
    assert request["verified"]
    assert json.loads(base64.b64decode(request["body"])) == {"durationSeconds": 900}
    result = run_tessera(tessera_bin, ["credential-process", "--profile", "prod"], XDG_CONFIG_HOME=str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.startswith(f"tessera: profile 'prod' is not in {tmp_path}/tessera/config.toml (profiles there: dev)")


def test_missing_settings_name_the_flag_and_variable(tessera_bin):
    result = run_tessera(tessera_bin, ["credential-process", *identity_args("leaf-p256.pem", "leaf-p256.key"), "--trust-anchor-arn", arn_args()[1]])
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == "tessera: no profile ARN: pass --profile-arn (or set TESSERA_PROFILE_ARN)"
