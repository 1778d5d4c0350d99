"""tessera serve against real SDKs (botocore, the AWS CLI) through IMDS and the ECS endpoint,
backed by the local anchor; hardening of the IMDS endpoint; refresh, outage and rotation."""

import http.client
import json
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import CERTS, clean_env, free_port, promtool_check

ACCOUNT = "123456789012"
TA = f"arn:aws:rolesanywhere:us-east-1:{ACCOUNT}:trust-anchor/ta"
PROFILE = f"arn:aws:rolesanywhere:us-east-1:{ACCOUNT}:profile/p"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/app"


def anchor_config(tmp, duration):
    config = tmp / "anchor.toml"
    config.write_text(f"""
accountId = "{ACCOUNT}"
region = "us-east-1"
minDurationSeconds = 12
[[trustAnchors]]
arn = "{TA}"
certificates = ["{CERTS}/root.pem"]
[[profiles]]
arn = "{PROFILE}"
roleArns = ["{ROLE}"]
durationSeconds = {duration}
[[roles]]
arn = "{ROLE}"
""")
    return config


class Process:
    """A tessera process whose stdout's first lines announce its addresses."""

    def __init__(self, args, log, lines=1, env=None):
        self.log = log
        with open(log, "w") as err:
            self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, text=True, env=clean_env(**(env or {})))
        self.lines = [self.process.stdout.readline() for _ in range(lines)]
        assert self.lines[0], f"did not start: {log.read_text()}"

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


def start_anchor(tessera_bin, tmp, port, duration=3600, host="127.0.0.1", env=None, extra=()):
    proc = Process([tessera_bin, "anchor", "--config", str(anchor_config(tmp, duration)), "--ca-dir", str(tmp / "ca"),
                    "--listen", f"{host}:{port}", *extra], tmp / f"anchor-{time.monotonic_ns()}.log", env=env)
    return proc


def start_serve(tessera_bin, tmp, anchor_port, cert="leaf-p256.pem", key="leaf-p256.key", extra=(), imds=True, endpoint=None,
                env=None, prefix=()):
    """serve for the local anchor on `anchor_port` (or at `endpoint`), run under `prefix` with `env` added."""
    args = [*prefix, tessera_bin, "serve", "--certificate", str(cert if isinstance(cert, Path) else CERTS / cert),
            "--private-key", str(key if isinstance(key, Path) else CERTS / key), "--intermediates", str(CERTS / "intermediate.pem"),
            "--trust-anchor-arn", TA, "--profile-arn", PROFILE, "--role-arn", ROLE,
            "--endpoint", endpoint or f"http://127.0.0.1:{anchor_port}",
            "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--token-dir", str(tmp / "tokens"),
            *(["--imds"] if imds else []), *extra]
    proc = Process(args, tmp / "serve.log", lines=3, env=env)
    match = re.search(r"listening on http://(\S+) .*admin on http://(\S+)", proc.lines[0])
    proc.address, proc.admin = match.group(1), match.group(2)
    proc.token_file = re.search(r"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=(\S+)", proc.lines[2]).group(1)
    deadline = time.monotonic() + 20
    while not ready(proc):
        assert time.monotonic() < deadline, f"serve never became ready: {(tmp / 'serve.log').read_text()}"
        time.sleep(0.1)
    return proc


def ready(proc):
    try:
        with urllib.request.urlopen(f"http://{proc.admin}/readyz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture
def stack(tessera_bin, tmp_path):
    port = free_port()
    anchor = start_anchor(tessera_bin, tmp_path, port)
    serve = start_serve(tessera_bin, tmp_path, port)
    serve.anchor_url = f"http://127.0.0.1:{port}"
    yield serve
    serve.stop()
    anchor.stop()


def test_a_real_prometheus_scrapes_serve(stack, tmp_path):
    """Debian's Prometheus server scrapes serve's admin listener and reads the expiry back."""
    import json as json_module
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: tessera\n"
                      f"    static_configs:\n      - targets: ['{stack.admin}']\n")
    log = tmp_path / "prometheus.log"
    prometheus = subprocess.Popen(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                   f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=open(log, "w"))
    query = f"http://127.0.0.1:{port}/api/v1/query?query=tessera_credentials_seconds_to_expiry"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(query, timeout=2) as response:
                    result = json_module.load(response)["data"]["result"]
                if result:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        (series,) = result
        assert series["metric"]["profile"] == "default" and series["metric"]["job"] == "tessera"
        assert 0 < float(series["value"][1]) <= 3600
    finally:
        prometheus.terminate()
        prometheus.wait(timeout=10)


