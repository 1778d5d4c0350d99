"""tessera proxy against moto with signature checking enforced: unsigned curl requests through
the proxy create a bucket, PUT and GET a large object, list it and call STS; the same requests
sent directly are rejected. Credentials come from the local anchor minting through moto's STS."""

import hashlib
import http.server
import os
import re
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from conftest import CERTS, clean_env, moto_bootstrap, moto_enforce_auth, promtool_check, wait_until_answers
from test_anchor import ROLE, Anchor, profile, ta

SIZE_MIB = 200


def start_proxy(tessera_bin, tmp, anchor, service, upstream, extra=()):
    args = [tessera_bin, "proxy", "--certificate", str(CERTS / "leaf-p256.pem"), "--private-key", str(CERTS / "leaf-p256.key"),
            "--intermediates", str(CERTS / "intermediate.pem"), "--trust-anchor-arn", ta("ta"), "--profile-arn", profile("p"),
            "--role-arn", f"{ROLE}/app", "--endpoint", anchor.url, "--upstream", upstream, "--service", service,
            "--signing-region", "us-east-1", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", *extra]
    log = open(tmp / f"proxy-{service}.log", "w")
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True, env=clean_env())
    line = process.stdout.readline()
    match = re.search(r"listening on http://(\S+), admin on http://(\S+)", line)
    assert match, (tmp / f"proxy-{service}.log").read_text()
    process.address, process.admin = match.group(1), match.group(2)
    # Wait until the first credentials are in.
    wait_until_answers(f"http://{process.admin}/readyz", (tmp / f"proxy-{service}.log").read_text)
    return process


def curl(*args):
    return subprocess.run(["curl", "-sS", "-o", "/dev/stdout", "-w", "\n%{http_code}", *args], capture_output=True, timeout=600)


def status(result):
    return int(result.stdout.rsplit(b"\n", 1)[1])


@pytest.fixture
def proxied(tessera_bin, moto_server, tmp_path):
    key = moto_bootstrap(moto_server)
    moto_enforce_auth(moto_server)
    anchor = Anchor(tessera_bin, tmp_path, tls=False, extra_args=[
        "--sts-endpoint", moto_server, "--sts-access-key-id", key["AccessKeyId"], "--sts-secret-access-key", key["SecretAccessKey"]])
    s3 = start_proxy(tessera_bin, tmp_path, anchor, "s3", moto_server)
    sts = start_proxy(tessera_bin, tmp_path, anchor, "sts", moto_server)
    yield s3, sts, moto_server
    for process in (s3, sts):
        process.terminate()
        process.wait(timeout=10)
    anchor.stop()


def test_s3_and_sts_through_the_proxy_and_not_without_it(proxied, tmp_path):
    s3, sts, moto = proxied
    s3_url, sts_url = f"http://{s3.address}", f"http://{sts.address}"

    assert status(curl("-X", "PUT", f"{s3_url}/tessera-bucket")) == 200
    blob = tmp_path / "blob"
    with open(blob, "wb") as out:
        for _ in range(SIZE_MIB):
            out.write(os.urandom(1024 * 1024))
    digest = hashlib.sha256(blob.read_bytes()).hexdigest()
    put = curl("-X", "PUT", "--data-binary", f"@{blob}", "-H", "Content-Type: application/octet-stream", f"{s3_url}/tessera-bucket/big.bin")
    assert status(put) == 200, put.stdout[-500:]
    got = tmp_path / "got"
    get = subprocess.run(["curl", "-sS", "-o", str(got), "-w", "%{http_code}", f"{s3_url}/tessera-bucket/big.bin"], capture_output=True, timeout=600)
    assert get.stdout == b"200"
    assert hashlib.sha256(got.read_bytes()).hexdigest() == digest
    listing = curl(f"{s3_url}/tessera-bucket?list-type=2")
    assert status(listing) == 200 and b"<Key>big.bin</Key>" in listing.stdout
    identity = curl("-X", "POST", "-H", "Content-Type: application/x-www-form-urlencoded",
                    "--data", "Action=GetCallerIdentity&Version=2011-06-15", f"{sts_url}/")
    assert status(identity) == 200 and b":assumed-role/app/" in identity.stdout

    # The same requests straight to moto, unsigned, are refused (moto 5.2.5 answers an unsigned
    # S3 request with 500, STS with 403): the proxy's signatures did it.
    for direct in [curl(f"{moto}/tessera-bucket?list-type=2"), curl(f"{moto}/tessera-bucket/big.bin"),
                   curl("-X", "POST", "--data", "Action=GetCallerIdentity&Version=2011-06-15", f"{moto}/")]:
        assert status(direct) >= 400 and b"big.bin" not in direct.stdout and b"assumed-role" not in direct.stdout

    with urllib.request.urlopen(f"http://{s3.admin}/metrics", timeout=5) as response:
        metrics = promtool_check(response.read().decode())
    assert re.search(r'tessera_proxy_upstream_latency_seconds_bucket\{listener="[^"]+",le="\+Inf"\} [1-9]', metrics)
    assert re.search(r'tessera_proxy_requests_total\{listener="[^"]+",service="s3",status="200"\}', metrics)
    assert re.search(rf'tessera_proxy_request_bytes_total\{{listener="[^"]+"\}} {SIZE_MIB * 1024 * 1024}\n', metrics)
    out = int(re.search(r'tessera_proxy_response_bytes_total\{listener="[^"]+"\} (\d+)', metrics).group(1))
    assert out >= SIZE_MIB * 1024 * 1024


