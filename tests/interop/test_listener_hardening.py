"""Listener hardening on the IMDS/ECS listener (serve), the local anchor and the proxy: an
oversize header, a slow (slowloris) header, an oversize body, connections that send nothing
(plain, TLS with HTTP/1.1, TLS with HTTP/2) and the connection limit. Each is refused or cut off
and the listener keeps serving."""

import http.client
import resource
import socket
import ssl
import time
import urllib.request

import pytest

from conftest import free_port
from test_anchor import Anchor
from test_proxy import start_env_proxy
from test_serve import request, stack, start_anchor  # noqa: F401  (stack is a fixture)

HEADER_TIMEOUT_SECONDS = 10
MAX_CONNECTIONS = 1024  # src/server.rs


def raw_exchange(address, payload, read_timeout=15):
    """Sends raw bytes; returns what came back before the server closed the connection. A
    server that neither answers nor closes within `read_timeout` fails the test: a hang is not a
    refusal."""
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        try:
            connection.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass
        connection.settimeout(read_timeout)
        received = b""
        try:
            while chunk := connection.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
        except (TimeoutError, socket.timeout):
            raise AssertionError(f"{address} neither answered nor closed within {read_timeout} s; got {received[:100]!r}")
        return received


def status_of(response):
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else None


@pytest.fixture
def anchor_address(tessera_bin, tmp_path):
    port = free_port()
    anchor = start_anchor(tessera_bin, tmp_path, port)
    yield f"127.0.0.1:{port}"
    anchor.stop()


@pytest.fixture
def proxy_address(tessera_bin, tmp_path):
    """A signing proxy (static credentials) whose upstream refuses connections: these requests
    must be dealt with before anything is forwarded."""
    proxy = start_env_proxy(tessera_bin, tmp_path, "http://127.0.0.1:9", "not-a-real-secret")
    yield proxy.address
    proxy.terminate()
    proxy.wait(timeout=10)


