"""Regression tests for the red-team findings (issue 14), each as the attack was made: another
local user (a second uid through setpriv), a hostile endpoint (the stub), a hostile proxy client
with a capture server standing in for the attacker's host, and a packet capture for the hop
limit. Every test fails on the release that had the hole."""

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conftest import CERTS, NOBODY, arn_args, clean_env, free_port, identity_args, run_tessera
from test_serve import start_anchor, start_serve

IDENTITY = identity_args("leaf-p256.pem", "leaf-p256.key", "intermediate.pem")

# What another user runs against a credentials listener: every IMDS route with a freshly
# obtained token, and the ECS route without a token and with a guessed one.
PROBE = r"""
import http.client, json, sys
host, port = sys.argv[1].rsplit(":", 1)
def call(method, path, headers={}):
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    connection.request(method, path, headers=headers)
    response = connection.getresponse()
    return response.status, response.read().decode(errors="replace")
seen = {}
status, token = call("PUT", "/latest/api/token", {"x-aws-ec2-metadata-token-ttl-seconds": "60"})
seen["PUT /latest/api/token"] = status
with_token = {"x-aws-ec2-metadata-token": token} if status == 200 else {}
for path in ["/latest/meta-data/iam/security-credentials/", "/latest/meta-data/iam/security-credentials/app",
             "/latest/meta-data/iam/security-credentials-extended/app", "/latest/meta-data/placement/region"]:
    seen["GET " + path] = call("GET", path, with_token)[0]
for profile in sys.argv[2:]:
    seen["GET /v1/credentials/" + profile] = call("GET", "/v1/credentials/" + profile)[0]
    seen["GET /v1/credentials/" + profile + " (guessed token)"] = call("GET", "/v1/credentials/" + profile, {"Authorization": "guess"})[0]
print(json.dumps(seen))
"""


def probe(as_other_user, address, *profiles):
    result = as_other_user("/usr/bin/python3", "-c", PROBE, address, *profiles)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# --- 1. IMDS is opt-in; exec --ecs answers nothing without its token -------------------------------

@contextlib.contextmanager
def anchor_and_serve(tessera_bin, tmp_path, imds):
    port = free_port()
    anchor = start_anchor(tessera_bin, tmp_path, port)
    serve = start_serve(tessera_bin, tmp_path, port, imds=imds)
    try:
        yield serve
    finally:
        serve.stop()
        anchor.stop()


def test_another_user_gets_nothing_from_default_serve(tessera_bin, tmp_path, as_other_user):
    with anchor_and_serve(tessera_bin, tmp_path, imds=False) as serve:
        assert "IMDS: off" in serve.lines[1]
        seen = probe(as_other_user, serve.address, "default", "nosuch")
        assert all(status in (401, 404) for status in seen.values()), seen
        assert seen["PUT /latest/api/token"] == 404
        # An unknown profile is not told apart from a wrong token.
        assert seen["GET /v1/credentials/nosuch"] == 401


def test_imds_when_asked_for_serves_every_local_user(tessera_bin, tmp_path, as_other_user):
    """The control: the same probe does reach credentials once IMDS is on, as documented."""
    with anchor_and_serve(tessera_bin, tmp_path, imds=True) as serve:
        assert "every local process" in serve.lines[1]
        seen = probe(as_other_user, serve.address, "default")
        assert seen["GET /latest/meta-data/iam/security-credentials/app"] == 200
        assert seen["GET /v1/credentials/default"] == 401


SECRET_ENV = {
    "TESSERA_KEY_PASSPHRASE": "passphrase-not-for-the-child",
    "TESSERA_PKCS11_PIN": "pin-not-for-the-child",
    "TESSERA_PROXY_TOKEN": "proxy-token-not-for-the-child",
    "TESSERA_ANCHOR_STS_SECRET_ACCESS_KEY": "sts-secret-not-for-the-child",
}


