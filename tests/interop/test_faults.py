"""Fault injection: the stub Roles Anywhere endpoint misbehaves in each documented way, and
credential-process, update and serve each show the documented outcome: one clear line and exit 1
(nothing written), retries only where a retry can help, and serve recovering by itself with a
backoff that does not hammer the endpoint. Requests are counted at the stub."""

import datetime
import http.client
import os
import re
import socket
import subprocess
import threading
import time

import pytest

import pki_builder
from conftest import CERTS, arn_args, clean_env, free_port, identity_args, run_tessera

IDENTITY = identity_args("leaf-p256.pem", "leaf-p256.key")

# mode, first stderr line fragment, CreateSession requests one run makes
FAULTS = [
    ("status-500", "HTTP 500 InternalServerException: internal failure", 3),
    ("status-503", "HTTP 503 ServiceUnavailableException: Service unavailable", 3),
    ("throttle", "HTTP 429 ThrottlingException: Rate exceeded", 3),
    ("truncated", "reading the response failed", 3),
    ("non-json", "unusable body: not CreateSession JSON", 1),
    ("empty-set", "unusable body: credentialSet is empty", 1),
    ("expired", "the credentials already expired at", 1),
    ("no-expiration", "unusable body: the credentials have no expiration", 1),
    ("access-denied", "HTTP 403 AccessDeniedException: Untrusted signing certificate", 1),
    # Refused for the signature's time: signed again once with the endpoint's Date, then given up.
    ("clock-skew", "HTTP 403 AccessDeniedException: Signature expired", 2),
    ("slow", "did not complete within 2 s (--timeout)", 1),
    ("hang", "did not complete within 2 s (--timeout)", 1),
    # The endpoint's strings reach a terminal: control characters are replaced, never printed.
    ("escapes", "HTTP 403 AccessDeniedException\ufffd[2J: \ufffd]0;owned\ufffd\ufffd[31mred  second line\ufffd", 1),
    # Not a transport fault: said as it is, and not retried.
    ("huge", "unusable body: the response is larger than 1 MiB", 1),
]


def endpoint_args(port):
    return ["--endpoint", f"http://127.0.0.1:{port}", "--timeout", "2"]


@pytest.mark.parametrize("mode,fragment,requests", FAULTS, ids=[f[0] for f in FAULTS])
def test_credential_process_fails_cleanly_and_retries_only_what_can_recover(tessera_bin, stub_factory, mode, fragment, requests):
    stub = stub_factory("--mode", mode)
    out = run_tessera(tessera_bin, ["credential-process", *IDENTITY, *arn_args(), *endpoint_args(stub.port)])
    assert out.returncode == 1 and out.stdout == ""
    assert fragment in out.stderr.splitlines()[0], out.stderr
    assert "panicked" not in out.stderr
    assert not any(c in out.stderr for c in "\x1b\x07\x9b"), "a control character from the endpoint was printed"
    assert len(stub.requests()) == requests
    # Every attempt, retries included, is signed afresh and passes the independent verifier.
    stub.assert_all_verified(at_least=requests)


@pytest.mark.parametrize("mode,fragment,requests", FAULTS, ids=[f[0] for f in FAULTS])
def test_update_writes_nothing_on_a_fault(tessera_bin, stub_factory, tmp_path, mode, fragment, requests):
    stub = stub_factory("--mode", mode)
    credentials = tmp_path / "credentials"
    credentials.write_text("[other]\naws_access_key_id = AKIAOTHER\naws_secret_access_key = keep\n")
    before = credentials.read_bytes()
    out = run_tessera(tessera_bin, ["update", "--once", "--credentials-file", str(credentials), *IDENTITY, *arn_args(),
                                    *endpoint_args(stub.port)])
    assert out.returncode == 1
    assert fragment in out.stderr.splitlines()[0], out.stderr
    assert credentials.read_bytes() == before, "the credentials file changed"
    assert not list(tmp_path.glob(".credentials*")) and not list(tmp_path.glob("*.tmp*")), "a temporary file was left"
    assert len(stub.requests()) == requests


