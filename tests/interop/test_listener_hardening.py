"""Listener hardening on the IMDS/ECS listener (serve), the local anchor and the proxy: an
oversize header, a slow (slowloris) header, an oversize body. Each is refused and the listener
keeps serving."""

import socket
import time
import urllib.request

import pytest

from conftest import free_port
from test_serve import request, stack, start_anchor  # noqa: F401  (stack is a fixture)

HEADER_TIMEOUT_SECONDS = 10


def raw_exchange(address, payload, read_timeout=15):
    """Sends raw bytes; returns what came back before the server closed (or the timeout)."""
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
        except (ConnectionResetError, TimeoutError, socket.timeout):
            pass
        return received


def status_of(response):
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else None


@pytest.fixture
def anchor_address(tessera_bin, tmp_path):
    port = free_port()
    anchor = start_anchor(tessera_bin, tmp_path, port)
    yield f"127.0.0.1:{port}"
    anchor.stop()


def test_a_one_megabyte_header_is_refused_by_imds_and_the_anchor(stack, anchor_address):
    for address in (stack.address, anchor_address):
        response = raw_exchange(address, b"GET /latest/meta-data/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * (1024 * 1024) + b"\r\n\r\n")
        assert status_of(response) in (None, 431), response[:200]
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
