#!/usr/bin/env python3
"""Small GETs through `tessera proxy` vs the same upstream directly, with wrk (loopback only).

The upstream is nginx serving a 1 KiB file (it ignores signatures, so both paths get the same
answer). Prints requests/s and p50/p99 latency for both, and the ratio. Installs wrk and nginx
from Debian if missing; stops everything it starts. Needs target/release/tessera.
"""

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DURATION, THREADS, CONNECTIONS = "10s", "2", "32"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure(*tools):
    missing = [t for t in tools if shutil.which(t) is None and not Path(f"/usr/sbin/{t}").exists()]
    if missing:
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk", "nginx-light"], check=True, stdout=subprocess.DEVNULL)


def wrk(url):
    out = subprocess.run(["wrk", "-t", THREADS, "-c", CONNECTIONS, "-d", DURATION, "--latency", url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    def pct(p):
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
    return rps, pct(50), pct(99)


def main():
    ensure("wrk", "nginx")
    tmp = Path(tempfile.mkdtemp())
    (tmp / "www").mkdir()
    (tmp / "www/object").write_bytes(b"x" * 1024)
    port = free_port()
    (tmp / "nginx.conf").write_text(f"""
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  server {{ listen 127.0.0.1:{port}; root {tmp}/www; }}
}}
""")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    subprocess.run([nginx, "-c", str(tmp / "nginx.conf")], check=True)
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIABENCH", AWS_SECRET_ACCESS_KEY="bench-secret")
    proxy = subprocess.Popen([str(ROOT / "target/release/tessera"), "proxy", "--credentials", "env", "--upstream", f"http://127.0.0.1:{port}",
                              "--service", "s3", "--signing-region", "us-east-1", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        address = re.search(r"listening on http://(\S+),", proxy.stdout.readline()).group(1)
        time.sleep(0.5)
        direct = wrk(f"http://127.0.0.1:{port}/object")
        proxied = wrk(f"http://{address}/object")
        print(f"| path | requests/s | p50 ms | p99 ms |")
        print(f"|---|---|---|---|")
        print(f"| nginx directly | {direct[0]:.0f} | {direct[1]:.3f} | {direct[2]:.3f} |")
        print(f"| through tessera proxy (signing) | {proxied[0]:.0f} | {proxied[1]:.3f} | {proxied[2]:.3f} |")
        print(f"| ratio proxy/direct | {proxied[0] / direct[0]:.2f} | | |")
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)
        subprocess.run([nginx, "-c", str(tmp / "nginx.conf"), "-s", "stop"], check=False)


if __name__ == "__main__":
    main()