def test_an_unreachable_endpoint_is_one_line_for_credential_process_and_update(tessera_bin, tmp_path):
    port = free_port()
    for command in (["credential-process"], ["update", "--once", "--credentials-file", str(tmp_path / "credentials")]):
        out = run_tessera(tessera_bin, [*command, *IDENTITY, *arn_args(), *endpoint_args(port)])
        assert out.returncode == 1
        assert f"cannot reach Roles Anywhere endpoint http://127.0.0.1:{port}" in out.stderr.splitlines()[0], out.stderr
    assert not (tmp_path / "credentials").exists()


class SilentEndpoint:
    """Accepts TCP connections and never reads or answers: accept-then-hang. Counts connections."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.held = []
        self.accepted_at = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(connection)
            self.accepted_at.append(time.monotonic())

    def close(self):
        self.listener.close()
        for connection in self.held:
            connection.close()


@pytest.fixture
def silent_endpoint():
    endpoint = SilentEndpoint()
    yield endpoint
    endpoint.close()


def test_an_endpoint_that_accepts_and_never_answers_times_out(tessera_bin, tmp_path, silent_endpoint):
    credentials = tmp_path / "credentials"
    for command in (["credential-process"], ["update", "--once", "--credentials-file", str(credentials)]):
        before = len(silent_endpoint.held)
        started = time.monotonic()
        out = run_tessera(tessera_bin, [*command, *IDENTITY, *arn_args(), *endpoint_args(silent_endpoint.port)])
        assert out.returncode == 1 and out.stdout == ""
        assert "did not complete within 2 s (--timeout)" in out.stderr.splitlines()[0], out.stderr
        assert time.monotonic() - started < 10, "the timeout did not bound the run"
        assert len(silent_endpoint.held) - before == 1, "a timed-out CreateSession was retried"
    assert not credentials.exists()


def _serve(tessera_bin, tmp_path, port, identity=IDENTITY):
    args = [tessera_bin, "serve", *identity, *arn_args(), *endpoint_args(port), "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
            "--token-dir", str(tmp_path / "tokens")]
    with open(tmp_path / "serve.log", "w") as log:
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True, env=clean_env())
    process.address, process.admin = re.search(r"listening on http://(\S+) .*admin on http://(\S+)", process.stdout.readline()).groups()
    return process


def _get(address, path, headers=None):
    connection = http.client.HTTPConnection(address, timeout=5)
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    return response.status, response.read().decode()


@pytest.mark.parametrize("mode,fragment,requests", FAULTS, ids=[f[0] for f in FAULTS])
def test_serve_recovers_by_itself_without_hammering(tessera_bin, stub_factory, tmp_path, mode, fragment, requests):
    # The first two refresh rounds fail (a round makes `requests` CreateSessions); serve must
    # come up on its own, backing off between rounds, and say why it was not ready meanwhile.
    failures = 2 * requests
    stub = stub_factory("--mode", mode, "--fail-first", str(failures))
    serve = _serve(tessera_bin, tmp_path, stub.port)
    try:
        started = time.monotonic()
        token_file = tmp_path / "tokens/default.token"
        explained = False
        while time.monotonic() - started < 60:
            status, _ = _get(serve.admin, "/readyz")
            if status == 200:
                break
            if token_file.exists():
                # Not ready: the credentials endpoint refuses, and says why, instead of serving nothing.
                status, body = _get(serve.address, "/v1/credentials/default", {"Authorization": token_file.read_text()})
                assert status in (200, 503) and (status == 200 or "AccessKeyId" not in body), body
                explained = explained or fragment in body
            time.sleep(0.2)
        else:
            pytest.fail(f"serve did not recover; {len(stub.requests())} requests")
        assert explained, f"no 503 answer named the fault {fragment!r}"
        ecs = token_file.read_text()
        status, body = _get(serve.address, "/v1/credentials/default", {"Authorization": ecs})
        assert status == 200 and "ASIASTUBEXAMPLE00001" in body
        made = len(stub.requests())
        # The failures plus the success, and at most one extra round: no hammering.
        assert failures + 1 <= made <= failures + 4, made
        time.sleep(1)  # a quiet window: the next refresh is due in about 40 minutes
        assert len(stub.requests()) == made, "serve kept calling after it recovered"
    finally:
        serve.terminate()
        serve.wait(timeout=10)


def leftovers(directory):
    """Files other than the credentials file, its lock and the stub's request log."""
    return [p.name for p in directory.iterdir()
            if p.name not in ("credentials", "credentials.lock") and not p.name.startswith("requests-")]


