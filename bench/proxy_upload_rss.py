#!/usr/bin/env python3
"""Peak RSS of `tessera proxy` while streaming a 1 GiB S3 PUT to s3s-fs (loopback only).

Usage: bench/proxy_upload_rss.py [--size-mib 1024]. Needs a release build
(target/release/tessera) and .tools/bin/s3s-fs (tests/run installs it). Prints the proxy's
VmHWM (peak resident set) before and after the upload, and the upload throughput.
"""

import argparse
import os
import re
import socket
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEY, SECRET = "AKIATESSERABENCH0001", "bench-secret-key-0123456789abcdefghijkl"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vm_hwm_kib(pid):
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", text).group(1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--s3-streaming-signature", action="store_true", help="sign the upload as aws-chunked")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    port = free_port()
    s3s = subprocess.Popen([str(ROOT / ".tools/bin/s3s-fs"), "--host", "127.0.0.1", "--port", str(port), "--access-key", KEY,
                            "--secret-key", SECRET, str(tmp / "root")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    (tmp / "root").mkdir()
    env = dict(os.environ, AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET)
    proxy = subprocess.Popen([str(ROOT / "target/release/tessera"), "proxy", "--credentials", "env", "--upstream", f"http://127.0.0.1:{port}",
                              "--service", "s3", "--signing-region", "us-east-1", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                              *(["--s3-streaming-signature"] if args.s3_streaming_signature else [])],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        address = re.search(r"listening on http://(\S+),", proxy.stdout.readline()).group(1)
        time.sleep(0.5)
        subprocess.run(["curl", "-sS", "-o", "/dev/null", "-X", "PUT", f"http://{address}/bench"], check=True)
        blob = tmp / "blob"
        with open(blob, "wb") as out:
            out.truncate(args.size_mib * 1024 * 1024)
        before = vm_hwm_kib(proxy.pid)
        started = time.perf_counter()
        result = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-T", str(blob), f"http://{address}/bench/blob"],
                                capture_output=True, text=True, check=True)
        elapsed = time.perf_counter() - started
        after = vm_hwm_kib(proxy.pid)
        assert result.stdout == "200", result.stdout
        stored = (tmp / "root/bench/blob").stat().st_size
        assert stored == args.size_mib * 1024 * 1024, stored
        mode = "aws-chunked" if args.s3_streaming_signature else "UNSIGNED-PAYLOAD"
        print(f"| upload | {args.size_mib} MiB through tessera proxy to s3s-fs ({mode}) |")
        print(f"| proxy peak RSS before | {before / 1024:.1f} MiB |")
        print(f"| proxy peak RSS after | {after / 1024:.1f} MiB |")
        print(f"| throughput | {args.size_mib / elapsed:.0f} MiB/s ({elapsed:.1f} s) |")
    finally:
        proxy.terminate()
        s3s.terminate()
        proxy.wait(timeout=10)
        s3s.wait(timeout=10)


if __name__ == "__main__":
    main()
