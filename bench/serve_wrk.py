#!/usr/bin/env python3
"""`tessera serve` under wrk: the IMDSv2 credentials path and the ECS path vs nginx serving the
same JSON as a static file (the practical ceiling for a loopback HTTP server), at the same
connections and duration; plus serve's memory: idle with 1 and with 50 profiles, and under load.
Needs target/release/tessera, wrk and nginx."""

import http.client
import re
import sys
import time

from common import (CERTS, PROFILE, ROLE, TA, WRK_CONNECTIONS, WRK_SECONDS, WRK_THREADS, Nginx, Tessera, answers, ensure_release_build, free_port,
                    identity_flags, scratch, start_anchor, status_kib, table, wait_until, wrk)

SETTLE_SECONDS = 2
# The target (issue 20): IMDS and ECS at 1.2x nginx's static file or more, p99 no worse.
TARGET = 1.2


def start_serve(args, ready_seconds=20, imds="--imds"):
    """serve on loopback with IMDS (`imds`: the flag that picks its profile), returned once /readyz
    says every profile holds credentials."""
    tmp = scratch("serve")
    serve = Tessera(["serve", *args, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--token-dir", str(tmp / "tokens"), imds],
                    name="serve")
    serve.address, serve.admin = re.search(r"listening on http://(\S+) .*admin on http://(\S+)", serve.first_line).groups()
    serve.tokens = tmp / "tokens"
    wait_until(lambda: answers(f"http://{serve.admin}/readyz") and ready(serve), "serve ready", seconds=ready_seconds)
    return serve


def ready(serve):
    connection = http.client.HTTPConnection(serve.admin, timeout=2)
    connection.request("GET", "/readyz")
    return connection.getresponse().status == 200


def call(address, method, path, headers):
    connection = http.client.HTTPConnection(address, timeout=5)
    connection.request(method, path, headers=headers)
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise SystemExit(f"bench: {method} {path} answered {response.status}: {body[:200]!r}")
    return body


def profiles_config(count, endpoint, path=None, changed=None):
    """A serve config with `count` profiles p0…, all on the test identity, written to `path` (or a
    new file); profile number `changed` asks for shorter sessions."""
    config = path or scratch("config") / "config.toml"
    config.write_text("".join(f"""
[profiles.p{i}]
certificate = "{CERTS}/leaf-p256.pem"
private-key = "{CERTS}/leaf-p256.key"
intermediates = "{CERTS}/intermediate.pem"
trust-anchor-arn = "{TA}"
profile-arn = "{PROFILE}"
role-arn = "{ROLE}"
endpoint = "{endpoint}"
{'session-duration = 1800' if i == changed else ''}
""" for i in range(count)))
    return config


def idle_rss_mib(args):
    serve = start_serve(args)
    try:
        time.sleep(SETTLE_SECONDS)
        return status_kib(serve.pid, "VmRSS") / 1024
    finally:
        serve.stop()


def main():
    ensure_release_build()
    anchor, url, _ = start_anchor(tls=False)
    nginx = None
    try:
        serve = start_serve(identity_flags(url))
        try:
            token = call(serve.address, "PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "21600"}).decode()
            role = call(serve.address, "GET", "/latest/meta-data/iam/security-credentials/", {"X-aws-ec2-metadata-token": token}).decode().strip()
            imds_path = f"/latest/meta-data/iam/security-credentials/{role}"
            document = call(serve.address, "GET", imds_path, {"X-aws-ec2-metadata-token": token})
            ecs_token = (serve.tokens / "default.token").read_text().strip()
            www = scratch("www")
            (www / "credentials.json").write_bytes(document)
            port = free_port()
            nginx = Nginx([f"listen 127.0.0.1:{port}; root {www}; default_type application/json;"])
            wait_until(lambda: answers(f"http://127.0.0.1:{port}/credentials.json"), "nginx answers")
            idle_one = status_kib(serve.pid, "VmRSS") / 1024
            static = wrk(f"http://127.0.0.1:{port}/credentials.json")
            imds = wrk(f"http://{serve.address}{imds_path}", [f"X-aws-ec2-metadata-token: {token}"])
            ecs = wrk(f"http://{serve.address}/v1/credentials/default", [f"Authorization: {ecs_token}"])
            peak = status_kib(serve.pid, "VmHWM") / 1024
            after = status_kib(serve.pid, "VmRSS") / 1024
        finally:
            serve.stop()
        fifty = idle_rss_mib(["--config", str(profiles_config(50, url)), "--all-profiles"])
    finally:
        if nginx:
            nginx.stop()
        anchor.stop()
    def target(r):
        met = r["rps"] >= TARGET * static["rps"] and r["p99"] <= static["p99"]
        return f"≥ {TARGET}x, p99 ≤ nginx's: " + ("yes" if met else "NO")

    rows = [(name, f"{r['rps']:.0f}", f"{r['p50']:.3f}", f"{r['p99']:.3f}", r["errors"], ratio, goal)
            for name, r, ratio, goal in [("nginx, static file with the same JSON", static, "baseline", "-"),
                                         ("tessera serve, IMDSv2 credentials", imds, f"{imds['rps'] / static['rps']:.2f}", target(imds)),
                                         ("tessera serve, ECS credentials", ecs, f"{ecs['rps'] / static['rps']:.2f}", target(ecs))]]
    print(f"### serve (wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} -d{WRK_SECONDS}s, loopback)\n")
    print(table(["endpoint", "requests/s", "p50 ms", "p99 ms", "errors", "ratio to nginx", "target"], rows))
    print("\n### serve memory\n")
    print(table(["state", "RSS MiB"], [
        ("idle, 1 profile", f"{idle_one:.1f}"),
        ("idle, 50 profiles", f"{fifty:.1f}"),
        ("peak during the wrk runs (VmHWM)", f"{peak:.1f}"),
        ("after the wrk runs", f"{after:.1f}"),
    ]))


if __name__ == "__main__":
    sys.exit(main())
