#!/usr/bin/env python3
"""Bounded load (loopback only, stops by itself): wrk against `tessera serve`'s IMDS credentials
path for 60 s at 256 connections, sampling serve's RSS every second (it must stay flat and wrk
must see no errors); then 1,000 `credential-process` runs in parallel batches of 50 against one
cold cache, which must make exactly one CreateSession (the anchor's metrics count them).
Usage: bench/load.py [--seconds 60] [--connections 256] [--runs 1000]."""

import argparse
import re
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from common import TESSERA, cache_dir, clean_env, ensure_release_build, identity_flags, start_anchor, status_kib, table
from serve_wrk import call, start_serve


def anchor_successes(url):
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        text = response.read().decode()
    match = re.search(r'tessera_anchor_create_session_total\{outcome="success"\} (\d+)', text)
    return int(match.group(1)) if match else 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args()
    ensure_release_build()
    anchor, url, _ = start_anchor(tls=False)
    try:
        serve = start_serve(identity_flags(url))
        try:
            token = call(serve.address, "PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "21600"}).decode()
            path = "/latest/meta-data/iam/security-credentials/app"
            samples, stop = [], threading.Event()

            def sample():
                while not stop.is_set():
                    samples.append(status_kib(serve.pid, "VmRSS") / 1024)
                    time.sleep(1)

            sampler = threading.Thread(target=sample)
            sampler.start()
            out = subprocess.run(["wrk", "-t", "2", "-c", str(args.connections), "-d", f"{args.seconds}s", "--latency", "-H",
                                  f"X-aws-ec2-metadata-token: {token}", f"http://{serve.address}{path}"],
                                 capture_output=True, text=True, check=True).stdout
            stop.set()
            sampler.join()
        finally:
            serve.stop()
        requests = int(re.search(r"(\d+) requests in", out).group(1))
        non_2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
        socket_errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
        p99 = re.search(r"\s99%\s+(\S+)", out).group(1)
        third = max(1, len(samples) // 3)
        first_third, last_third = max(samples[:third]), max(samples[-third:])

        cache = cache_dir("load")
        command = [str(TESSERA), "credential-process", *identity_flags(url)]
        env = clean_env(TESSERA_CACHE_DIR=str(cache))
        before = anchor_successes(url)

        def one(_):
            return subprocess.run(command, capture_output=True, env=env, timeout=60).returncode

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=50) as pool:
            codes = list(pool.map(one, range(args.runs)))
        elapsed = time.perf_counter() - started
        sessions = anchor_successes(url) - before
    finally:
        anchor.stop()
    print(f"### load: serve under wrk ({args.connections} connections, {args.seconds} s), then {args.runs} credential-process runs\n")
    print(table(["measure", "value"], [
        ("IMDS requests served", f"{requests} ({requests / args.seconds:.0f}/s), p99 {p99}"),
        ("non-2xx answers / socket errors", f"{non_2xx} / {socket_errors}"),
        ("serve RSS, peak of first third / last third of the run", f"{first_third:.1f} MiB / {last_third:.1f} MiB"),
        ("credential-process runs failed", f"{sum(1 for c in codes if c != 0)} of {len(codes)}"),
        ("CreateSessions for those runs (cold cache)", str(sessions)),
        ("credential-process wall time", f"{elapsed:.1f} s ({len(codes) / elapsed:.0f} runs/s, 50 at a time)"),
    ]))
    failed = non_2xx or socket_errors or any(codes) or sessions != 1 or last_third > first_third * 1.2 + 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