def test_a_one_megabyte_header_is_refused_by_imds_the_anchor_and_the_proxy(stack, anchor_address, proxy_address):
    for address in (stack.address, anchor_address, proxy_address):
        response = raw_exchange(address, b"GET /latest/meta-data/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * (1024 * 1024) + b"\r\n\r\n")
        # A 431, or the connection closed at once (the header cap hit before a status line).
        assert status_of(response) in (None, 431), response[:200]
    # The positive control: the same listener still answers a normal request.
    assert request(stack, "PUT", "/latest/api/token", {"x-aws-ec2-metadata-token-ttl-seconds": "60"})[0] == 200


def test_a_slow_header_is_cut_off(stack):
    """A client trickling one header byte a second is disconnected when the header-read timeout
    expires, well before it would finish."""
    host, port = stack.address.rsplit(":", 1)
    started = time.monotonic()
    closed_after = None
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(b"GET /latest/meta-data/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        connection.settimeout(1)
        while time.monotonic() - started < HEADER_TIMEOUT_SECONDS + 15:
            try:
                connection.sendall(b"X")
                if connection.recv(1024) == b"":
                    closed_after = time.monotonic() - started
                    break
            except (socket.timeout, TimeoutError):
                continue
            except (BrokenPipeError, ConnectionResetError):
                closed_after = time.monotonic() - started
                break
    assert closed_after is not None, "the server kept a trickling connection open"
    assert HEADER_TIMEOUT_SECONDS - 1 <= closed_after <= HEADER_TIMEOUT_SECONDS + 5, closed_after
    assert request(stack, "PUT", "/latest/api/token", {"x-aws-ec2-metadata-token-ttl-seconds": "60"})[0] == 200


def test_an_oversize_body_gets_413_from_the_anchor(anchor_address):
    body = b"{" + b" " * (2 * 1024 * 1024) + b"}"
    head = f"POST /sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    response = raw_exchange(anchor_address, head + body)
    assert status_of(response) == 413, response[:300]
    with urllib.request.urlopen(f"http://{anchor_address}/metrics", timeout=5) as answer:
        assert answer.status == 200


def seconds_until_closed(connection, limit):
    """Reads (discarding) until the server closes; returns how long that took, or None."""
    started = time.monotonic()
    connection.settimeout(1)
    while time.monotonic() - started < limit:
        try:
            if connection.recv(65536) == b"":
                return time.monotonic() - started
        except (socket.timeout, TimeoutError, ssl.SSLWantReadError):
            continue
        except (ConnectionResetError, ssl.SSLError):
            return time.monotonic() - started
    return None


def test_a_connection_that_sends_nothing_is_closed_by_imds_and_the_proxy(stack, proxy_address):
    connections = [socket.create_connection((host, int(port)), timeout=5)
                   for host, port in (address.rsplit(":", 1) for address in (stack.address, proxy_address))]
    try:
        for connection in connections:
            closed = seconds_until_closed(connection, HEADER_TIMEOUT_SECONDS + 10)
            assert closed is not None and closed <= HEADER_TIMEOUT_SECONDS + 2, closed
    finally:
        for connection in connections:
            connection.close()


@pytest.mark.parametrize("alpn,limit", [("http/1.1", HEADER_TIMEOUT_SECONDS), ("h2", 2 * HEADER_TIMEOUT_SECONDS)])
def test_a_tls_connection_that_sends_nothing_after_the_handshake_is_closed(tessera_bin, tmp_path, alpn, limit):
    # HTTP/2: idle for the idle timeout, then a grace period for the (never finished) handshake.
    anchor = Anchor(tessera_bin, tmp_path, tls=True)
    try:
        host, port = anchor.url.removeprefix("https://").rsplit(":", 1)
        context = ssl.create_default_context(cafile=anchor.cafile)
        context.set_alpn_protocols([alpn])
        with context.wrap_socket(socket.create_connection((host, int(port)), timeout=5), server_hostname="localhost") as tls:
            assert tls.selected_alpn_protocol() == alpn
            closed = seconds_until_closed(tls, limit + 15)
        assert closed is not None and closed <= limit + 2, closed
    finally:
        anchor.stop()


def test_the_connection_limit_queues_the_excess_and_frees_slots(stack):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = MAX_CONNECTIONS + 256
    assert hard == resource.RLIM_INFINITY or hard >= needed, f"the open-file hard limit {hard} is below {needed}"
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, needed), hard))
    host, port = stack.address.rsplit(":", 1)
    probe = b"GET /latest/meta-data/ HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n"
    held = []
    try:
        # Every slot is taken by a served keep-alive connection (the server raised its own
        # open-file limit to hold them all).
        for _ in range(MAX_CONNECTIONS):
            connection = socket.create_connection((host, int(port)), timeout=5)
            held.append(connection)
            connection.sendall(probe)
            assert connection.recv(65536).startswith(b"HTTP/1.1 401"), "a connection within the limit was not served"
        # One more waits in the backlog, unanswered ...
        extra = socket.create_connection((host, int(port)), timeout=5)
        held.append(extra)
        extra.sendall(probe)
        extra.settimeout(2)
        with pytest.raises((socket.timeout, TimeoutError)):
            extra.recv(65536)
        # ... the admin listener has its own slots and still answers ...
        with urllib.request.urlopen(f"http://{stack.admin}/healthz", timeout=5) as response:
            assert response.status == 200
        # ... and is served as soon as a slot frees.
        held.pop(0).close()
        extra.settimeout(5)
        assert extra.recv(65536).startswith(b"HTTP/1.1 401")
    finally:
        for connection in held:
            connection.close()
    assert request(stack, "PUT", "/latest/api/token", {"x-aws-ec2-metadata-token-ttl-seconds": "60"})[0] == 200


def proxy_status(address, headers):
    host, port = address.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.putrequest("GET", "/bucket/key?Action=DeleteQueue", skip_host=True)
    for name, value in headers.items():
        connection.putheader(name, value)
    connection.endheaders()
    response = connection.getresponse()
    return response.status, response.read().decode()


@pytest.mark.parametrize("case,headers", [
    ("DNS rebinding: the page's own Host", {"Host": "evil.example:8080"}),
    ("cross-site form post or fetch", {"Host": "127.0.0.1", "Origin": "http://evil.example"}),
    ("cross-site image or link", {"Host": "localhost", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}),
])
def test_the_proxy_signs_nothing_for_a_web_page(proxy_address, case, headers):
    status, body = proxy_status(proxy_address, headers)
    assert status == 403, (case, body)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost:8080", "[::1]:8080"])
def test_the_proxy_forwards_for_local_tools(proxy_address, host):
    # The upstream refuses connections, so a forwarded request ends in 502.
    status, body = proxy_status(proxy_address, {"Host": host})
    assert status == 502, body


def test_with_a_token_the_proxy_leaves_browsers_to_the_token(tessera_bin, tmp_path):
    token = "0123456789abcdef0123456789abcdef"
    proxy = start_env_proxy(tessera_bin, tmp_path, "http://127.0.0.1:9", "not-a-real-secret", ["--require-token", token])
    try:
        assert proxy_status(proxy.address, {"Host": "127.0.0.1", "Origin": "http://app.example"})[0] == 401
        assert proxy_status(proxy.address, {"Host": "127.0.0.1", "Origin": "http://app.example", "Authorization": f"Bearer {token}"})[0] == 502
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)