def test_a_body_over_the_buffer_limit_gets_413(tessera_bin, moto_server, tmp_path):
    key = moto_bootstrap(moto_server)
    anchor = Anchor(tessera_bin, tmp_path, tls=False, extra_args=[
        "--sts-endpoint", moto_server, "--sts-access-key-id", key["AccessKeyId"], "--sts-secret-access-key", key["SecretAccessKey"]])
    sts = start_proxy(tessera_bin, tmp_path, anchor, "sts", moto_server, extra=["--max-buffered-body", "1024"])
    try:
        result = curl("-X", "POST", "--data", "Action=GetCallerIdentity&Version=2011-06-15&Pad=" + "x" * 2048, f"http://{sts.address}/")
        assert status(result) == 413
        assert b"max-buffered-body" in result.stdout
    finally:
        sts.terminate()
        sts.wait(timeout=10)
        anchor.stop()


# s3s-fs: an independent Rust SigV4 verifier with one fixed key pair.

S3S_KEY, S3S_SECRET = "AKIATESSERAS3SFS0001", "s3s-fs-test-secret-key-0123456789abcdef"


def s3s_fs_binary():
    from pathlib import Path
    path = Path(__file__).resolve().parents[2] / ".tools/bin/s3s-fs"
    assert path.exists(), "s3s-fs is missing: tests/run installs it (cargo install s3s-fs --features binary)"
    return path