def sdk_caller_identity(env_extra, anchor_url):
    """A fresh Python process using botocore's default credential chain."""
    code = ("import boto3,json; s=boto3.Session(region_name='us-east-1'); "
            f"print(json.dumps(s.client('sts', endpoint_url='{anchor_url}').get_caller_identity()['Arn']))")
    env = clean_env(AWS_CONFIG_FILE="/nonexistent", AWS_SHARED_CREDENTIALS_FILE="/nonexistent", **env_extra)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)


def test_botocore_gets_credentials_through_imds(stack):
    result = sdk_caller_identity({"AWS_EC2_METADATA_SERVICE_ENDPOINT": f"http://{stack.address}"}, stack.anchor_url)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout).startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/app/")


def test_botocore_gets_credentials_through_the_ecs_endpoint(stack):
    result = sdk_caller_identity({
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"http://{stack.address}/v1/credentials/default",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": stack.token_file,
        "AWS_EC2_METADATA_DISABLED": "true",
    }, stack.anchor_url)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout).startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/app/")
    assert Path(stack.token_file).stat().st_mode & 0o777 == 0o600


def test_the_aws_cli_gets_credentials_through_imds(stack):
    aws = Path(sys.executable).parent / "aws"
    env = clean_env(AWS_CONFIG_FILE="/nonexistent", AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
                    AWS_EC2_METADATA_SERVICE_ENDPOINT=f"http://{stack.address}", AWS_DEFAULT_REGION="us-east-1")
    result = subprocess.run([str(aws), "sts", "get-caller-identity", "--endpoint-url", stack.anchor_url, "--output", "json"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["Arn"].startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/app/")


def request(stack, method, path, headers=None, host=None):
    host_port = stack.address
    connection = http.client.HTTPConnection(*host_port.rsplit(":", 1), timeout=5)
    connection.putrequest(method, path, skip_host=True)
    connection.putheader("Host", host or host_port)
    for name, value in (headers or {}).items():
        connection.putheader(name, value)
    connection.endheaders()
    response = connection.getresponse()
    body = response.read().decode()
    return response.status, dict(response.getheaders()), body


def token(stack, ttl="60"):
    status, headers, body = request(stack, "PUT", "/latest/api/token", {"x-aws-ec2-metadata-token-ttl-seconds": ttl})
    assert status == 200 and headers["x-aws-ec2-metadata-token-ttl-seconds"] == ttl
    return body


def test_imds_answers_like_ec2(stack):
    t = token(stack)
    status, _, role = request(stack, "GET", "/latest/meta-data/iam/security-credentials/", {"x-aws-ec2-metadata-token": t})
    assert (status, role) == (200, "app")
    status, _, body = request(stack, "GET", "/latest/meta-data/iam/security-credentials/app", {"x-aws-ec2-metadata-token": t})
    document = json.loads(body)
    assert status == 200 and document["Code"] == "Success" and document["Type"] == "AWS-HMAC"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", document["Expiration"])
    status, _, body = request(stack, "GET", "/latest/meta-data/iam/security-credentials-extended/app", {"x-aws-ec2-metadata-token": t})
    assert status == 200 and json.loads(body)["AccountId"] == ACCOUNT


@pytest.mark.parametrize("case,method,path,headers,host,expected", [
    ("X-Forwarded-For on the token PUT", "PUT", "/latest/api/token", {"x-aws-ec2-metadata-token-ttl-seconds": "60", "X-Forwarded-For": "10.0.0.1"}, None, 400),
    ("missing TTL", "PUT", "/latest/api/token", {}, None, 400),
    ("TTL too long", "PUT", "/latest/api/token", {"x-aws-ec2-metadata-token-ttl-seconds": "21601"}, None, 400),
    ("TTL zero", "PUT", "/latest/api/token", {"x-aws-ec2-metadata-token-ttl-seconds": "0"}, None, 400),
    ("IMDSv1 attempt (no token)", "GET", "/latest/meta-data/iam/security-credentials/app", {}, None, 401),
    ("unknown token", "GET", "/latest/meta-data/iam/security-credentials/app", {"x-aws-ec2-metadata-token": "made-up"}, None, 401),
    ("foreign Host header", "PUT", "/latest/api/token", {"x-aws-ec2-metadata-token-ttl-seconds": "60"}, "attacker.example", 403),
    ("ECS without the token", "GET", "/v1/credentials/default", {}, None, 401),
    ("ECS with a wrong token", "GET", "/v1/credentials/default", {"Authorization": "wrong"}, None, 401),
])
def test_hardening(stack, case, method, path, headers, host, expected):
    status, _, body = request(stack, method, path, headers, host)
    assert status == expected, (case, body)
    assert "SecretAccessKey" not in body


def test_an_expired_imds_token_is_refused(stack):
    t = token(stack, ttl="1")
    path = "/latest/meta-data/iam/security-credentials/app"
    # The positive control: the token works at first.
    status, _, _ = request(stack, "GET", path, {"x-aws-ec2-metadata-token": t})
    assert status == 200
    # Then it stops working once its one-second TTL is over (waited for, with a deadline).
    deadline = time.monotonic() + 10
    while request(stack, "GET", path, {"x-aws-ec2-metadata-token": t})[0] != 401:
        assert time.monotonic() < deadline, "the token still works 10 s after its 1 s TTL"
        time.sleep(0.1)


def test_imds_v1_answers_without_a_token_only_when_asked_for(tessera_bin, tmp_path, stack):
    path = "/latest/meta-data/iam/security-credentials/app"
    # Without --imds-v1 (the stack), a token-less request is refused.
    assert request(stack, "GET", path)[0] == 401
    port, own = free_port(), tmp_path / "v1"
    own.mkdir()
    anchor = start_anchor(tessera_bin, own, port)
    v1 = start_serve(tessera_bin, own, port, extra=["--imds-v1"])
    try:
        status, _, body = request(v1, "GET", path)
        assert status == 200 and json.loads(body)["Code"] == "Success", body
        # IMDSv2 still works beside it.
        token = request(v1, "PUT", "/latest/api/token", {"x-aws-ec2-metadata-token-ttl-seconds": "60"})[2]
        assert request(v1, "GET", path, {"x-aws-ec2-metadata-token": token})[0] == 200
    finally:
        v1.stop()
        anchor.stop()


def test_admin_endpoints(stack):
    with urllib.request.urlopen(f"http://{stack.admin}/healthz", timeout=5) as response:
        assert response.status == 200
    with urllib.request.urlopen(f"http://{stack.admin}/metrics", timeout=5) as response:
        metrics = promtool_check(response.read().decode())
    assert 'tessera_credentials_refreshes_total{profile="default",outcome="success"} 1' in metrics
    assert 'tessera_credentials_health{profile="default",state="fresh"} 1' in metrics
    assert re.search(r'tessera_certificate_not_after_seconds\{profile="default"\} \d{10}', metrics)
    assert re.search(r'tessera_credentials_seconds_to_expiry\{profile="default"\} \d+', metrics)


def ecs_get(stack):
    token_value = Path(stack.token_file).read_text()
    status, _, body = request(stack, "GET", "/v1/credentials/default", {"Authorization": token_value})
    return status, json.loads(body)


def test_short_sessions_refresh_ahead_survive_an_outage_and_recover(tessera_bin, tmp_path):
    port = free_port()
    anchor = start_anchor(tessera_bin, tmp_path, port, duration=12)
    serve = start_serve(tessera_bin, tmp_path, port)
    try:
        import datetime
        keys = set()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            status, document = ecs_get(serve)
            assert status == 200, document
            left = (datetime.datetime.strptime(document["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
                    - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
            assert left > 3, f"handed out credentials with {left} s left"
            keys.add(document["AccessKeyId"])
            time.sleep(0.5)
        assert len(keys) >= 2, "serve never refreshed"
        anchor.stop()
        saw_503 = False
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not saw_503:
            status, document = ecs_get(serve)
            if status == 503:
                saw_503 = True
                assert document["code"] == "CredentialsUnavailable" and "AccessKeyId" not in document
            time.sleep(0.5)
        assert saw_503, "expired credentials were served during the outage"
        anchor = start_anchor(tessera_bin, tmp_path, port, duration=12)
        deadline = time.monotonic() + 30
        while ecs_get(serve)[0] != 200:
            assert time.monotonic() < deadline, "serve did not recover after the anchor came back"
            time.sleep(0.5)
    finally:
        serve.stop()
        anchor.stop()


def test_rotated_certificate_is_picked_up_and_a_broken_one_rejected(tessera_bin, tmp_path):
    port = free_port()
    anchor = start_anchor(tessera_bin, tmp_path, port)
    cert, key = tmp_path / "leaf.pem", tmp_path / "leaf.key"
    shutil.copy(CERTS / "leaf-p256.pem", cert)
    shutil.copy(CERTS / "leaf-p256.key", key)
    serve = start_serve(tessera_bin, tmp_path, port, cert=cert, key=key)
    try:
        first = ecs_get(serve)[1]["AccessKeyId"]
        # A valid new pair (another leaf under the same intermediate) is swapped in.
        shutil.copy(CERTS / "leaf-rsa.pem", cert)
        shutil.copy(CERTS / "leaf-rsa.key", key)
        deadline = time.monotonic() + 15
        while ecs_get(serve)[1]["AccessKeyId"] == first:
            assert time.monotonic() < deadline, "the rotated certificate was not picked up"
            time.sleep(0.3)
        assert "loaded a rotated certificate and key" in (tmp_path / "serve.log").read_text()
        # A broken key is rejected and the previous identity keeps working.
        key.write_text("garbage")
        deadline = time.monotonic() + 15
        while "rejected the new certificate/key" not in (tmp_path / "serve.log").read_text():
            assert time.monotonic() < deadline, "the broken key was not noticed"
            time.sleep(0.3)
        status, document = ecs_get(serve)
        assert status == 200 and document["AccessKeyId"].startswith("ASIA")
    finally:
        serve.stop()
        anchor.stop()


# update and exec

def _request_flags(anchor_port):
    return ["--certificate", str(CERTS / "leaf-p256.pem"), "--private-key", str(CERTS / "leaf-p256.key"),
            "--intermediates", str(CERTS / "intermediate.pem"), "--trust-anchor-arn", TA, "--profile-arn", PROFILE,
            "--role-arn", ROLE, "--endpoint", f"http://127.0.0.1:{anchor_port}"]


CREDENTIALS_FILE = "".join(
    ["# managed by hand, keep this comment\r\n", "[default]\r\naws_access_key_id = AKIADEFAULT\r\naws_secret_access_key = keep\r\n\r\n"]
    + [f"[other{i}]\r\n; profile {i}\r\naws_access_key_id = AKIAOTHER{i}\r\naws_secret_access_key = s{i}\r\nregion = eu-west-{i % 3 + 1}\r\n\r\n" for i in range(5)]
    + ["[ra]\r\naws_access_key_id = OLD\r\n# inside the target\r\naws_secret_access_key = OLD\r\naws_session_token = OLD\r\nregion = us-east-1\r\n\r\n"]
    + [f"[more{i}]\r\naws_access_key_id = AKIAMORE{i}\r\n\r\n" for i in range(5)]
)


def test_update_changes_only_the_target_profiles_three_keys(tessera_bin, tmp_path):
    port = free_port()
    anchor = start_anchor(tessera_bin, tmp_path, port)
    try:
        path = tmp_path / "credentials"
        path.write_bytes(CREDENTIALS_FILE.encode())
        result = subprocess.run([tessera_bin, "update", "--once", "--aws-profile", "ra", "--credentials-file", str(path), *_request_flags(port)],
                                capture_output=True, text=True, env=clean_env(), timeout=60)
        assert result.returncode == 0, result.stderr
        before = CREDENTIALS_FILE.split("\r\n")
        after = path.read_bytes().decode().split("\r\n")
        assert len(before) == len(after), "no line was added or removed"
        changed = [(b, a) for b, a in zip(before, after) if b != a]
        assert [b for b, _ in changed] == ["aws_access_key_id = OLD", "aws_secret_access_key = OLD", "aws_session_token = OLD"]
        assert changed[0][1].startswith("aws_access_key_id = ASIA")
        assert path.stat().st_mode & 0o777 == 0o600
        # The AWS CLI reads the written profile.
        aws = Path(sys.executable).parent / "aws"
        cli = subprocess.run([str(aws), "sts", "get-caller-identity", "--profile", "ra", "--endpoint-url", f"http://127.0.0.1:{port}", "--output", "json"],
                             capture_output=True, text=True, timeout=60,
                             env=clean_env(AWS_SHARED_CREDENTIALS_FILE=str(path), AWS_CONFIG_FILE="/nonexistent"))
        assert cli.returncode == 0, cli.stderr
    finally:
        anchor.stop()


def test_update_keeps_the_file_fresh_until_stopped(tessera_bin, tmp_path):
    port = free_port()
    anchor = start_anchor(tessera_bin, tmp_path, port, duration=12)
    path = tmp_path / "credentials"
    updater = subprocess.Popen([tessera_bin, "update", "--aws-profile", "ra", "--credentials-file", str(path), *_request_flags(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=clean_env())
    try:
        keys = set()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(keys) < 2:
            if path.exists():
                keys.update(line for line in path.read_text().splitlines() if line.startswith("aws_access_key_id"))
            time.sleep(0.3)
        assert len(keys) >= 2, "the credentials file was not refreshed"
    finally:
        updater.terminate()
        updater.wait(timeout=10)
        anchor.stop()


@pytest.mark.parametrize("mode", ["env", "ecs"])
def test_exec_runs_a_command_with_the_credentials(tessera_bin, tmp_path, mode):
    port = free_port()
    anchor = start_anchor(tessera_bin, tmp_path, port)
    try:
        code = ("import boto3,json,sys; s=boto3.Session(); "
                f"print(s.client('sts', endpoint_url='http://127.0.0.1:{port}').get_caller_identity()['Arn']); sys.exit(7)")
        args = [tessera_bin, "exec", *_request_flags(port), *(["--ecs"] if mode == "ecs" else []), "--", sys.executable, "-c", code]
        env = clean_env(AWS_CONFIG_FILE="/nonexistent", AWS_SHARED_CREDENTIALS_FILE="/nonexistent", AWS_EC2_METADATA_DISABLED="true")
        result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
        assert result.returncode == 7, result.stderr
        assert result.stdout.strip().startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/app/")
    finally:
        anchor.stop()


@pytest.mark.parametrize("mode", ["env", "ecs"])
def test_exec_signs_what_the_independent_verifier_accepts(tessera_bin, stub_factory, mode):
    # The stub judges with ra_verifier.py, not tessera's verify: a canonicalization bug shared by
    # tessera's signer and its anchor cannot pass here.
    stub = stub_factory()
    code = "import os; print(os.environ.get('AWS_ACCESS_KEY_ID') or os.environ['AWS_CONTAINER_CREDENTIALS_FULL_URI'])"
    flags = [*_request_flags(stub.port)[:-1], stub.url]
    args = [tessera_bin, "exec", *flags, *(["--ecs"] if mode == "ecs" else []), "--", sys.executable, "-c", code]
    result = subprocess.run(args, capture_output=True, text=True, env=clean_env(), timeout=60)
    assert result.returncode == 0, result.stderr
    expected = "/v1/credentials/exec" if mode == "ecs" else "ASIASTUBEXAMPLE00001"
    assert expected in result.stdout, result.stdout
    stub.assert_all_verified()


# The AWS SDK for JavaScript v3 through all three ways.

JS = Path(__file__).parent / "js"


def js_caller_identity(provider, anchor_url, env_extra, profile=None):
    node = shutil.which("node")
    assert node, "node is required for the JavaScript SDK interop tests (tests/run installs it)"
    assert (JS / "node_modules/@aws-sdk/credential-providers").exists(), "run tests/run to install the JavaScript SDK"
    env = clean_env(**{"AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", **env_extra})
    args = [node, str(JS / "caller_identity.mjs"), provider, anchor_url, *([profile] if profile else [])]
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=60, cwd=JS)


@pytest.mark.parametrize("provider", ["imds", "container", "http"])
def test_the_javascript_sdk_gets_credentials_from_serve(stack, provider):
    if provider == "imds":
        env = {"AWS_EC2_METADATA_SERVICE_ENDPOINT": f"http://{stack.address}"}
    elif provider == "container":
        # fromContainerMetadata reads the token from the environment only.
        env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": f"http://{stack.address}/v1/credentials/default",
               "AWS_CONTAINER_AUTHORIZATION_TOKEN": Path(stack.token_file).read_text()}
    else:
        env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": f"http://{stack.address}/v1/credentials/default",
               "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": stack.token_file}
    result = js_caller_identity(provider, stack.anchor_url, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/app/")


def test_the_javascript_sdk_gets_credentials_from_credential_process(stack, tessera_bin, tmp_path):
    port = stack.anchor_url.rsplit(":", 1)[1]
    line = " ".join(f'"{a}"' for a in [tessera_bin, "credential-process", *_request_flags(port)])
    config = tmp_path / "config"
    config.write_text(f"[profile ra]\nregion = us-east-1\ncredential_process = {line}\n")
    result = js_caller_identity("process", stack.anchor_url, {"AWS_CONFIG_FILE": str(config)}, profile="ra")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/app/")


def test_32_concurrent_cold_credential_process_runs_make_one_create_session_at_the_anchor(tessera_bin, tmp_path):
    port = free_port()
    anchor = start_anchor(tessera_bin, tmp_path, port)
    try:
        def successes():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                text = response.read().decode()
            match = re.search(r'tessera_anchor_create_session_total\{outcome="success"\} (\d+)', text)
            return int(match.group(1)) if match else 0
        env = clean_env(TESSERA_CACHE="file", TESSERA_CACHE_DIR=str(tmp_path / "cache"))
        args = [tessera_bin, "credential-process", *_request_flags(port)]
        runs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env, text=True)
                for _ in range(32)]
        outputs = [run.communicate(timeout=120) for run in runs]
        assert all(run.returncode == 0 for run in runs), [err for _, err in outputs]
        assert successes() == 1
        warm = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
        assert warm.returncode == 0 and successes() == 1, "a warm run made a CreateSession"
    finally:
        anchor.stop()


def profile_toml(name, anchor_port, region="us-east-1", endpoint=None, extra=""):
    """A config-file profile served by the local anchor on `anchor_port` (or by `endpoint`), with its
    ARNs in `region` and the `extra` lines."""
    return f"""
[profiles.{name}]
certificate = "{CERTS}/leaf-p256.pem"
private-key = "{CERTS}/leaf-p256.key"
intermediates = "{CERTS}/intermediate.pem"
trust-anchor-arn = "{TA}"
profile-arn = "{PROFILE}"
role-arn = "{ROLE}"
endpoint = "{endpoint or f'http://127.0.0.1:{anchor_port}'}"
region = "{region}"
{extra}""".replace("rolesanywhere:us-east-1:", f"rolesanywhere:{region}:")


def test_sighup_reloads_the_profiles_and_refuses_a_broken_config(tessera_bin, tmp_path):
    import signal
    port = free_port()
    anchor = start_anchor(tessera_bin, tmp_path, port)
    profile = lambda name: profile_toml(name, port)
    config = tmp_path / "config.toml"
    config.write_text(profile("a"))
    args = [tessera_bin, "serve", "--config", str(config), "--all-profiles", "--listen", "127.0.0.1:0",
            "--admin-listen", "127.0.0.1:0", "--token-dir", str(tmp_path / "tokens")]
    serve = Process(args, tmp_path / "serve.log", lines=3)
    serve.address = re.search(r"listening on http://(\S+) ", serve.lines[0]).group(1)
    try:
        def get(name):
            token_file = tmp_path / "tokens" / f"{name}.token"
            if not token_file.exists():
                return 404
            return request(serve, "GET", f"/v1/credentials/{name}", {"Authorization": token_file.read_text()})[0]

        deadline = time.monotonic() + 20
        while get("a") != 200:
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        token_a = (tmp_path / "tokens" / "a.token").read_text()
        config.write_text(profile("a") + profile("b"))
        serve.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while get("b") != 200:
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        assert (tmp_path / "tokens" / "a.token").read_text() == token_a and get("a") == 200
        config.write_text("[profiles.a]\nnot-a-key = 1\n")
        serve.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "configuration reload failed" not in (tmp_path / "serve.log").read_text():
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert get("a") == 200 and get("b") == 200
    finally:
        serve.stop()
        anchor.stop()


def test_imds_reports_the_imds_profiles_region_and_a_reload_updates_it(tessera_bin, tmp_path):
    """Regression (issue 15, bug 2): placement/region was the last profile's region, and a reload
    did not change it."""
    import signal
    port = free_port()
    anchor = start_anchor(tessera_bin, tmp_path, port)
    profile = lambda name, region: profile_toml(name, port, region)
    config = tmp_path / "config.toml"
    config.write_text('imds = "a"\n' + profile("a", "eu-west-1") + profile("z", "ap-south-1"))
    args = [tessera_bin, "serve", "--config", str(config), "--all-profiles", "--listen", "127.0.0.1:0",
            "--admin-listen", "127.0.0.1:0", "--token-dir", str(tmp_path / "tokens")]
    serve = Process(args, tmp_path / "serve.log", lines=2)
    serve.address = re.search(r"listening on http://(\S+) ", serve.lines[0]).group(1)
    try:
        assert "(profile a;" in serve.lines[1], serve.lines

        def region():
            status, _, token = request(serve, "PUT", "/latest/api/token", {"x-aws-ec2-metadata-token-ttl-seconds": "60"})
            assert status == 200
            status, _, body = request(serve, "GET", "/latest/meta-data/placement/region", {"x-aws-ec2-metadata-token": token})
            assert status == 200
            return body

        assert region() == "eu-west-1"
        config.write_text('imds = "a"\n' + profile("a", "us-west-2") + profile("z", "ap-south-1"))
        serve.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while region() != "us-west-2":
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
    finally:
        serve.stop()
        anchor.stop()


def test_serve_reads_its_config_file_once_per_start_and_per_reload(tessera_bin, tmp_path):
    """Regression (issue 15, bug 5): serve read its config file N+3 times per start or reload, so
    one run could see two versions of it. The config is a FIFO that is written exactly once per
    read serve may make: a second read would block, and serve would never start. The SIGHUP goes
    out as soon as serve announces itself, which used to kill it (the handler came later)."""
    import os
    import select
    import signal
    import threading
    port = free_port()
    anchor = start_anchor(tessera_bin, tmp_path, port)
    text = profile_toml("a", port) + profile_toml("b", port) + """
[[proxies]]
listen = "127.0.0.1:0"
profile = "a"
"""
    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)

    def write_once():
        with open(fifo, "w") as f:
            f.write(text)

    writer = threading.Thread(target=write_once, daemon=True)
    writer.start()
    log = tmp_path / "serve.log"
    args = [tessera_bin, "serve", "--config", str(fifo), "--all-profiles", "--imds=a", "--listen", "127.0.0.1:0",
            "--admin-listen", "127.0.0.1:0", "--token-dir", str(tmp_path / "tokens")]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=open(log, "w"), text=True, env=clean_env(TESSERA_LOG="info"))
    try:
        ready, _, _ = select.select([process.stdout], [], [], 15)
        assert ready, f"serve did not start (a second read of the config blocks): {log.read_text()}"
        assert "listening on" in process.stdout.readline()
        writer.join(timeout=5)
        writer = threading.Thread(target=write_once, daemon=True)
        writer.start()
        process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 15
        while "configuration reloaded" not in log.read_text():
            assert time.monotonic() < deadline, f"the reload did not finish: {log.read_text()}"
            time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(timeout=10)
        anchor.stop()
        if writer.is_alive():
            with open(fifo, "r") as f:  # unblock the writer
                f.read()
