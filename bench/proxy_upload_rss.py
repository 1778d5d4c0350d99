#!/usr/bin/env python3
"""Peak RSS of `tessera proxy` while streaming a large S3 PUT to s3s-fs (an independent S3
server that verifies SigV4), once signed UNSIGNED-PAYLOAD and once as aws-chunked frames, and
its throughput against the baseline: the same PUT sent by curl straight to s3s-fs on a URL
pre-signed by botocore (query-string SigV4, UNSIGNED-PAYLOAD), in the same run.

Usage: bench/proxy_upload_rss.py [--size-mib 1024]. Needs target/release/tessera, .venv's botocore
and .tools/bin/s3s-fs (tests/setup installs both). The uploaded object's size is checked."""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, Tessera, answers, clean_env, ensure_release_build, free_port, scratch, status_kib, table, wait_until

KEY, SECRET = "AKIATESSERABENCH0001", "bench-secret-key-0123456789abcdefghijkl"


class S3sFs:
    """s3s-fs on a fresh directory with one bucket, `bench`. The directory is in memory (tmpfs)
    where the machine has one: written to disk, 1 GiB objects made every run's throughput
    depend on the disk's writeback instead of on the paths being compared."""

    def __init__(self):
        memory = Path("/dev/shm")
        self.dir = Path(tempfile.mkdtemp(prefix="tessera-bench-upload-", dir=memory if memory.is_dir() else None))
        self.root = self.dir / "root"
        (self.root / "bench").mkdir(parents=True)
        self.port = free_port()
        self.process = subprocess.Popen([str(ROOT / ".tools/bin/s3s-fs"), "--host", "127.0.0.1", "--port", str(self.port),
                                         "--access-key", KEY, "--secret-key", SECRET, str(self.root)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: answers(f"http://127.0.0.1:{self.port}/"), "s3s-fs answers")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


def cpu_seconds(pid):
    """User plus system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def blob_of(size_mib):
    blob = scratch("blob") / "blob"
    with open(blob, "wb") as out:
        out.truncate(size_mib * 1024 * 1024)
    return blob


def put(blob, url, s3s, key):
    """PUTs `blob` to `url` with curl; returns MiB/s. The stored object's size is checked."""
    started = time.perf_counter()
    # No "Expect: 100-continue": curl would wait up to a second for an answer that s3s-fs never sends.
    status = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-H", "Expect:", "-w", "%{http_code}", "-T", str(blob), url],
                            capture_output=True, text=True, check=True).stdout
    elapsed = time.perf_counter() - started
    size = blob.stat().st_size
    stored = (s3s.root / "bench" / key).stat().st_size if (s3s.root / "bench" / key).exists() else 0
    if status != "200" or stored != size:
        raise SystemExit(f"bench: the upload to {url.split('?')[0]} failed (HTTP {status}, {stored} bytes stored)")
    return size / (1024 * 1024) / elapsed


def direct(blob):
    """The baseline: curl to s3s-fs on a botocore pre-signed URL."""
    import botocore.config
    import botocore.session
    s3s = S3sFs()
    try:
        client = botocore.session.get_session().create_client(
            "s3", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{s3s.port}", aws_access_key_id=KEY,
            aws_secret_access_key=SECRET, config=botocore.config.Config(signature_version="s3v4", s3={"addressing_style": "path"}))
        url = client.generate_presigned_url("put_object", Params={"Bucket": "bench", "Key": "direct"}, ExpiresIn=600)
        rate = put(blob, url, s3s, "direct")
        return rate, cpu_seconds(s3s.process.pid)
    finally:
        s3s.stop()


def through_proxy(blob, chunked):
    """The PUT through `tessera proxy`; returns (peak RSS MiB before, after, MiB/s, the proxy's and
    s3s-fs's CPU seconds)."""
    s3s, proxy = S3sFs(), None
    try:
        env = clean_env(AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET)
        proxy = Tessera(["proxy", "--credentials", "env", "--upstream", f"http://127.0.0.1:{s3s.port}", "--service", "s3",
                         "--signing-region", "us-east-1", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                         *(["--s3-streaming-signature"] if chunked else [])], env=env, name="proxy")
        before = status_kib(proxy.pid, "VmHWM") / 1024
        rate = put(blob, f"http://{proxy.address()}/bench/blob", s3s, "blob")
        after = status_kib(proxy.pid, "VmHWM") / 1024
        return before, after, rate, cpu_seconds(proxy.pid), cpu_seconds(s3s.process.pid)
    finally:
        if proxy:
            proxy.stop()
        s3s.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    args = parser.parse_args()
    ensure_release_build()
    blob = blob_of(args.size_mib)
    baseline, s3s_cpu = direct(blob)
    rows = [("curl straight to s3s-fs, pre-signed URL (baseline)", "-", "-", f"{baseline:.0f}", "baseline", "-", "-", f"{s3s_cpu:.1f}")]
    for mode, chunked in (("UNSIGNED-PAYLOAD", False), ("aws-chunked (every chunk signed)", True)):
        before, after, rate, proxy_cpu, s3s_cpu = through_proxy(blob, chunked)
        met = "yes" if rate >= 0.9 * baseline and after < 32 else "NO"
        rows.append((f"through tessera proxy, {mode}", f"{before:.1f}", f"{after:.1f}", f"{rate:.0f}", f"{rate / baseline:.2f}", met,
                     f"{proxy_cpu:.1f}", f"{s3s_cpu:.1f}"))
    print(f"### proxy, one {args.size_mib} MiB S3 PUT streamed to s3s-fs\n")
    print(table(["path", "proxy peak RSS before, MiB", "proxy peak RSS after, MiB", "MiB/s", "ratio to baseline",
                 "target ≥ 0.90 and < 32 MiB met", "proxy CPU s", "s3s-fs CPU s"], rows))


if __name__ == "__main__":
    sys.exit(main())