@pytest.fixture
def s3s_fs(tmp_path):
    import time
    from conftest import free_port
    port = free_port()
    root = tmp_path / "s3s-root"
    root.mkdir()
    process = subprocess.Popen([str(s3s_fs_binary()), "--host", "127.0.0.1", "--port", str(port), "--access-key", S3S_KEY,
                                "--secret-key", S3S_SECRET, str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(url, timeout=1)
            break
        except urllib.error.HTTPError:
            break
        except OSError:
            assert time.monotonic() < deadline, "s3s-fs did not start"
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(timeout=10)


def start_env_proxy(tessera_bin, tmp, upstream, secret, extra=()):
    env = clean_env(AWS_ACCESS_KEY_ID=S3S_KEY, AWS_SECRET_ACCESS_KEY=secret)
    args = [tessera_bin, "proxy", "--credentials", "env", "--upstream", upstream, "--service", "s3", "--signing-region", "us-east-1",
            "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", *extra]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=open(tmp / "proxy-env.log", "w"), text=True, env=env)
    match = re.search(r"listening on http://(\S+), admin", process.stdout.readline())
    assert match, (tmp / "proxy-env.log").read_text()
    process.address = match.group(1)
    return process


@pytest.mark.parametrize("mode", ["unsigned-payload", "aws-chunked"])
def test_s3s_fs_accepts_the_proxys_signatures_and_rejects_a_wrong_secret(tessera_bin, s3s_fs, tmp_path, mode):
    extra = ["--s3-streaming-signature"] if mode == "aws-chunked" else []
    good = start_env_proxy(tessera_bin, tmp_path, s3s_fs, S3S_SECRET, extra)
    bad = start_env_proxy(tessera_bin, tmp_path, s3s_fs, S3S_SECRET[:-4] + "XXXX", extra)
    try:
        url = f"http://{good.address}"
        assert status(curl("-X", "PUT", f"{url}/bucket")) == 200
        blob = tmp_path / "blob"
        blob.write_bytes(os.urandom(8 * 1024 * 1024 + 12345))
        assert status(curl("-X", "PUT", "--data-binary", f"@{blob}", f"{url}/bucket/object")) == 200
        got = tmp_path / "got"
        get = subprocess.run(["curl", "-sS", "-o", str(got), "-w", "%{http_code}", f"{url}/bucket/object"], capture_output=True, timeout=120)
        assert get.stdout == b"200" and got.read_bytes() == blob.read_bytes()
        wrong = curl(f"http://{bad.address}/bucket/object")
        assert status(wrong) == 403 and b"SignatureDoesNotMatch" in wrong.stdout
        # A small body: a large one refused before it is fully sent races the upstream's close.
        wrong_put = curl("-X", "PUT", "--data-binary", "small", f"http://{bad.address}/bucket/other")
        assert status(wrong_put) == 403, wrong_put.stdout[-300:]
        assert status(curl(f"{s3s_fs}/bucket/object")) == 403, "s3s-fs must refuse unsigned requests"
    finally:
        for process in (good, bad):
            process.terminate()
            process.wait(timeout=10)


def test_serve_runs_the_config_files_proxies_on_one_refresh_loop(tessera_bin, moto_server, tmp_path):
    key = moto_bootstrap(moto_server)
    moto_enforce_auth(moto_server)
    anchor = Anchor(tessera_bin, tmp_path, tls=False, extra_args=[
        "--sts-endpoint", moto_server, "--sts-access-key-id", key["AccessKeyId"], "--sts-secret-access-key", key["SecretAccessKey"]])
    config = tmp_path / "config.toml"
    config.write_text(f"""
[profiles.dev]
certificate = "{CERTS}/leaf-p256.pem"
private-key = "{CERTS}/leaf-p256.key"
intermediates = "{CERTS}/intermediate.pem"
trust-anchor-arn = "{ta('ta')}"
profile-arn = "{profile('p')}"
role-arn = "{ROLE}/app"
endpoint = "{anchor.url}"

[[proxies]]
listen = "127.0.0.1:0"
profile = "dev"
upstream = "{moto_server}"
service = "sts"
signing-region = "us-east-1"

[[proxies]]
listen = "127.0.0.1:0"
upstream = "{moto_server}"
service = "s3"
signing-region = "us-east-1"
""")
    args = [tessera_bin, "serve", "--config", str(config), "--all-profiles", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
            "--token-dir", str(tmp_path / "tokens")]
    serve = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=open(tmp_path / "serve.log", "w"), text=True, env=clean_env())
    try:
        lines = [serve.stdout.readline() for _ in range(5)]
        admin = re.search(r"admin on http://(\S+)", lines[0]).group(1)
        proxies = [re.search(r"proxy listening on http://(\S+) \(profile dev\)", line).group(1) for line in lines[3:5]]
        wait_until_answers(f"http://{admin}/readyz", (tmp_path / "serve.log").read_text)
        identity = curl("-X", "POST", "--data", "Action=GetCallerIdentity&Version=2011-06-15", f"http://{proxies[0]}/")
        assert status(identity) == 200 and b":assumed-role/app/" in identity.stdout
        assert status(curl("-X", "PUT", f"http://{proxies[1]}/served-bucket")) == 200
        with urllib.request.urlopen(f"http://{admin}/metrics", timeout=5) as response:
            metrics = promtool_check(response.read().decode())
        assert 'tessera_credentials_refreshes_total{profile="dev",outcome="success"} 1' in metrics
        assert f'tessera_proxy_requests_total{{listener="{proxies[0]}",service="sts",status="200"}} 1' in metrics
    finally:
        serve.terminate()
        serve.wait(timeout=10)
        anchor.stop()


def test_a_non_loopback_listener_needs_allow_remote_and_a_token(tessera_bin):
    from conftest import run_tessera
    result = run_tessera(tessera_bin, ["proxy", "--credentials", "env", "--listen", "0.0.0.0:0", "--upstream", "http://127.0.0.1:9"],
                         AWS_ACCESS_KEY_ID="AKIAX", AWS_SECRET_ACCESS_KEY="x")
    assert result.returncode == 1
    assert "needs --allow-remote and --require-token" in result.stderr.splitlines()[0]


def test_the_token_is_required_and_never_forwarded(tessera_bin, s3s_fs, tmp_path):
    good = start_env_proxy(tessera_bin, tmp_path, s3s_fs, S3S_SECRET, ["--require-token", "sekrit-token"])
    try:
        url = f"http://{good.address}"
        assert status(curl("-X", "PUT", f"{url}/bucket")) == 401
        assert status(curl("-X", "PUT", "-H", "Authorization: Bearer wrong", f"{url}/bucket")) == 401
        # s3s-fs verifies the proxy's signature: the client's Authorization did not reach it.
        assert status(curl("-X", "PUT", "-H", "Authorization: Bearer sekrit-token", f"{url}/bucket")) == 200
    finally:
        good.terminate()
        good.wait(timeout=10)


