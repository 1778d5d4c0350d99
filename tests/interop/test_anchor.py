"""The local trust anchor against independent clients: the AWS CLI (credential_process and
STS), iam-rolesanywhere-session over TLS, and crafted requests for every check."""

import datetime
import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

import pki_builder
import ra_client
from conftest import CERTS, clean_env, identity_args, moto_bootstrap, moto_enforce_auth, promtool_check, run_tessera

ACCOUNT = "123456789012"
ARN = f"arn:aws:rolesanywhere:us-east-1:{ACCOUNT}"
ROLE = f"arn:aws:iam::{ACCOUNT}:role"


def ta(name):
    return f"{ARN}:trust-anchor/{name}"


def profile(name):
    return f"{ARN}:profile/{name}"


CONFIG = """
accountId = "{account}"
region = "us-east-1"

[[trustAnchors]]
arn = "{ta}"
certificates = ["{certs}/root.pem"]

[[trustAnchors]]
arn = "{ta_disabled}"
certificates = ["{certs}/root.pem"]
enabled = false

[[trustAnchors]]
arn = "{ta_local}"
certificates = ["{ca}/root.pem"]
crls = ["{ca}/crl.pem"]

[[profiles]]
arn = "{p}"
roleArns = ["{role}/app", "{role}/cond", "{role}/cond-ok"]
acceptRoleSessionName = true

[[profiles]]
arn = "{p_no_name}"
roleArns = ["{role}/app"]

[[profiles]]
arn = "{p_disabled}"
roleArns = ["{role}/app"]
enabled = false

[[profiles]]
arn = "{p_long}"
roleArns = ["{role}/app"]
durationSeconds = 43200

[[roles]]
arn = "{role}/app"
maxSessionDuration = 3600

[[roles]]
arn = "{role}/other"

[[roles]]
arn = "{role}/cond"
[[roles.conditions]]
test = "StringEquals"
key = "aws:PrincipalTag/x509Subject/CN"
values = ["somebody-else"]

[[roles]]
arn = "{role}/cond-ok"
[[roles.conditions]]
test = "StringLike"
key = "aws:PrincipalTag/x509Subject/CN"
values = ["leaf-*"]
[[roles.conditions]]
test = "ArnEquals"
key = "aws:SourceArn"
values = ["{ta}"]
[[roles.conditions]]
test = "StringEquals"
key = "sts:SourceIdentity"
values = ["CN=leaf-p256"]
"""


class Anchor:
    def __init__(self, tessera_bin, tmp, tls, extra_args=()):
        self.ca = tmp / "ca"
        self.tmp = tmp
        run = lambda *a: subprocess.run([tessera_bin, "ca", "--dir", str(self.ca), *a], check=True,
                                        capture_output=True, text=True, env=clean_env()).stdout
        run("init")
        revoked = re.search(r"serial: (\w+)", run("issue", "--cn", "revoked-leaf")).group(1)
        run("revoke", revoked)
        run("issue", "--cn", "good-leaf")
        config = tmp / "anchor.toml"
        config.write_text(CONFIG.format(
            account=ACCOUNT, ta=ta("ta"), ta_disabled=ta("disabled"), ta_local=ta("local"), certs=CERTS, ca=self.ca,
            p=profile("p"), p_no_name=profile("no-name"), p_disabled=profile("disabled"), p_long=profile("long"), role=ROLE,
        ))
        args = [tessera_bin, "anchor", "--config", str(config), "--ca-dir", str(self.ca), "--listen", "127.0.0.1:0"]
        if tls:
            args.append("--tls")
        args.extend(extra_args)
        self.log = tmp / "anchor.log"
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True, env=clean_env())
        line = self.process.stdout.readline()
        match = re.search(r"listening on (\S+)", line)
        assert match, f"anchor did not start: {line} {self.log.read_text()}"
        self.url = match.group(1)
        self.cafile = str(self.ca / "root.pem")

    def metrics(self):
        import ssl
        context = ssl.create_default_context(cafile=self.cafile) if self.url.startswith("https") else None
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5, context=context) as response:
            return response.read().decode()

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def anchor(tessera_bin, tmp_path_factory):
    server = Anchor(tessera_bin, tmp_path_factory.mktemp("anchor"), tls=True)
    yield server
    server.stop()


