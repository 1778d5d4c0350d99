#!/usr/bin/env python3
"""`tessera credential-process` latency, whole process, against baselines run in the same pass:
the process-spawn floor (a trivial Rust binary that prints one JSON line), the warm cache, the
cold path (one CreateSession to the local anchor over TLS per call), and the Python alternative
(iam-rolesanywhere-session, one CreateSession per call). Timed by hyperfine; prints medians and
ratios. Needs target/release/tessera, .venv (tests/setup) and hyperfine."""

import json
import subprocess
import sys

from common import CERTS, PROFILE, ROLE, ROOT, TA, TESSERA, cache_dir, clean_env, ensure_release_build, identity_flags, scratch, start_anchor, table

RUNS = 60
ROUNDS = 3


def hyperfine(command, env, runs=RUNS):
    """Median and mean wall time in ms of `command` (no shell)."""
    out = scratch("hyperfine") / "result.json"
    subprocess.run(["hyperfine", "--style", "none", "-N", "--warmup", "3", "--runs", str(runs), "--export-json", str(out), command],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    result = json.loads(out.read_text())["results"][0]
    if result.get("exit_codes") and any(result["exit_codes"]):
        raise SystemExit(f"bench: '{command}' failed")
    return result["median"] * 1000, result["mean"] * 1000


def median_of(results):
    """The (median, mean) pair whose median is the median of `results`."""
    return sorted(results)[len(results) // 2]


def spawn_floor():
    """Builds the trivial Rust binary: print a credential_process-shaped JSON line and exit."""
    tmp = scratch("floor")
    (tmp / "floor.rs").write_text('fn main() { println!("{{\\"Version\\":1,\\"AccessKeyId\\":\\"ASIA\\"}}"); }\n')
    subprocess.run(["rustc", "-O", "-C", "strip=symbols", "-o", str(tmp / "floor"), str(tmp / "floor.rs")], check=True)
    return str(tmp / "floor")


def main():
    ensure_release_build()
    anchor, url, cafile = start_anchor(tls=True)
    try:
        command = " ".join([str(TESSERA), "credential-process", *identity_flags(url)])
        cache = cache_dir("cache")
        warm_env = clean_env(AWS_CA_BUNDLE=cafile, TESSERA_CACHE_DIR=str(cache))
        cold_env = clean_env(AWS_CA_BUNDLE=cafile, TESSERA_CACHE="none")
        python = " ".join([str(ROOT / ".venv/bin/python"), str(ROOT / "bench/python_create_session.py"), str(CERTS / "leaf-p256.pem"),
                           str(CERTS / "leaf-p256.key"), str(CERTS / "intermediate.pem"), TA, PROFILE, ROLE, url.removeprefix("https://"), cafile])
        # The floor and the warm path alternate, so drift on a shared machine hits both alike.
        floor_binary = spawn_floor()
        rounds = [(hyperfine(floor_binary, clean_env()), hyperfine(command, warm_env)) for _ in range(ROUNDS)]
        floor = median_of([f for f, _ in rounds])
        warm = median_of([w for _, w in rounds])
        cold = hyperfine(command, cold_env)
        alternative = hyperfine(python, clean_env(), runs=20)
    finally:
        anchor.stop()
    rows = [
        ("process-spawn floor (trivial Rust binary)", floor, "baseline"),
        ("tessera, warm cache", warm, f"{warm[0] / floor[0]:.2f}x floor"),
        ("tessera, cold (CreateSession over TLS to the local anchor)", cold, f"{cold[0] / warm[0]:.1f}x warm"),
        ("Python iam-rolesanywhere-session, one CreateSession per call", alternative, f"{alternative[0] / warm[0]:.0f}x warm"),
    ]
    print("### credential-process (whole process, P-256 key, hyperfine)\n")
    print(table(["command", "median ms", "mean ms", "ratio"], [(name, f"{m:.2f}", f"{a:.2f}", r) for name, (m, a), r in rows]))


if __name__ == "__main__":
    sys.exit(main())