def test_concurrent_update_writers_lose_nothing(tessera_bin, stub_factory, tmp_path):
    stub = stub_factory()
    credentials = tmp_path / "credentials"
    credentials.write_text("[keep]\naws_access_key_id = AKIAKEEP\naws_secret_access_key = keep\n")
    writers = [subprocess.Popen([tessera_bin, "update", "--once", "--aws-profile", f"p{i}", "--credentials-file", str(credentials),
                                 *IDENTITY, *arn_args(), *endpoint_args(stub.port)], stderr=subprocess.PIPE, text=True, env=clean_env())
               for i in range(8)]
    assert all(w.wait(timeout=60) == 0 for w in writers), [w.stderr.read() for w in writers]
    text = credentials.read_text()
    assert text.startswith("[keep]\naws_access_key_id = AKIAKEEP\n")
    for i in range(8):
        assert re.search(rf"\[p{i}\]\naws_access_key_id = ASIA\w+\naws_secret_access_key = \S+\naws_session_token = \S+\n", text), text
    assert credentials.stat().st_mode & 0o777 == 0o600
    assert leftovers(tmp_path) == []


def test_update_on_a_full_filesystem_fails_cleanly_and_keeps_the_file(tessera_bin, stub_factory, full_filesystem):
    stub = stub_factory()
    credentials = full_filesystem.path / "credentials"
    credentials.write_text("[keep]\naws_access_key_id = AKIAKEEP\naws_secret_access_key = keep\n")
    before = credentials.read_bytes()
    full_filesystem.fill()
    out = run_tessera(tessera_bin, ["update", "--once", "--credentials-file", str(credentials), *IDENTITY, *arn_args(),
                                    *endpoint_args(stub.port)])
    assert out.returncode == 1 and "panicked" not in out.stderr
    first = out.stderr.splitlines()[0]
    assert str(credentials) in first and "No space left on device" in first, out.stderr
    assert credentials.read_bytes() == before
    assert sorted(p.name for p in full_filesystem.path.iterdir()) == [".filler", "credentials", "credentials.lock"]


def test_sigterm_during_a_refresh_leaves_no_partial_file(tessera_bin, stub_factory, tmp_path):
    stub = stub_factory("--mode", "slow")
    credentials = tmp_path / "credentials"
    credentials.write_text("[keep]\naws_access_key_id = AKIAKEEP\naws_secret_access_key = keep\n")
    before = credentials.read_bytes()
    updater = subprocess.Popen([tessera_bin, "update", "--credentials-file", str(credentials), *IDENTITY, *arn_args(),
                                "--endpoint", f"http://127.0.0.1:{stub.port}"], stderr=subprocess.DEVNULL, env=clean_env())
    deadline = time.monotonic() + 20
    while not stub.requests():
        assert time.monotonic() < deadline, "no CreateSession was started"
        time.sleep(0.05)
    updater.terminate()  # while the slow CreateSession is in flight
    assert updater.wait(timeout=10) == 0
    assert credentials.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_serve_facing_an_endpoint_that_never_answers_stays_up_and_backs_off(tessera_bin, tmp_path, silent_endpoint):
    serve = _serve(tessera_bin, tmp_path, silent_endpoint.port)
    try:
        deadline = time.monotonic() + 40
        while len(silent_endpoint.accepted_at) < 3:
            assert serve.poll() is None, "serve exited"
            assert time.monotonic() < deadline, f"{len(silent_endpoint.accepted_at)} attempts in 40 s"
            time.sleep(0.1)
        assert serve.poll() is None, "serve exited"
        assert _get(serve.admin, "/readyz")[0] == 503
        status, body = _get(serve.address, "/v1/credentials/default", {"Authorization": (tmp_path / "tokens/default.token").read_text()})
        assert status == 503 and "did not complete within 2 s" in body, body
        # Each attempt waits out the 2 s timeout, then a back-off that doubles (1 s, then 2 s,
        # each with up to half taken off): the gaps have floors, whatever the machine's load.
        first, second, third = silent_endpoint.accepted_at[:3]
        assert second - first >= 2.3, second - first
        assert third - second >= 2.8, third - second
    finally:
        serve.terminate()
        serve.wait(timeout=10)