def test_another_user_gets_nothing_from_exec_ecs_and_the_child_gets_no_tessera_secrets(tessera_bin, stub_factory, tmp_path, as_other_user):
    stub = stub_factory()
    script = f'printf %s "$AWS_CONTAINER_CREDENTIALS_FULL_URI" > {tmp_path}/uri.tmp && mv {tmp_path}/uri.tmp {tmp_path}/uri; env > {tmp_path}/env; sleep 30'
    args = [tessera_bin, "exec", "--ecs", *IDENTITY, *arn_args(), "--endpoint", f"http://127.0.0.1:{stub.port}", "--", "sh", "-c", script]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
                               env=clean_env(**SECRET_ENV))
    try:
        deadline = time.monotonic() + 20
        while not (tmp_path / "uri").exists():
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline, "the child never started"
            time.sleep(0.1)
        uri = (tmp_path / "uri").read_text()
        match = re.fullmatch(r"http://(127\.0\.0\.1:\d+)/v1/credentials/exec", uri)
        assert match, uri
        seen = probe(as_other_user, match.group(1), "exec")
        assert all(status in (401, 404) for status in seen.values()), seen
        assert seen["PUT /latest/api/token"] == 404
        child_env = (tmp_path / "env").read_text()
        assert "AWS_CONTAINER_AUTHORIZATION_TOKEN=" in child_env
        for name, value in SECRET_ENV.items():
            assert name not in child_env and value not in child_env, name
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


def test_allow_remote_refuses_imds_and_says_why(tessera_bin):
    out = run_tessera(tessera_bin, ["serve", *IDENTITY, *arn_args(), "--listen", "0.0.0.0:0", "--admin-listen", "127.0.0.1:0",
                                    "--allow-remote", "--imds"])
    assert out.returncode == 1
    assert "IMDS cannot authenticate its clients" in out.stderr.splitlines()[0], out.stderr


# --- 2. A hostile endpoint cannot write into ~/.aws/credentials ---------------------------------------

INJECTION = "tok\n\n[prod]\ncredential_process = sh -c 'touch /tmp/tessera-injected'\n"


@pytest.mark.parametrize("field", ["sessionToken", "accessKeyId", "secretAccessKey"])
def test_an_injected_credentials_value_leaves_the_credentials_file_byte_identical(tessera_bin, stub_factory, tmp_path, field):
    creds = {"accessKeyId": "ASIASTUBEXAMPLE00001", "secretAccessKey": "stub/secret", "sessionToken": "stub-token",
             "expiration": "2099-01-01T00:00:00Z"}
    creds[field] = INJECTION if field != "accessKeyId" else "ASIAX\n[prod]\ncredential_process = sh -c id"
    (tmp_path / "creds.json").write_text(json.dumps(creds))
    stub = stub_factory("--credentials", str(tmp_path / "creds.json"))
    credentials = tmp_path / "credentials"
    credentials.write_text("[keep]\naws_access_key_id = AKIAKEEPKEEPKEEP\naws_secret_access_key = keep\n")
    before = credentials.read_bytes()
    out = run_tessera(tessera_bin, ["update", "--once", "--credentials-file", str(credentials), *IDENTITY, *arn_args(),
                                    "--endpoint", f"http://127.0.0.1:{stub.port}"])
    assert out.returncode == 1
    errors = [line for line in out.stderr.splitlines() if line.startswith("tessera:")]
    assert len(errors) == 1 and "unusable body: the" in errors[0], out.stderr
    assert "prod" not in out.stderr and "credential_process" not in out.stderr
    assert credentials.read_bytes() == before
    assert len(stub.requests()) == 1


# --- 3. The warm cache answers only for the inputs it checked ----------------------------------------

PASSPHRASE = "test-passphrase"


def cached_run(tessera_bin, stub, cache, cache_dir, *identity, env=None):
    return run_tessera(tessera_bin, ["credential-process", *identity, *arn_args(), "--endpoint", f"http://127.0.0.1:{stub.port}"],
                       TESSERA_CACHE=cache, TESSERA_CACHE_DIR=str(cache_dir), **(env or {}))


