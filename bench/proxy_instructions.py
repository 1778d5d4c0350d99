#!/usr/bin/env python3
"""User-space instructions per proxied 1 KiB GET, counted by callgrind: `tessera proxy` (which
also signs each request with SigV4) against nginx as a plain reverse proxy, both in front of the
same nginx upstream. Unlike requests per second on a shared VM, the count repeats to within a
fraction of a per cent, so a change's effect shows even when wrk's numbers drift by 10 %.

Each server runs under callgrind twice, for a short and a long series of keep-alive GETs on one
connection; the difference of the totals divided by the difference of the counts is the cost of
one request, free of start-up and shutdown. The kernel's share (most of the proxy's CPU in perf
profiles) is not counted. Valgrind hides the CPU's SHA extensions, so SHA-256 runs in software
here and weighs more than it does natively. Needs target/release/tessera, nginx and valgrind."""

import http.client
import os
import re
import shutil
import sys

from common import (Nginx, answers, ensure_release_build, free_port, kept_alive, reverse_proxy, scratch, set_pinning, signing_proxy,
                    table, wait_until)

SHORT, LONG = (int(n) for n in os.environ.get("TESSERA_BENCH_CALLGRIND_GETS", "200,1200").split(","))


def get(address, count):
    """`count` keep-alive GETs of /object on one connection to `address` (host:port); each must
    answer 200."""
    connection = http.client.HTTPConnection(address, timeout=60)
    for _ in range(count):
        connection.request("GET", "/object", headers={"Host": "localhost"})
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"bench: GET through {address} answered {response.status}")
    connection.close()


def callgrind(out):
    return ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]


def total(out):
    match = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.M)
    if not match:
        raise SystemExit(f"bench: no instruction total in {out}")
    return int(match.group(1))


def tessera_total(upstream, count):
    out = scratch("callgrind") / "tessera.out"
    proxy = signing_proxy(upstream, under=callgrind(out))
    try:
        get(proxy.address(), count)
    finally:
        proxy.stop(timeout=120)
    return total(out)


def nginx_total(upstream, count):
    out = scratch("callgrind") / "nginx.out"
    port = free_port()
    nginx = Nginx([reverse_proxy(port, "backend")], upstreams=[kept_alive("backend", upstream)], under=callgrind(out))
    try:
        wait_until(lambda: answers(f"http://127.0.0.1:{port}/object"), "nginx under callgrind answers", seconds=60)
        get(f"127.0.0.1:{port}", count)
    finally:
        nginx.stop()
    # The readiness probe above was one more request in both runs, so it cancels out.
    return total(out)


def per_request(measure, upstream):
    return (measure(upstream, LONG) - measure(upstream, SHORT)) / (LONG - SHORT)


def main():
    ensure_release_build()
    if not shutil.which("valgrind"):
        raise SystemExit("bench: valgrind is missing (apt-get install valgrind)")
    set_pinning(False)
    www = scratch("www")
    (www / "object").write_bytes(b"x" * 1024)
    upstream_port = free_port()
    upstream = Nginx([f"listen 127.0.0.1:{upstream_port}; root {www};"])
    try:
        nginx = per_request(nginx_total, upstream_port)
        tessera = per_request(tessera_total, upstream_port)
    finally:
        upstream.stop()
    print(f"### proxy, user-space instructions per 1 KiB GET (callgrind, {LONG} minus {SHORT} keep-alive GETs)\n")
    print(table(["path", "instructions per request", "ratio to nginx reverse proxy"], [
        ("nginx reverse proxy", f"{nginx:,.0f}", "baseline"),
        ("tessera proxy (signs SigV4)", f"{tessera:,.0f}", f"{tessera / nginx:.2f}"),
    ]))


if __name__ == "__main__":
    sys.exit(main())