def _issue_leaf(directory, name, lifetime):
    issuer_cert, issuer_key = pki_builder.load(CERTS / "intermediate.pem", CERTS / "intermediate.key")
    now = datetime.datetime.now(datetime.timezone.utc)
    cert, key, _, _ = pki_builder.issue(directory / name, name, issuer_cert, issuer_key,
                                        not_before=now - datetime.timedelta(minutes=1), not_after=now + lifetime)
    return cert, key


def _wait_ready(serve, timeout=15):
    deadline = time.monotonic() + timeout
    while _get(serve.admin, "/readyz")[0] != 200:
        assert time.monotonic() < deadline, "serve did not become ready"
        time.sleep(0.1)


def _metric(serve, name):
    _, metrics = _get(serve.admin, "/metrics")
    return [line for line in metrics.splitlines() if line.startswith(name)]


def test_a_certificate_expiring_while_serve_runs(tessera_bin, stub_factory, tmp_path):
    stub = stub_factory()
    cert, key = _issue_leaf(tmp_path, "leaf", datetime.timedelta(seconds=6))
    not_after = pki_builder.not_after(cert)
    serve = _serve(tessera_bin, tmp_path, stub.port, ["--certificate", str(cert), "--private-key", str(key)])
    try:
        _wait_ready(serve)
        token = {"Authorization": (tmp_path / "tokens/default.token").read_text()}
        status, body = _get(serve.address, "/v1/credentials/default", token)
        assert status == 200 and len(stub.requests()) == 1, body
        assert datetime.datetime.now(datetime.timezone.utc) < not_after, "the certificate expired before serve was ready"
        # Wait for the certificate's own NotAfter (not a guessed sleep), then a little past it.
        deadline = time.monotonic() + 30
        while datetime.datetime.now(datetime.timezone.utc) <= not_after + datetime.timedelta(seconds=1):
            assert time.monotonic() < deadline, "the clock did not reach NotAfter"
            time.sleep(0.1)
        os.utime(cert)  # the files "changed": serve refreshes now, with an expired certificate
        deadline = time.monotonic() + 15
        while 'state="degraded"} 1' not in "".join(_metric(serve, "tessera_credentials_health")):
            assert time.monotonic() < deadline, _metric(serve, "tessera_credentials_health")
            time.sleep(0.2)
        # The last good credentials are still safe and still served; the service was not asked
        # with a certificate it would refuse.
        status, again = _get(serve.address, "/v1/credentials/default", token)
        assert status == 200 and again == body
        assert len(stub.requests()) == 1
        assert _get(serve.admin, "/readyz")[0] == 200
        # A renewed pair dropped in place is picked up without a restart.
        renewed_cert, renewed_key = _issue_leaf(tmp_path, "renewed", datetime.timedelta(days=30))
        os.replace(renewed_key, key)
        os.replace(renewed_cert, cert)
        deadline = time.monotonic() + 15
        while 'state="fresh"} 1' not in "".join(_metric(serve, "tessera_credentials_health")):
            assert time.monotonic() < deadline, _metric(serve, "tessera_credentials_health")
            time.sleep(0.2)
        assert len(stub.requests()) == 2
    finally:
        serve.terminate()
        serve.wait(timeout=10)
    log = (tmp_path / "serve.log").read_text()
    assert re.search(r"refresh failed: certificate \S+leaf.pem expired on", log), log