@pytest.mark.parametrize("cache", ["file", "keyring"])
def test_a_mismatched_key_is_refused_even_with_a_warm_cache(tessera_bin, stub_factory, tmp_path, cache):
    stub = stub_factory()
    good = identity_args("leaf-rsa.pem", "leaf-rsa.key")
    assert cached_run(tessera_bin, stub, cache, tmp_path / "c", *good).returncode == 0
    assert cached_run(tessera_bin, stub, cache, tmp_path / "c", *good).returncode == 0
    assert len(stub.requests()) == 1, "the warm run made a CreateSession"
    wrong = cached_run(tessera_bin, stub, cache, tmp_path / "c", *identity_args("leaf-rsa.pem", "leaf-p256.key"))
    assert wrong.returncode == 1 and wrong.stdout == "", wrong.stdout
    assert "does not match" in wrong.stderr.splitlines()[0], wrong.stderr
    assert len(stub.requests()) == 1


@pytest.mark.parametrize("cache", ["file", "keyring"])
def test_a_wrong_passphrase_is_refused_even_with_a_warm_cache(tessera_bin, stub_factory, tmp_path, cache):
    stub = stub_factory()
    identity = identity_args("leaf-rsa.pem", "leaf-rsa.aes256.key")
    right = cached_run(tessera_bin, stub, cache, tmp_path / "c", *identity, "--pkcs8-password", PASSPHRASE)
    assert right.returncode == 0, right.stderr
    wrong = cached_run(tessera_bin, stub, cache, tmp_path / "c", *identity, "--pkcs8-password", "not-the-passphrase")
    assert wrong.returncode == 1 and wrong.stdout == ""
    assert "passphrase" in wrong.stderr.splitlines()[0], wrong.stderr
    again = cached_run(tessera_bin, stub, cache, tmp_path / "c", *identity, env={"TESSERA_KEY_PASSPHRASE": PASSPHRASE})
    assert again.returncode == 0 and json.loads(again.stdout) == json.loads(right.stdout), again.stderr
    assert len(stub.requests()) == 1


