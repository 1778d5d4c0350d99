#!/usr/bin/env python3
"""Peak RSS of `tessera proxy` while streaming a large S3 PUT to s3s-fs (an independent S3
server that verifies SigV4), once signed UNSIGNED-PAYLOAD and once as aws-chunked frames.

Usage: bench/proxy_upload_rss.py [--size-mib 1024]. Needs target/release/tessera and
.tools/bin/s3s-fs (tests/setup installs it). Prints the proxy's peak resident set (VmHWM) and the
upload throughput per mode; the uploaded object's size is checked."""

import argparse
import subprocess
import sys
import time

from common import ROOT, Tessera, answers, clean_env, ensure_release_build, free_port, scratch, status_kib, table, wait_until

KEY, SECRET = "AKIATESSERABENCH0001", "bench-secret-key-0123456789abcdefghijkl"


def upload(size_mib, chunked):
    """Uploads `size_mib` MiB of zeros; returns (peak RSS MiB before, after, MiB/s)."""
    tmp = scratch("upload")
    (tmp / "root").mkdir()
    port = free_port()
    s3s = subprocess.Popen([str(ROOT / ".tools/bin/s3s-fs"), "--host", "127.0.0.1", "--port", str(port), "--access-key", KEY,
                            "--secret-key", SECRET, str(tmp / "root")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proxy = None
    try:
        env = clean_env(AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET)
        proxy = Tessera(["proxy", "--credentials", "env", "--upstream", f"http://127.0.0.1:{port}", "--service", "s3",
                         "--signing-region", "us-east-1", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                         *(["--s3-streaming-signature"] if chunked else [])], env=env, name="proxy")
        address = proxy.address()
        wait_until(lambda: answers(f"http://127.0.0.1:{port}/"), "s3s-fs answers")
        subprocess.run(["curl", "-sS", "-o", "/dev/null", "-X", "PUT", f"http://{address}/bench"], check=True)
        blob = tmp / "blob"
        with open(blob, "wb") as out:
            out.truncate(size_mib * 1024 * 1024)
        before = status_kib(proxy.pid, "VmHWM") / 1024
        started = time.perf_counter()
        status = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-T", str(blob), f"http://{address}/bench/blob"],
                                capture_output=True, text=True, check=True).stdout
        elapsed = time.perf_counter() - started
        after = status_kib(proxy.pid, "VmHWM") / 1024
        stored = (tmp / "root/bench/blob").stat().st_size
        if status != "200" or stored != size_mib * 1024 * 1024:
            raise SystemExit(f"bench: the upload failed (HTTP {status}, {stored} bytes stored)")
        return before, after, size_mib / elapsed
    finally:
        if proxy:
            proxy.stop()
        s3s.terminate()
        s3s.wait(timeout=10)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    args = parser.parse_args()
    ensure_release_build()
    rows = []
    for mode, chunked in (("UNSIGNED-PAYLOAD", False), ("aws-chunked (every 64 KiB frame signed)", True)):
        before, after, rate = upload(args.size_mib, chunked)
        rows.append((mode, f"{before:.1f}", f"{after:.1f}", f"{rate:.0f}"))
    print(f"### proxy, one {args.size_mib} MiB S3 PUT streamed to s3s-fs\n")
    print(table(["signing", "proxy peak RSS before, MiB", "proxy peak RSS after, MiB", "MiB/s"], rows))


if __name__ == "__main__":
    sys.exit(main())
