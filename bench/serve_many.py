#!/usr/bin/env python3
"""`tessera serve` with 1,000 profiles (TESSERA_BENCH_PROFILES) against the local anchor: how
fast the CreateSessions of a cold start reach the anchor (at most 5 in any second), serve's idle
RSS once every profile holds credentials, IMDS under wrk next to a 1-profile serve in the same
run, and a SIGHUP that changes one profile (exactly one CreateSession). Needs
target/release/tessera and wrk. A cold start of 1,000 profiles takes about 3.5 minutes."""

import os
import signal
import sys
import time

from common import WRK_SECONDS, ensure_release_build, identity_flags, start_anchor, status_kib, table, wait_until, wrk
from serve_wrk import call, profiles_config, start_serve

PROFILES = int(os.environ.get("TESSERA_BENCH_PROFILES", "1000"))
GRANTED = r"CreateSession granted"
# After the last expected CreateSession, how long to wait for one that should not come.
QUIET_SECONDS = 5


def most_in_one_second(times):
    times = sorted(times)
    return max((sum(1 for t in times[i:] if t < start + 1.0) for i, start in enumerate(times)), default=0)


def imds_load(serve):
    token = call(serve.address, "PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "21600"}).decode()
    role = call(serve.address, "GET", "/latest/meta-data/iam/security-credentials/", {"X-aws-ec2-metadata-token": token}).decode()
    return wrk(f"http://{serve.address}/latest/meta-data/iam/security-credentials/{role}", [f"X-aws-ec2-metadata-token: {token}"])


def cold_start(anchor, url):
    """serve with PROFILES profiles, returned once the anchor has granted every one."""
    config = profiles_config(PROFILES, url)
    started = time.monotonic()
    serve = start_serve(["--config", str(config), "--all-profiles"], ready_seconds=PROFILES * 0.3 + 60, imds="--imds=p0")
    wait_until(lambda: len(anchor.times) >= PROFILES, f"{PROFILES} CreateSessions")
    serve.config, serve.cold_seconds = config, time.monotonic() - started
    return serve


def reload_one(anchor, serve, url):
    """CreateSessions made by a SIGHUP after one profile's settings changed."""
    before = len(anchor.times)
    profiles_config(PROFILES, url, path=serve.config, changed=PROFILES // 2)
    serve.process.send_signal(signal.SIGHUP)
    wait_until(lambda: len(anchor.times) > before, "the changed profile's CreateSession", seconds=30)
    time.sleep(QUIET_SECONDS)
    return len(anchor.times) - before


def main():
    ensure_release_build()
    anchor, url, _ = start_anchor(tls=False, timed=GRANTED)
    try:
        one = start_serve(identity_flags(url))
        try:
            single = imds_load(one)
        finally:
            one.stop()
        first = len(anchor.times)
        serve = cold_start(anchor, url)
        try:
            cold_times = anchor.times[first:first + PROFILES]
            time.sleep(QUIET_SECONDS)
            idle = status_kib(serve.pid, "VmRSS") / 1024
            many = imds_load(serve)
            reloaded = reload_one(anchor, serve, url)
        finally:
            serve.stop()
    finally:
        anchor.stop()
    per_second = most_in_one_second(cold_times)
    p99_ratio = many["p99"] / single["p99"]
    print(f"### serve with {PROFILES} profiles (local anchor; IMDS under wrk -d{WRK_SECONDS}s, one core per side)\n")
    print(table(["measure", "value", "baseline", "target", "met"], [
        ("cold start: most CreateSessions in any one second", per_second, "-", "≤ 5", "yes" if per_second <= 5 else "NO"),
        ("cold start: until every profile held credentials", f"{serve.cold_seconds:.0f} s", "-", "-", "-"),
        ("idle RSS, every profile holding credentials", f"{idle:.1f} MiB", "-", "< 64 MiB", "yes" if idle < 64 else "NO"),
        ("IMDS requests/s", f"{many['rps']:.0f}", f"{single['rps']:.0f} with 1 profile", "-", "-"),
        ("IMDS p99", f"{many['p99']:.3f} ms ({p99_ratio:.2f}×)", f"{single['p99']:.3f} ms with 1 profile", "≤ 1.10×",
         "yes" if p99_ratio <= 1.10 else "NO"),
        ("SIGHUP changing one profile: CreateSessions", reloaded, "-", "exactly 1", "yes" if reloaded == 1 else "NO"),
    ]))


if __name__ == "__main__":
    sys.exit(main())