def test_a_tls_upstream_is_reached_over_http2(tessera_bin, tmp_path):
    """The anchor's STS over TLS (ALPN offers h2): the proxy negotiates HTTP/2 and its
    signature (with credentials the same anchor minted) passes the anchor's SigV4 check."""
    anchor = Anchor(tessera_bin, tmp_path, tls=True)
    env = clean_env(AWS_CA_BUNDLE=anchor.cafile, TESSERA_LOG="tessera=debug")
    args = [tessera_bin, "proxy", "--certificate", str(CERTS / "leaf-p256.pem"), "--private-key", str(CERTS / "leaf-p256.key"),
            "--intermediates", str(CERTS / "intermediate.pem"), "--trust-anchor-arn", ta("ta"), "--profile-arn", profile("p"),
            "--role-arn", f"{ROLE}/app", "--endpoint", anchor.url, "--upstream", anchor.url, "--service", "sts",
            "--signing-region", "us-east-1", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"]
    log = tmp_path / "proxy-h2.log"
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=open(log, "w"), text=True, env=env)
    try:
        match = re.search(r"listening on http://(\S+), admin on http://(\S+)", process.stdout.readline())
        assert match, log.read_text()
        wait_until_answers(f"http://{match.group(2)}/readyz", log.read_text)
        identity = curl("-X", "POST", "--data", "Action=GetCallerIdentity&Version=2011-06-15", f"http://{match.group(1)}/")
        assert status(identity) == 200 and b":assumed-role/app/" in identity.stdout, identity.stdout
        assert "version=HTTP/2.0" in log.read_text()
    finally:
        process.terminate()
        process.wait(timeout=10)
        anchor.stop()


def test_a_missing_signing_region_names_the_flag_to_pass(tessera_bin, tmp_path):
    """Regression (issue 15, bug 1): the 400 said "pass --service and --region", and --region is
    not the proxy's signing region."""
    env = clean_env(AWS_ACCESS_KEY_ID="AKIAPROXYPROXYPROXY1", AWS_SECRET_ACCESS_KEY="secret")
    args = [tessera_bin, "proxy", "--credentials", "env", "--upstream", "http://127.0.0.1:9", "--service", "s3",
            "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=open(tmp_path / "proxy.log", "w"), text=True, env=env)
    try:
        address = re.search(r"listening on http://(\S+),", process.stdout.readline()).group(1)
        result = curl(f"http://{address}/bucket/key")
        assert status(result) == 400 and b"pass --service and --signing-region" in result.stdout, result.stdout
    finally:
        process.terminate()
        process.wait(timeout=10)


class RecordingUpstream:
    """An upstream that answers 200 and records each request's headers."""

    def __init__(self):
        recorded = self.requests = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                recorded.append({k.lower(): v for k, v in self.headers.items()})
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class SilentUpstream:
    """An upstream that accepts connections and never answers."""

    def __init__(self):
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.held = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                self.held.append(self.socket.accept()[0])
            except OSError:
                return

    def close(self):
        self.socket.close()
        for connection in self.held:
            connection.close()


def test_strip_header_and_add_header_change_what_is_signed_and_sent(tessera_bin, tmp_path):
    upstream = RecordingUpstream()
    proxy = start_env_proxy(tessera_bin, tmp_path, upstream.url, "secret",
                            ["--strip-header", "X-Drop-Me", "--add-header", "x-amz-meta-added: yes"])
    try:
        result = curl("-H", "X-Drop-Me: 1", "-H", "X-Kept: 1", f"http://{proxy.address}/bucket/key")
        assert status(result) == 200, result.stdout
        (sent,) = upstream.requests
        signed = re.search(r"SignedHeaders=([^,]+)", sent["authorization"]).group(1).split(";")
        # The positive control: an ordinary header is forwarded and signed.
        assert sent["x-kept"] == "1" and "x-kept" in signed
        assert "x-drop-me" not in sent and "x-drop-me" not in signed
        assert sent["x-amz-meta-added"] == "yes" and "x-amz-meta-added" in signed
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)
        upstream.close()


def test_an_upstream_that_never_answers_gets_504_after_the_upstream_timeout(tessera_bin, tmp_path):
    answering, silent = RecordingUpstream(), SilentUpstream()
    fast = start_env_proxy(tessera_bin, tmp_path, answering.url, "secret", ["--upstream-timeout", "1"])
    slow = start_env_proxy(tessera_bin, tmp_path, silent.url, "secret", ["--upstream-timeout", "1"])
    try:
        # The positive control: the same settings with an upstream that answers.
        assert status(curl(f"http://{fast.address}/bucket/key")) == 200
        started = time.monotonic()
        result = curl(f"http://{slow.address}/bucket/key")
        assert status(result) == 504, result.stdout
        assert b"sent no response within 1 s" in result.stdout, result.stdout
        assert time.monotonic() - started < 30, "the upstream timeout did not bound the request"
    finally:
        for proxy in (fast, slow):
            proxy.terminate()
            proxy.wait(timeout=10)
        answering.close()
        silent.close()
