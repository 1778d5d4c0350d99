#!/usr/bin/env python3
"""`tessera credential-process` latency, whole process, against baselines run in the same pass:
the process-spawn floor (a trivial Rust binary that prints one JSON line), the warm cache,
`--agent` answered from a running serve's memory over its socket, the cold path (one
CreateSession to the local anchor over TLS per call), and the Python alternative
(iam-rolesanywhere-session, one CreateSession per call). Timed by hyperfine; prints medians and
ratios. Needs target/release/tessera, .venv (tests/setup) and hyperfine."""

import json
import subprocess
import sys

from common import (CERTS, PROFILE, ROLE, ROOT, TA, TESSERA, Tessera, cache_dir, clean_env, ensure_release_build, identity_flags, scratch,
                    start_anchor, table, wait_until)

RUNS = 60
ROUNDS = 3
# The targets (issue 20): warm and --agent runs within 1.3x the spawn floor.
FLOOR_TARGET = 1.3


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
        serve, socket = start_agent(url, cafile)
        try:
            agent = " ".join([str(TESSERA), "credential-process", f"--agent={socket}"])
            rounds = [(hyperfine(floor_binary, clean_env()), hyperfine(command, warm_env), hyperfine(agent, clean_env()))
                      for _ in range(ROUNDS)]
        finally:
            serve.stop()
        floor = median_of([f for f, _, _ in rounds])
        warm = median_of([w for _, w, _ in rounds])
        from_agent = median_of([a for _, _, a in rounds])
        cold = hyperfine(command, cold_env)
        alternative = hyperfine(python, clean_env(), runs=20)
    finally:
        anchor.stop()
    met = lambda run: "yes" if run[0] / floor[0] <= FLOOR_TARGET else "NO"
    rows = [
        ("process-spawn floor (trivial Rust binary)", floor, "baseline", "-"),
        ("tessera, warm cache", warm, f"{warm[0] / floor[0]:.2f}x floor", f"≤ {FLOOR_TARGET}x floor: {met(warm)}"),
        ("tessera --agent, answered by serve over its socket", from_agent, f"{from_agent[0] / floor[0]:.2f}x floor",
         f"≤ {FLOOR_TARGET}x floor: {met(from_agent)}"),
        ("tessera, cold (CreateSession over TLS to the local anchor)", cold, f"{cold[0] / warm[0]:.1f}x warm", "-"),
        ("Python iam-rolesanywhere-session, one CreateSession per call", alternative, f"{alternative[0] / warm[0]:.0f}x warm",
         "≥ 20x warm: " + ("yes" if alternative[0] / warm[0] >= 20 else "NO")),
    ]
    print("### credential-process (whole process, P-256 key, hyperfine)\n")
    print(table(["command", "median ms", "mean ms", "ratio", "target"],
                [(name, f"{m:.2f}", f"{a:.2f}", r, t) for name, (m, a), r, t in rows]))


def start_agent(url, cafile):
    """serve with the test identity and its socket, for `credential-process --agent`."""
    tmp = scratch("agent")
    socket = tmp / "serve.sock"
    serve = Tessera(["serve", *identity_flags(url), "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                     "--token-dir", str(tmp / "tokens"), "--socket", str(socket)], env=clean_env(AWS_CA_BUNDLE=cafile), name="serve")
    asks = [str(TESSERA), "credential-process", f"--agent={socket}"]
    wait_until(lambda: subprocess.run(asks, capture_output=True, env=clean_env()).returncode == 0, "serve answering on its socket")
    return serve, socket


if __name__ == "__main__":
    sys.exit(main())
