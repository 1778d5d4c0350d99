#!/usr/bin/env python3
"""Small GETs (1 KiB objects) with wrk: directly to an nginx upstream, through nginx as a plain
reverse proxy to it (the baseline a proxy is held to), and through `tessera proxy`, which also
signs every request with SigV4. The upstream ignores signatures, so all get the same answer.

The upstream is its own nginx process, and both proxies forward to that same process. A further
row keeps the reverse proxy and the upstream in one nginx: then one worker answers its own
upstream requests without any other process running, which no separate proxy can do, so that
row is shown for comparison and is not the target's baseline.

Measured twice: with each server pinned to one core (wrk on the other), and with the OS
scheduling everything over all cores (nginx `worker_processes auto`, tokio one worker per core).
Needs target/release/tessera, wrk and nginx."""

import sys

from common import (set_pinning, WRK_CONNECTIONS, WRK_SECONDS, WRK_THREADS, Nginx, answers, ensure_release_build, free_port, kept_alive,
                    reverse_proxy, scratch, signing_proxy, table, wait_until, wrk)


def measure():
    """Returns the wrk results: direct, nginx reverse proxy, tessera proxy, and nginx with its
    upstream in the same process."""
    www = scratch("www")
    (www / "object").write_bytes(b"x" * 1024)
    upstream, reverse, same_upstream, same_reverse = free_port(), free_port(), free_port(), free_port()
    servers = [Nginx([f"listen 127.0.0.1:{upstream}; root {www};"]),
               Nginx([reverse_proxy(reverse, "backend")], upstreams=[kept_alive("backend", upstream)]),
               Nginx([f"listen 127.0.0.1:{same_upstream}; root {www};", reverse_proxy(same_reverse, "itself")],
                     upstreams=[kept_alive("itself", same_upstream)])]
    proxy = None
    try:
        proxy = signing_proxy(upstream)
        address = proxy.address()
        urls = [f"http://127.0.0.1:{port}/object" for port in (upstream, reverse)] + [f"http://{address}/object",
                f"http://127.0.0.1:{same_reverse}/object"]
        for url in urls:
            wait_until(lambda: answers(url), f"{url} answers")
        return [wrk(url) for url in urls]
    finally:
        if proxy:
            proxy.stop()
        for nginx in servers:
            nginx.stop()


def main():
    ensure_release_build()
    rows = []
    for layout, pin in (("one core per side", True), ("all cores, unpinned", False)):
        set_pinning(pin)
        direct, baseline, proxied, same = measure()
        met = proxied["rps"] >= baseline["rps"] and proxied["p99"] <= baseline["p99"]
        rows += [(layout, name, f"{r['rps']:.0f}", f"{r['p50']:.3f}", f"{r['p99']:.3f}", r["errors"], ratio, goal)
                 for name, r, ratio, goal in [
            ("nginx upstream, directly", direct, f"{direct['rps'] / baseline['rps']:.2f}", "-"),
            ("nginx reverse proxy to it", baseline, "baseline", "-"),
            ("tessera proxy to it (signs SigV4)", proxied, f"{proxied['rps'] / baseline['rps']:.2f}",
             "≥ 1.0x, p99 ≤ nginx's: " + ("yes" if met else "NO")),
            ("nginx reverse proxy to an upstream in its own process (for comparison)", same,
             f"{same['rps'] / baseline['rps']:.2f}", "-"),
        ]]
    print(f"### proxy, 1 KiB GETs (wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} -d{WRK_SECONDS}s, loopback)\n")
    print(table(["layout", "path", "requests/s", "p50 ms", "p99 ms", "errors", "ratio to nginx reverse proxy", "target"], rows))


if __name__ == "__main__":
    sys.exit(main())
