"""Fixtures for the interop tests: the tessera binary, the stub endpoint, moto server."""

import errno
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CERTS = HERE.parent.parent / "certs" / "test"
ANCHOR = "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/ta"
PROFILE = "arn:aws:rolesanywhere:us-east-1:123456789012:profile/p"
ROLE = "arn:aws:iam::123456789012:role/app"


@pytest.fixture(scope="session")
def tessera_bin():
    path = os.environ.get("TESSERA_BIN")
    assert path and Path(path).exists(), "TESSERA_BIN must name the built tessera binary (tests/run sets it)"
    return path


def identity_args(cert, key=None, chain=None):
    args = ["--certificate", str(CERTS / cert)]
    if key:
        args += ["--private-key", str(CERTS / key)]
    if chain:
        args += ["--intermediates", str(CERTS / chain)]
    return args


def arn_args():
    return ["--trust-anchor-arn", ANCHOR, "--profile-arn", PROFILE, "--role-arn", ROLE]


def clean_env(**extra):
    """The environment without TESSERA_/AWS_ settings; the credential cache is off unless a
    test turns it on (TESSERA_CACHE=file with its own TESSERA_CACHE_DIR)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TESSERA_", "AWS_"))}
    env["TESSERA_CACHE"] = "none"
    env.update(extra)
    return env


def run_tessera(binary, args, **env):
    return subprocess.run(
        [binary, *args], capture_output=True, text=True, stdin=subprocess.DEVNULL,
        env=clean_env(**env), timeout=60,
    )


class Stub:
    """A running stub_server.py."""

    def __init__(self, tmp_path, *args):
        self.record = tmp_path / f"requests-{time.monotonic_ns()}.jsonl"
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "stub_server.py"), "--record", str(self.record), *args],
            stdout=subprocess.PIPE, text=True,
        )
        self.port = int(self.process.stdout.readline())

    def requests(self):
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines()]

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def assert_all_verified(self, at_least=1):
        """Every request reached the stub signed so that the independent verifier accepts it."""
        requests = self.requests()
        assert len(requests) >= at_least, f"{len(requests)} request(s) reached the stub"
        refused = [r.get("reason") for r in requests if not r["verified"]]
        assert not refused, f"the independent verifier refused: {refused}"


@pytest.fixture
def stub_factory(tmp_path):
    stubs = []

    def start(*args):
        stub = Stub(tmp_path, *args)
        stubs.append(stub)
        return stub

    yield start
    for stub in stubs:
        stub.stop()


def wait_until_answers(url, describe, timeout=20):
    """Polls `url` until it answers 2xx; `describe()` explains a timeout (e.g. the log)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            assert time.monotonic() < deadline, f"{url} never answered: {describe()}"
            time.sleep(0.1)


# Ports handed out by free_port(): below the kernel's ephemeral range (32768 and up), where no
# listener bound to port 0 lands, and a separate slice per pytest-xdist worker (tests/run's four
# use 20000-29999), so two workers never pick the same port between one test freeing it and
# another binding it.
_PORTS_PER_WORKER = 2500
_next_port = None


def free_port():
    """A loopback port that is free now and that no other test of this run will be given (a run
    beside this one, like the soak, sets its own TESSERA_TEST_PORT_BASE)."""
    global _next_port
    if _next_port is None:
        worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
        _next_port = int(os.environ.get("TESSERA_TEST_PORT_BASE", "20000")) + worker * _PORTS_PER_WORKER
    while True:
        port, _next_port = _next_port, _next_port + 1
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


@pytest.fixture
def moto_server():
    port = free_port()
    moto = Path(sys.executable).parent / "moto_server"
    process = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
            break
        except OSError:
            assert time.monotonic() < deadline, "moto_server did not start"
            time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(timeout=10)


def promtool_check(text):
    """`promtool check metrics` (Debian's prometheus package) must accept a /metrics page."""
    result = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr + text
    return text


def moto_bootstrap(moto_url):
    """With moto's auth still off: an IAM user with an access key, and a role `app` it may assume.
    Returns the user's access key (AccessKeyId, SecretAccessKey)."""
    import boto3

    common = dict(endpoint_url=moto_url, region_name="us-east-1")
    iam = boto3.client("iam", aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="x", **common)
    iam.create_user(UserName="bootstrap")
    key = iam.create_access_key(UserName="bootstrap")["AccessKey"]
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:user/bootstrap"}, "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName="app", AssumeRolePolicyDocument=json.dumps(trust))
    allow = lambda action: json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]})
    iam.put_user_policy(UserName="bootstrap", PolicyName="assume", PolicyDocument=allow("sts:AssumeRole"))
    iam.put_role_policy(RoleName="app", PolicyName="all", PolicyDocument=allow("*"))
    return key


def moto_enforce_auth(moto_url):
    """From now on moto checks every signature."""
    request = urllib.request.Request(f"{moto_url}/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"})
    urllib.request.urlopen(request, timeout=5)


@pytest.fixture
def full_filesystem(tmp_path):
    """A directory on its own 64 KiB tmpfs that a filler file has filled up: every write that
    needs a new block fails with ENOSPC. Mounting needs root (CI runs as root); elsewhere the
    tests using it are skipped, and in CI that is a failure."""
    mount_point = tmp_path / "full"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        message = f"cannot mount a small tmpfs to fill up: {mounted.stderr.strip()}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield _FullFilesystem(mount_point)
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


class _FullFilesystem:
    def __init__(self, path):
        self.path = path

    def fill(self):
        """Fills every free block; call after placing the files a test needs."""
        with open(self.path / ".filler", "ab", buffering=0) as filler:
            try:
                while True:
                    filler.write(b"\0" * 4096)
            except OSError as error:
                assert error.errno == errno.ENOSPC, error


NOBODY = 65534


@pytest.fixture
def as_other_user():
    """Runs a command as another local user (uid/gid 65534, no groups) through util-linux's
    setpriv, the way an attacker on the same host would. Switching users needs root (CI runs as
    root); elsewhere the tests using it are skipped, and in CI that is a failure."""
    if os.geteuid() != 0:
        message = "switching to another uid needs root"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)

    def run(*args, timeout=30):
        command = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *args]
        return subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout,
                              env={"PATH": "/usr/bin:/bin"}, cwd="/")
    return run