def aws(config, anchor, profile_name, *args):
    aws_bin = Path(sys.executable).parent / "aws"
    env = clean_env(AWS_CONFIG_FILE=str(config), AWS_SHARED_CREDENTIALS_FILE=str(config.parent / "none"), AWS_CA_BUNDLE=anchor.cafile)
    return subprocess.run([str(aws_bin), *args, "--profile", profile_name, "--endpoint-url", anchor.url, "--output", "json"],
                          capture_output=True, text=True, env=env, timeout=120)


def process_line(tessera_bin, anchor, identity, role="app", prof="p", anchor_name="ta"):
    parts = [tessera_bin, "credential-process", *identity, "--trust-anchor-arn", ta(anchor_name), "--profile-arn", profile(prof),
             "--role-arn", f"{ROLE}/{role}", "--endpoint", anchor.url]
    return " ".join(f'"{p}"' for p in parts)


def test_aws_cli_gets_the_assumed_role_through_credential_process(tessera_bin, anchor, tmp_path):
    identity = identity_args("leaf-p256.pem", "leaf-p256.key", "intermediate.pem")
    config = tmp_path / "config"
    config.write_text(f"[profile ra]\nregion = us-east-1\ncredential_process = {process_line(tessera_bin, anchor, identity)}\n")
    result = aws(config, anchor, "ra", "sts", "get-caller-identity")
    assert result.returncode == 0, result.stderr
    serial_hex = "0123456789abcdef01"  # leaf-p256's serial, the default session name
    assert json.loads(result.stdout)["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/app/{serial_hex}"


def test_sts_rejects_a_wrong_secret_and_an_unknown_key(tessera_bin, anchor, tmp_path):
    identity = identity_args("leaf-p256.pem", "leaf-p256.key", "intermediate.pem")
    out = run_tessera(tessera_bin, ["credential-process", *identity, "--trust-anchor-arn", ta("ta"), "--profile-arn", profile("p"),
                                    "--role-arn", f"{ROLE}/app", "--endpoint", anchor.url, "--ca-bundle", anchor.cafile])
    assert out.returncode == 0, out.stderr
    creds = json.loads(out.stdout)
    config = tmp_path / "config"
    config.write_text(
        "[profile wrong-secret]\nregion = us-east-1\n"
        f"aws_access_key_id = {creds['AccessKeyId']}\naws_secret_access_key = {creds['SecretAccessKey'][:-2]}xx\naws_session_token = {creds['SessionToken']}\n\n"
        "[profile unknown-key]\nregion = us-east-1\n"
        f"aws_access_key_id = ASIAUNKNOWNUNKNOWN00\naws_secret_access_key = {creds['SecretAccessKey']}\naws_session_token = {creds['SessionToken']}\n"
    )
    result = aws(config, anchor, "wrong-secret", "sts", "get-caller-identity")
    assert result.returncode != 0 and "SignatureDoesNotMatch" in result.stderr, result.stderr
    result = aws(config, anchor, "unknown-key", "sts", "get-caller-identity")
    assert result.returncode != 0 and "InvalidClientTokenId" in result.stderr, result.stderr


@pytest.mark.parametrize("cert,key,chain", [
    ("leaf-rsa.pem", "leaf-rsa.key", "intermediate.pem"),
    ("leaf-p256.pem", "leaf-p256.key", "intermediate.pem"),
    ("leaf-p384.pem", "leaf-p384.key", None),
])
def test_iam_rolesanywhere_session_gets_credentials_over_tls(anchor, cert, key, chain):
    from iam_rolesanywhere_session import IAMRolesAnywhereSession
    session = IAMRolesAnywhereSession(
        profile_arn=profile("p"), role_arn=f"{ROLE}/app", trust_anchor_arn=ta("ta"),
        certificate=str(CERTS / cert), private_key=str(CERTS / key),
        certificate_chain=str(CERTS / chain) if chain else None,
        region="us-east-1", endpoint=anchor.url.removeprefix("https://"), verify=anchor.cafile,
    ).get_session()
    identity = session.client("sts", endpoint_url=anchor.url).get_caller_identity()
    assert identity["Arn"].startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/app/")
    assert identity["Account"] == ACCOUNT


def test_metrics_count_create_session_outcomes(anchor):
    before = anchor.metrics()
    status, _, _ = ra_client.send(f"{anchor.url}/sessions", *ra_client.sign(f"{anchor.url}/sessions", CERTS / "leaf-p384.pem", CERTS / "leaf-p384.key",
        body={"durationSeconds": 900, "profileArn": profile("p"), "roleArn": f"{ROLE}/app", "trustAnchorArn": ta("ta")}), cafile=anchor.cafile)
    assert status == 201
    count = lambda text: int(re.search(r'tessera_anchor_create_session_total\{outcome="success"\} (\d+)', text).group(1)) if "success" in text else 0
    assert count(promtool_check(anchor.metrics())) == count(before) + 1


def test_the_response_has_the_service_shape(anchor):
    url = f"{anchor.url}/sessions"
    body = {"durationSeconds": 1800, "profileArn": profile("p"), "roleArn": f"{ROLE}/app", "trustAnchorArn": ta("ta"), "roleSessionName": "job-7"}
    status, _, response = ra_client.send(url, *ra_client.sign(url, CERTS / "leaf-p256.pem", CERTS / "leaf-p256.key", CERTS / "intermediate.pem", body), cafile=anchor.cafile)
    assert status == 201, response
    (entry,) = response["credentialSet"]
    assert entry["roleArn"] == f"{ROLE}/app"
    assert entry["sourceIdentity"] == "CN=leaf-p256"
    assert entry["assumedRoleUser"]["arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/app/job-7"
    assert entry["credentials"]["accessKeyId"].startswith("ASIA")
    expires = datetime.datetime.strptime(entry["credentials"]["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    left = (expires - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    assert 1700 < left <= 1800
    assert re.fullmatch(rf"arn:aws:rolesanywhere:us-east-1:{ACCOUNT}:subject/[0-9a-f-]{{36}}", response["subjectArn"])


# The negative matrix: one request per check, each with the service's status, code and message.

def _fields(role="app", prof="p", anchor_name="ta", **extra):
    return {"profileArn": profile(prof), "roleArn": f"{ROLE}/{role}", "trustAnchorArn": ta(anchor_name), **extra}


def _expect(anchor, cert, key, chain=None, expected=(403, "AccessDeniedException", None), at=None, tamper=None, **fields):
    url = f"{anchor.url}/sessions"
    body = {"durationSeconds": 3600, **_fields(**fields)}
    headers, payload = ra_client.sign(url, cert, key, chain, body, at)
    if tamper:
        headers, payload = tamper(headers, payload)
    status, code, response = ra_client.send(url, headers, payload, cafile=anchor.cafile)
    want_status, want_code, want_message = expected
    assert (status, code) == (want_status, want_code), response
    if want_message:
        assert response["message"].startswith(want_message), response
    return response


P256 = (CERTS / "leaf-p256.pem", CERTS / "leaf-p256.key", CERTS / "intermediate.pem")


def test_a_leaf_without_digital_signature_in_its_key_usage_is_untrusted(anchor, tmp_path):
    issuer_cert, issuer_key = pki_builder.load(CERTS / "intermediate.pem", CERTS / "intermediate.key")
    good, good_key, _, _ = pki_builder.issue(tmp_path / "signing", "signing", issuer_cert, issuer_key)
    bad, bad_key, _, _ = pki_builder.issue(tmp_path / "encipher-only", "encipher-only", issuer_cert, issuer_key,
                                           digital_signature=False)
    # The positive control: the same issuer, the same shape, digitalSignature set.
    _expect(anchor, good, good_key, CERTS / "intermediate.pem", expected=(201, None, None))
    _expect(anchor, bad, bad_key, CERTS / "intermediate.pem",
            expected=(403, "AccessDeniedException", "Untrusted certificate. Insufficient certificate"))


def test_tampered_signature(anchor):
    _expect(anchor, *P256, expected=(403, "AccessDeniedException", "Invalid signature"), tamper=ra_client.flip_signature)


def test_wrong_serial(anchor):
    _expect(anchor, *P256, expected=(403, "AccessDeniedException", "Invalid signature"), tamper=ra_client.change_serial)


def test_stale_date(anchor):
    ten_minutes_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=10)
    _expect(anchor, *P256, at=ten_minutes_ago, expected=(403, "AccessDeniedException", "Signature expired"))


def test_expired_leaf(anchor):
    _expect(anchor, CERTS / "leaf-expired.pem", CERTS / "leaf-expired.key", expected=(403, "AccessDeniedException", "Untrusted signing certificate"))


def test_expired_intermediate(anchor, tmp_path):
    root_cert, root_key = pki_builder.load(CERTS / "root.pem", CERTS / "root.key")
    now = datetime.datetime.now(datetime.timezone.utc)
    int_pem, _, int_cert, int_key = pki_builder.issue(tmp_path / "old-int", "expired intermediate", root_cert, root_key, ca=True,
                                                      not_before=now - datetime.timedelta(days=60), not_after=now - datetime.timedelta(days=1))
    leaf_pem, leaf_key, _, _ = pki_builder.issue(tmp_path / "leaf", "leaf-under-expired", int_cert, int_key)
    _expect(anchor, leaf_pem, leaf_key, int_pem, expected=(403, "AccessDeniedException", "Untrusted signing certificate"))


def test_untrusted_ca(anchor):
    _expect(anchor, anchor.ca / "good-leaf.pem", anchor.ca / "good-leaf.key", expected=(403, "AccessDeniedException", "Untrusted signing certificate"))


def test_trusted_leaf_of_the_other_anchor_is_accepted(anchor):
    _expect(anchor, anchor.ca / "good-leaf.pem", anchor.ca / "good-leaf.key", anchor_name="local", expected=(201, None, None))


def test_ca_certificate_used_as_leaf(anchor):
    _expect(anchor, CERTS / "intermediate.pem", CERTS / "intermediate.key", expected=(403, "AccessDeniedException", "Untrusted signing certificate"))


def test_revoked_leaf(anchor):
    _expect(anchor, anchor.ca / "revoked-leaf.pem", anchor.ca / "revoked-leaf.key", anchor_name="local", expected=(403, "AccessDeniedException", "Certificate revoked"))


def test_disabled_trust_anchor(anchor):
    _expect(anchor, *P256, anchor_name="disabled", expected=(403, "AccessDeniedException", "Trust anchor is disabled"))


def test_disabled_profile(anchor):
    _expect(anchor, *P256, prof="disabled", expected=(403, "AccessDeniedException", "Profile is disabled"))


def test_unknown_profile(anchor):
    _expect(anchor, *P256, prof="nope", expected=(404, "ResourceNotFoundException", "Profile"))


def test_role_not_in_profile(anchor):
    _expect(anchor, *P256, role="other", expected=(403, "AccessDeniedException", f"Unable to assume role for {ROLE}/other."))


def test_failing_role_condition(anchor):
    _expect(anchor, *P256, role="cond", expected=(403, "AccessDeniedException", f"Unable to assume role for {ROLE}/cond."))


def test_matching_role_conditions(anchor):
    _expect(anchor, *P256, role="cond-ok", expected=(201, None, None))


def test_role_session_name_not_accepted(anchor):
    _expect(anchor, *P256, prof="no-name", roleSessionName="mine", expected=(403, "AccessDeniedException", "Not authorized to set roleSessionName"))


@pytest.mark.parametrize("duration", [899, 43201])
def test_duration_out_of_range(anchor, duration):
    url = f"{anchor.url}/sessions"
    body = {"durationSeconds": duration, **_fields()}
    status, code, response = ra_client.send(url, *ra_client.sign(url, *P256, body), cafile=anchor.cafile)
    assert (status, code) == (400, "ValidationException"), response
    assert f"Value '{duration}' at 'durationSeconds' failed to satisfy constraint" in response["message"]


def test_duration_over_the_role_maximum(anchor):
    url = f"{anchor.url}/sessions"
    body = {"durationSeconds": 7200, **_fields(prof="long")}
    status, code, response = ra_client.send(url, *ra_client.sign(url, *P256, body), cafile=anchor.cafile)
    assert (status, code) == (403, "AccessDeniedException"), response
    assert "exceeds the MaxSessionDuration" in response["message"]


def test_tessera_reports_the_anchor_refusal(tessera_bin, anchor):
    out = run_tessera(tessera_bin, ["credential-process", *identity_args("leaf-p256.pem", "leaf-p256.key", "intermediate.pem"),
                                    "--trust-anchor-arn", ta("ta"), "--profile-arn", profile("p"), "--role-arn", f"{ROLE}/other",
                                    "--endpoint", anchor.url, "--ca-bundle", anchor.cafile])
    assert out.returncode == 1
    assert out.stderr.startswith(f"tessera: CreateSession failed: HTTP 403 AccessDeniedException: Unable to assume role for {ROLE}/other. (request id ")


def test_quickstart_once_on_a_fresh_directory(tessera_bin, tmp_path):
    result = subprocess.run([tessera_bin, "quickstart", "--once", "--listen", "127.0.0.1:0"], cwd=tmp_path,
                            capture_output=True, text=True, env=clean_env(), timeout=120)
    assert result.returncode == 0, result.stderr
    assert "proved them with STS GetCallerIdentity: arn:aws:sts::123456789012:assumed-role/local/" in result.stdout
    assert (tmp_path / "certs/local/demo.key").stat().st_mode & 0o777 == 0o600
    # A second run reuses the CA and the demo certificate.
    again = subprocess.run([tessera_bin, "quickstart", "--once", "--listen", "127.0.0.1:0"], cwd=tmp_path,
                           capture_output=True, text=True, env=clean_env(), timeout=120)
    assert again.returncode == 0 and "created a local CA" not in again.stderr


def test_sts_endpoint_mints_credentials_that_moto_accepts(tessera_bin, moto_server, tmp_path):
    key = moto_bootstrap(moto_server)
    moto_enforce_auth(moto_server)
    upstream = Anchor(tessera_bin, tmp_path, tls=False, extra_args=[
        "--sts-endpoint", moto_server, "--sts-access-key-id", key["AccessKeyId"], "--sts-secret-access-key", key["SecretAccessKey"]])
    try:
        identity = identity_args("leaf-p256.pem", "leaf-p256.key", "intermediate.pem")
        out = run_tessera(tessera_bin, ["credential-process", *identity, "--trust-anchor-arn", ta("ta"), "--profile-arn", profile("p"),
                                        "--role-arn", f"{ROLE}/app", "--endpoint", upstream.url])
        assert out.returncode == 0, out.stderr
        creds = json.loads(out.stdout)
        config = tmp_path / "config"
        config.write_text(
            f"[profile ra]\nregion = us-east-1\ncredential_process = {process_line(tessera_bin, upstream, identity)}\n\n"
            "[profile wrong-secret]\nregion = us-east-1\n"
            f"aws_access_key_id = {creds['AccessKeyId']}\naws_secret_access_key = {creds['SecretAccessKey'][:-2]}xx\naws_session_token = {creds['SessionToken']}\n"
        )
        aws_bin = Path(sys.executable).parent / "aws"
        env = clean_env(AWS_CONFIG_FILE=str(config), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))
        run = lambda profile_name, *a: subprocess.run([str(aws_bin), *a, "--profile", profile_name, "--endpoint-url", moto_server, "--output", "json"],
                                                      capture_output=True, text=True, env=env, timeout=120)
        result = run("ra", "sts", "get-caller-identity")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/app/0123456789abcdef01"
        result = run("ra", "s3api", "list-buckets")
        assert result.returncode == 0, result.stderr
        result = run("wrong-secret", "sts", "get-caller-identity")
        assert result.returncode != 0 and "SignatureDoesNotMatch" in result.stderr, result.stderr
    finally:
        upstream.stop()


# tessera doctor: each broken setup that can be seen without calling CreateSession.

def _doctor(tessera_bin, anchor, identity, *extra, ca=None, anchor_name="ta", prof="p", role="app"):
    args = ["doctor", *identity, "--trust-anchor-arn", ta(anchor_name), "--profile-arn", profile(prof), "--role-arn", f"{ROLE}/{role}",
            "--endpoint", anchor.url, "--ca-bundle", anchor.cafile, "--trust-anchor-ca", str(ca or CERTS / "root.pem"), *extra]
    return run_tessera(tessera_bin, args)


def _failing_lines(result):
    """(check name, problem) of each FAIL line."""
    return [(line[8:31].strip(), line[31:]) for line in result.stdout.splitlines() if line.startswith("  FAIL")]


def test_doctor_passes_a_good_setup_against_the_anchor(tessera_bin, anchor):
    result = _doctor(tessera_bin, anchor, identity_args("leaf-p256.pem", "leaf-p256.key", "intermediate.pem"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all checks passed" in result.stdout
    for name in ["certificate and key", "validity", "leaf requirements", "trust anchor CA", "chain to trust anchor", "reachability", "clock skew", "CreateSession"]:
        assert re.search(rf"^  ok    {name}", result.stdout, re.M), (name, result.stdout)


@pytest.mark.parametrize("case", ["expired leaf", "expired intermediate", "untrusted CA", "CA as leaf", "revoked leaf", "duration"])
def test_doctor_names_the_failing_check(tessera_bin, anchor, tmp_path, case):
    ca, extra = None, []
    if case == "expired leaf":
        identity, expected = identity_args("leaf-expired.pem", "leaf-expired.key"), ("validity", "expired on 2021-01-01T00:00:00Z")
    elif case == "expired intermediate":
        root_cert, root_key = pki_builder.load(CERTS / "root.pem", CERTS / "root.key")
        now = datetime.datetime.now(datetime.timezone.utc)
        int_pem, _, int_cert, int_key = pki_builder.issue(tmp_path / "int", "old intermediate", root_cert, root_key, ca=True,
                                                          not_before=now - datetime.timedelta(days=60), not_after=now - datetime.timedelta(days=1))
        leaf_pem, leaf_key, _, _ = pki_builder.issue(tmp_path / "leaf", "leaf", int_cert, int_key)
        identity = ["--certificate", str(leaf_pem), "--private-key", str(leaf_key), "--intermediates", str(int_pem)]
        expected = ("chain to trust anchor", "outside its validity period")
    elif case == "untrusted CA":
        identity, expected = ["--certificate", str(anchor.ca / "good-leaf.pem"), "--private-key", str(anchor.ca / "good-leaf.key")], ("chain to trust anchor", "no valid chain")
    elif case == "CA as leaf":
        identity, expected = identity_args("intermediate.pem", "intermediate.key"), ("leaf requirements", "it is a CA certificate")
    elif case == "revoked leaf":
        identity = ["--certificate", str(anchor.ca / "revoked-leaf.pem"), "--private-key", str(anchor.ca / "revoked-leaf.key")]
        ca, extra, expected = anchor.ca / "root.pem", ["--crl", str(anchor.ca / "crl.pem")], ("revocation", "revoked")
    else:
        identity = identity_args("leaf-p256.pem", "leaf-p256.key", "intermediate.pem")
        extra, expected = ["--session-duration", "50000"], ("ARNs", "--session-duration 50000 is outside")
    result = _doctor(tessera_bin, anchor, identity, *extra, ca=ca)
    assert result.returncode == 1, result.stdout
    failing = _failing_lines(result)
    name, problem = expected
    # The first failing line names the cause (a CA used as a leaf also has no valid path).
    assert failing and failing[0][0].startswith(name) and problem in failing[0][1], result.stdout
    assert "fix:" in result.stdout
    assert result.stderr.startswith(f"tessera: doctor found {len(failing)} problem(s)")


@pytest.mark.parametrize("case,arns,problem,fix", [
    ("disabled anchor", dict(anchor_name="disabled"), "Trust anchor is disabled", "enable the trust anchor"),
    ("disabled profile", dict(prof="disabled"), "Profile is disabled", "enable the trust anchor and the profile"),
    ("role not in profile", dict(role="other"), "Unable to assume role", "add the role to the profile's roleArns"),
    ("failing role condition", dict(role="cond"), "Unable to assume role", "with conditions this certificate meets"),
])
def test_doctor_reports_what_only_the_service_can_judge(tessera_bin, anchor, case, arns, problem, fix):
    result = _doctor(tessera_bin, anchor, identity_args("leaf-p256.pem", "leaf-p256.key", "intermediate.pem"), **arns)
    assert result.returncode == 1, result.stdout
    failing = _failing_lines(result)
    assert [name for name, _ in failing] == ["CreateSession"], result.stdout
    assert problem in failing[0][1] and fix in result.stdout, result.stdout


@pytest.mark.parametrize("offset", [600, -600])
def test_a_ten_minute_skew_at_the_anchor_is_answered_by_one_retry(tessera_bin, tmp_path, offset):
    skewed = Anchor(tessera_bin, tmp_path, tls=False, extra_args=["--clock-offset", str(offset)])
    try:
        identity = identity_args("leaf-p256.pem", "leaf-p256.key", "intermediate.pem")
        out = run_tessera(tessera_bin, ["credential-process", *identity, "--trust-anchor-arn", ta("ta"), "--profile-arn", profile("p"),
                                        "--role-arn", f"{ROLE}/app", "--endpoint", skewed.url])
        assert out.returncode == 0, out.stderr
        handed = json.loads(out.stdout)
        assert handed["AccessKeyId"].startswith("ASIA")
        # The anchor's one-hour session, moved to this machine's clock: the skew is not in it.
        left = datetime.datetime.fromisoformat(handed["Expiration"].replace("Z", "+00:00")) - datetime.datetime.now(datetime.timezone.utc)
        assert 3540 < left.total_seconds() <= 3610, (handed["Expiration"], offset)
        direction = "ahead of" if offset > 0 else "behind"
        assert re.search(rf"the clock of {re.escape(skewed.url)}/? is (599|600|601) s {direction} this machine's", out.stderr), out.stderr
        assert out.stderr.count("signing again with the endpoint's clock") == 1, out.stderr
        metrics = skewed.metrics()
        assert 'tessera_anchor_create_session_total{outcome="AccessDeniedException"} 1' in metrics, metrics
        assert 'tessera_anchor_create_session_total{outcome="success"} 1' in metrics, metrics
    finally:
        skewed.stop()