@pytest.mark.parametrize("cache", ["file", "keyring"])
def test_a_password_protected_pkcs12_works_with_the_default_cache(tessera_bin, stub_factory, tmp_path, cache):
    stub = stub_factory()
    runs = [cached_run(tessera_bin, stub, cache, tmp_path / "c", "--certificate", str(CERTS / "leaf-rsa.p12"),
                       env={"TESSERA_KEY_PASSPHRASE": PASSPHRASE}) for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    assert len(stub.requests()) == 1
    wrong = cached_run(tessera_bin, stub, cache, tmp_path / "c", "--certificate", str(CERTS / "leaf-rsa.p12"),
                       env={"TESSERA_KEY_PASSPHRASE": "wrong"})
    assert wrong.returncode == 1 and wrong.stdout == "", wrong.stderr


# --- 4. Cache directories and entries of another user are not trusted -------------------------------

PLANTED = {"Version": 1, "AccessKeyId": "ASIAPLANTEDPLANTED01", "SecretAccessKey": "planted", "SessionToken": "planted",
           "Expiration": "2099-01-01T00:00:00Z"}


def plant(as_other_user, path):
    """The other user writes a planted credentials entry at `path`."""
    code = f"open({str(path)!r}, 'w').write({json.dumps(json.dumps(PLANTED))})"
    result = as_other_user("/usr/bin/python3", "-c", code)
    assert result.returncode == 0, result.stderr


@pytest.fixture
def reachable_dir():
    """A directory the other user can reach (pytest's own are private to root), as /tmp is."""
    path = Path(tempfile.mkdtemp(prefix="tessera-shared-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_a_world_writable_cache_directory_is_not_used(tessera_bin, stub_factory, reachable_dir, as_other_user):
    stub = stub_factory()
    cache = reachable_dir / "shared-cache"
    first = cached_run(tessera_bin, stub, "file", cache, *IDENTITY)
    assert first.returncode == 0, first.stderr
    cache.chmod(0o777)
    [entry] = cache.glob("*.json")
    entry.unlink()
    plant(as_other_user, entry)
    out = cached_run(tessera_bin, stub, "file", cache, *IDENTITY)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["AccessKeyId"] == "ASIASTUBEXAMPLE00001"
    assert "not using the cache" in out.stderr and "open to other users" in out.stderr, out.stderr
    assert len(stub.requests()) == 2


def test_an_entry_owned_by_another_user_is_not_served(tessera_bin, stub_factory, reachable_dir, as_other_user):
    stub = stub_factory()
    cache = reachable_dir / "cache"
    assert cached_run(tessera_bin, stub, "file", cache, *IDENTITY).returncode == 0
    [entry] = cache.glob("*.json")
    entry.unlink()
    cache.chmod(0o777)  # only so that the other user can plant; then private again
    plant(as_other_user, entry)
    cache.chmod(0o700)
    out = cached_run(tessera_bin, stub, "file", cache, *IDENTITY)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["AccessKeyId"] == "ASIASTUBEXAMPLE00001"
    assert f"is owned by uid {NOBODY}" in out.stderr, out.stderr
    assert len(stub.requests()) == 2
    assert entry.stat().st_uid == os.geteuid(), "the planted entry was not replaced"


def test_a_symlinked_lock_or_entry_is_not_followed(tessera_bin, stub_factory, tmp_path):
    stub = stub_factory()
    cache = tmp_path / "cache"
    assert cached_run(tessera_bin, stub, "file", cache, *IDENTITY).returncode == 0
    [entry] = cache.glob("*.json")
    lock = entry.with_suffix(".lock")
    victim = tmp_path / "victim"
    entry.unlink()
    lock.unlink()
    lock.symlink_to(victim)
    entry.symlink_to(tmp_path / "planted.json")
    (tmp_path / "planted.json").write_text(json.dumps(PLANTED))
    out = cached_run(tessera_bin, stub, "file", cache, *IDENTITY)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["AccessKeyId"] == "ASIASTUBEXAMPLE00001"
    assert not victim.exists(), "the lock symlink was followed"
    assert json.loads((tmp_path / "planted.json").read_text()) == PLANTED, "the entry symlink was followed"


# --- 5. The signing proxy sends nothing to a host that is not AWS -----------------------------------

class CaptureServer:
    """The attacker's host: accepts connections on loopback and records each one."""

    def __init__(self):
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.connections = 0
        self.socket.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while self.running:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                continue
            self.connections += 1
            connection.close()

    def stop(self):
        self.running = False
        self.thread.join(timeout=5)
        self.socket.close()


def start_proxy(tessera_bin, tmp, *extra):
    env = clean_env(AWS_ACCESS_KEY_ID="AKIAPROXYPROXYPROXY1", AWS_SECRET_ACCESS_KEY="secret", AWS_SESSION_TOKEN="session-token")
    args = [tessera_bin, "proxy", "--credentials", "env", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", *extra]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=open(tmp / "proxy.log", "w"), text=True, env=env)
    match = re.search(r"listening on http://(\S+), admin on http://(\S+)", process.stdout.readline())
    assert match, (tmp / "proxy.log").read_text()
    process.address, process.admin = match.groups()
    return process


def raw_request(address, method, target, host):
    """A request with exactly this Host (http.client would not send some of these)."""
    host_part, port = address.rsplit(":", 1)
    with socket.create_connection((host_part, int(port)), timeout=10) as connection:
        connection.sendall(f"{method} {target} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
        response = b""
        while chunk := connection.recv(65536):
            response += chunk
    status = int(response.split(b" ", 2)[1])
    return status, response.decode(errors="replace")


@pytest.fixture
def capture():
    server = CaptureServer()
    yield server
    server.stop()


@pytest.mark.parametrize("extra", [[], ["--service", "s3", "--signing-region", "us-east-1"]], ids=["derived", "overrides"])
def test_the_proxy_never_sends_a_signed_request_to_a_host_that_is_not_aws(tessera_bin, tmp_path, capture, extra):
    proxy = start_proxy(tessera_bin, tmp_path, *extra)
    try:
        hosts = [f"127.0.0.1:{capture.port}{tail}.s3.amazonaws.com" for tail in ("/", "?", "#")]
        hosts += [f"127.0.0.1:{capture.port}", f"[::1]x.s3.amazonaws.com", f"localhost:{capture.port}"]
        for host in hosts:
            status, body = raw_request(proxy.address, "GET", "/bucket/key", host)
            assert status == 400, (host, body)
        assert capture.connections == 0, "the proxy connected to the attacker's host"
        status, body = raw_request(proxy.address, "CONNECT", f"127.0.0.1:{capture.port}", f"127.0.0.1:{capture.port}")
        assert status == 405, body
        assert capture.connections == 0
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)
    # The positive control: a proxy told to send there (--upstream) does reach the capture server,
    # so the zero counts above mean something.
    allowed = start_proxy(tessera_bin, tmp_path, "--upstream", f"http://127.0.0.1:{capture.port}", "--service", "s3",
                          "--signing-region", "us-east-1")
    try:
        raw_request(allowed.address, "GET", "/bucket/key", "127.0.0.1")
        deadline = time.monotonic() + 10
        while capture.connections == 0:
            assert time.monotonic() < deadline, "the capture server saw no connection even when allowed"
            time.sleep(0.05)
    finally:
        allowed.terminate()
        allowed.wait(timeout=10)


# --- 7. Answers never leave the host: hop limit 1 in both families -----------------------------------

ETH_P_ALL = 0x0003


def hop_limits_of_replies(port, connect):
    """Captures loopback traffic while `connect()` runs; returns the TTL / hop limit of every
    TCP segment sent from `port`, and of those sent to it (the client's, as a control)."""
    sniffer = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sniffer.bind(("lo", 0))
    sniffer.settimeout(0.2)
    connect()
    replies, requests = [], []
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            frame = sniffer.recv(65535)
        except socket.timeout:
            continue
        ethertype = struct.unpack("!H", frame[12:14])[0]
        packet = frame[14:]
        if ethertype == 0x0800 and packet[9] == 6:
            hops, tcp = packet[8], packet[(packet[0] & 0x0F) * 4:]
        elif ethertype == 0x86DD and packet[6] == 6:
            hops, tcp = packet[7], packet[40:]
        else:
            continue
        source, destination = struct.unpack("!HH", tcp[:4])
        if source == port:
            replies.append(hops)
        elif destination == port:
            requests.append(hops)
    sniffer.close()
    return replies, requests


def require_root():
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("capturing packets needs root")
        pytest.skip("capturing packets needs root")


@pytest.mark.parametrize("family", ["127.0.0.1", "[::1]"])
@pytest.mark.parametrize("command", ["serve", "proxy"])
def test_every_reply_leaves_with_hop_limit_1(tessera_bin, stub_factory, tmp_path, family, command):
    require_root()
    listen = f"{family}:0"
    if command == "serve":
        stub = stub_factory()
        args = ["serve", *IDENTITY, *arn_args(), "--endpoint", f"http://127.0.0.1:{stub.port}", "--listen", listen,
                "--admin-listen", listen, "--token-dir", str(tmp_path / "tokens")]
        pattern = r"listening on http://(\S+) "
    else:
        args = ["proxy", "--credentials", "env", "--listen", listen, "--admin-listen", listen]
        pattern = r"listening on http://(\S+),"
    env = clean_env(AWS_ACCESS_KEY_ID="AKIAPROXYPROXYPROXY1", AWS_SECRET_ACCESS_KEY="secret")
    process = subprocess.Popen([tessera_bin, *args], stdout=subprocess.PIPE, stderr=open(tmp_path / "log", "w"), text=True, env=env)
    try:
        address = re.search(pattern, process.stdout.readline()).group(1)
        host, port = address.rsplit(":", 1)

        def connect():
            with socket.create_connection((host.strip("[]"), int(port)), timeout=5) as connection:
                connection.sendall(f"GET /nothing HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n".encode())
                while connection.recv(65536):
                    pass

        replies, requests = hop_limits_of_replies(int(port), connect)
        assert replies and requests, "nothing captured"
        assert set(replies) == {1}, f"replies left with hop limits {sorted(set(replies))}"
        assert set(requests) == {64}, "the capture does not read the hop limit (the client's packets are not 64)"
    finally:
        process.terminate()
        process.wait(timeout=10)


# --- 9. Admin listeners and the anchor answer only a loopback Host ----------------------------------

def test_admin_endpoints_and_the_anchor_refuse_a_rebinding_host(tessera_bin, stub_factory, tmp_path):
    port = free_port()
    anchor = start_anchor(tessera_bin, tmp_path, port)
    serve = start_serve(tessera_bin, tmp_path, port, imds=False)
    proxy = start_proxy(tessera_bin, tmp_path)
    try:
        for address in (serve.admin, proxy.admin, f"127.0.0.1:{port}"):
            assert raw_request(address, "GET", "/metrics", "evil.example:80")[0] == 403, address
            assert raw_request(address, "GET", "/metrics", address)[0] == 200, address
        assert raw_request(serve.admin, "GET", "/readyz", "evil.example")[0] == 403
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)
        serve.stop()
        anchor.stop()


# --- 11. Secrets on the command line earn a warning; their -file twins do not ------------------------

def test_a_passphrase_on_the_command_line_is_warned_about_and_a_file_is_not(tessera_bin, stub_factory, tmp_path):
    stub = stub_factory()
    identity = identity_args("leaf-rsa.pem", "leaf-rsa.aes256.key")
    base = ["credential-process", *identity, *arn_args(), "--endpoint", f"http://127.0.0.1:{stub.port}"]
    argv = run_tessera(tessera_bin, [*base, "--pkcs8-password", PASSPHRASE])
    assert argv.returncode == 0, argv.stderr
    assert "--pkcs8-password on the command line can be read by every local user" in argv.stderr
    secret_file = tmp_path / "passphrase"
    secret_file.write_text(PASSPHRASE + "\n")
    secret_file.chmod(0o600)
    from_file = run_tessera(tessera_bin, [*base, "--pkcs8-password-file", str(secret_file)])
    assert from_file.returncode == 0, from_file.stderr
    assert "command line" not in from_file.stderr
    from_env = run_tessera(tessera_bin, base, TESSERA_KEY_PASSPHRASE=PASSPHRASE)
    assert from_env.returncode == 0 and "command line" not in from_env.stderr, from_env.stderr


# --- 13. Smaller items -------------------------------------------------------------------------------

def test_ca_init_under_umask_000_creates_no_world_writable_directory(tessera_bin, tmp_path):
    target = tmp_path / "a" / "b" / "ca"
    out = subprocess.run(["sh", "-c", f'umask 000 && exec "$0" ca --dir {target} init', tessera_bin],
                         capture_output=True, text=True, env=clean_env(), timeout=60)
    assert out.returncode == 0, out.stderr
    for directory in (tmp_path / "a", tmp_path / "a" / "b", target):
        assert directory.stat().st_mode & 0o022 == 0, f"{directory} is {oct(directory.stat().st_mode & 0o777)}"
    key = next(target.glob("*.key"))
    assert key.stat().st_mode & 0o077 == 0


def test_update_creates_a_missing_aws_directory(tessera_bin, stub_factory, tmp_path):
    stub = stub_factory()
    out = run_tessera(tessera_bin, ["update", "--once", *IDENTITY, *arn_args(), "--endpoint", f"http://127.0.0.1:{stub.port}"],
                      HOME=str(tmp_path))
    assert out.returncode == 0, out.stderr
    written = tmp_path / ".aws" / "credentials"
    assert "aws_session_token = stub-session-token" in written.read_text()
    assert written.stat().st_mode & 0o777 == 0o600
