"""serve's [[consumers]]: two local users on the Unix socket (the second through setpriv), each
granted its own profile and refused the other's; a token consumer over TCP; every attempt in the
audit log with who asked, and no secret there; per-consumer counters that promtool accepts."""

import json
import os
import re
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import NOBODY, clean_env, free_port, promtool_check, run_tessera
from test_serve import Process, profile_toml, start_anchor

TOKEN = "ci-runner-token-0123456789abcdef"


def curl(*args, runner=None):
    """curl printing the body, then the status on the last line."""
    command = ["curl", "-s", "-w", "\n%{http_code}", *args]
    out = runner(*command) if runner else subprocess.run(command, capture_output=True, text=True, timeout=30)
    body, _, status = out.stdout.rpartition("\n")
    return int(status), body


@pytest.fixture
def agent(tessera_bin, tmp_path, as_other_user):
    port = free_port()
    anchor = start_anchor(tessera_bin, tmp_path, port)
    # The socket's directory must be reachable by the second user; pytest's tmp_path is not.
    shared = Path(tempfile.mkdtemp(prefix="tessera-consumers-"))
    shared.chmod(0o755)
    token = tmp_path / "ci.token"
    token.write_text(TOKEN + "\n")
    config = tmp_path / "config.toml"
    config.write_text(f'audit-log = "{tmp_path / "audit.log"}"\n' + profile_toml("a", port) + profile_toml("b", port) + f"""
[[consumers]]
name = "root-app"
profiles = ["a"]
uid = 0

[[consumers]]
name = "nobody-app"
profiles = ["b"]
uid = {NOBODY}
executable = "/usr/bin/curl"

[[consumers]]
name = "ci"
profiles = ["a"]
token-file = "{token}"
""")
    socket = shared / "tessera.sock"
    serve = Process([tessera_bin, "serve", "--config", str(config), "--all-profiles", "--listen", "127.0.0.1:0",
                     "--admin-listen", "127.0.0.1:0", "--token-dir", str(tmp_path / "tokens"),
                     "--socket", str(socket), "--socket-group", str(NOBODY)], tmp_path / "serve.log", lines=5)
    serve.address, serve.admin = re.search(r"listening on http://(\S+) .* admin on http://(\S+)", serve.lines[0]).groups()
    serve.socket, serve.audit, serve.run_as_other, serve.bin = socket, tmp_path / "audit.log", as_other_user, tessera_bin
    assert "socket: the ECS API on" in serve.lines[4], serve.lines
    deadline = time.monotonic() + 20
    while curl(f"http://{serve.admin}/readyz")[0] != 200:
        assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
        time.sleep(0.1)
    yield serve
    serve.stop()
    anchor.stop()
    subprocess.run(["rm", "-rf", str(shared)], check=False)


def test_each_consumer_gets_its_own_profile_and_a_403_for_the_others(agent):
    url = lambda profile: f"http://localhost/v1/credentials/{profile}"
    mine = curl("--unix-socket", str(agent.socket), url("a"))
    assert mine[0] == 200 and json.loads(mine[1])["AccessKeyId"].startswith("ASIA"), mine
    theirs = curl("--unix-socket", str(agent.socket), url("b"))
    assert theirs[0] == 403 and json.loads(theirs[1]) == {"code": "Forbidden", "message": "consumer 'root-app' is not granted this profile"}, theirs
    # A profile that does not exist gets the very same answer: nothing about other profiles leaks.
    assert curl("--unix-socket", str(agent.socket), url("nonexistent")) == theirs

    other = agent.run_as_other
    assert curl("--unix-socket", str(agent.socket), url("b"), runner=other)[0] == 200
    refused = curl("--unix-socket", str(agent.socket), url("a"), runner=other)
    assert refused[0] == 403 and "consumer 'nobody-app' is not granted this profile" in refused[1], refused

    lines = [json.loads(line) for line in agent.audit.read_text().splitlines()]
    socket_lines = [line for line in lines if line["channel"] == "socket"]
    attempts = [(line["consumer"], line["profile"], line["event"]) for line in socket_lines]
    assert attempts == [("root-app", "a", "credentials"), ("root-app", "b", "refused"), ("root-app", "nonexistent", "refused"),
                        ("nobody-app", "b", "credentials"), ("nobody-app", "a", "refused")], attempts
    for line in socket_lines:
        assert line["uid"] in (0, NOBODY) and line["pid"] > 0 and line["executable"] == "/usr/bin/curl", line
        if line["event"] == "credentials":
            assert line["access_key_id"].startswith("ASIA") and line["role_arn"].endswith(":role/app") and line["expiration"], line
        else:
            assert "is not granted this profile" in line["reason"], line
    refreshes = [line for line in lines if line["event"] == "refresh" and line["outcome"] == "success"]
    assert {line["profile"] for line in refreshes} == {"a", "b"}
    for line in refreshes:
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", line["request_id"]), line
        assert line["serial"] == "0123456789abcdef01" and line["access_key_id"].startswith("ASIA"), line
    printed = run_tessera(agent.bin, ["audit", "--file", str(agent.audit), "--consumer", "nobody-app", "--since", "1h"])
    assert printed.returncode == 0, printed.stderr
    rows = printed.stdout.splitlines()
    assert len(rows) == 2 and " credentials " in rows[0] and " refused " in rows[1] and f"uid {NOBODY}" in rows[0], rows
    assert "consumer 'nobody-app' is not granted this profile" in rows[1], rows
    secret = json.loads(mine[1])
    text = agent.audit.read_text()
    assert secret["SecretAccessKey"] not in text and secret["Token"] not in text
    assert oct(agent.audit.stat().st_mode & 0o777) == "0o600"


def test_a_token_consumer_over_tcp_and_the_counters(agent):
    url = f"http://{agent.address}/v1/credentials"
    assert curl("-H", f"Authorization: {TOKEN}", f"{url}/a")[0] == 200
    assert curl("-H", f"Authorization: {TOKEN}", f"{url}/b")[0] == 403
    # The per-profile tokens of a serve without consumers no longer open anything.
    profile_token = (Path(agent.log).parent / "tokens" / "a.token").read_text()
    assert curl("-H", f"Authorization: {profile_token}", f"{url}/a")[0] == 401
    with urllib.request.urlopen(f"http://{agent.admin}/metrics", timeout=5) as response:
        metrics = promtool_check(response.read().decode())
    assert 'tessera_consumer_fetches_total{consumer="ci",profile="a",outcome="granted"} 1' in metrics
    assert 'tessera_consumer_fetches_total{consumer="ci",profile="b",outcome="refused"} 1' in metrics
    lines = [json.loads(line) for line in agent.audit.read_text().splitlines() if '"channel":"ecs"' in line]
    assert [(line.get("consumer"), line["event"]) for line in lines] == [("ci", "credentials"), ("ci", "refused"), (None, "refused")]
    assert all(re.fullmatch(r"127\.0\.0\.1:\d+", line["remote"]) for line in lines)


def test_imds_with_consumers_needs_a_host_wide_opt_in(tessera_bin, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(profile_toml("a", 9) + '[[consumers]]\nname = "x"\nprofiles = ["a"]\nuid = 0\n')
    out = run_tessera(tessera_bin, ["serve", "--config", str(config), "--all-profiles", "--imds=a", "--listen", "127.0.0.1:0",
                                    "--admin-listen", "127.0.0.1:0", "--token-dir", str(tmp_path / "tokens")])
    assert out.returncode == 1
    assert out.stderr.splitlines()[0] == ("tessera: IMDS is on for profile a, but with [[consumers]] declared it needs one with "
                                          "imds = true that is granted a (IMDS cannot tell local processes apart)"), out.stderr


def test_every_one_shot_channel_writes_an_audit_line(tessera_bin, tmp_path):
    port = free_port()
    anchor = start_anchor(tessera_bin, tmp_path, port)
    audit = tmp_path / "audit.log"
    config = tmp_path / "config.toml"
    config.write_text(f'audit-log = "{audit}"\n' + profile_toml("a", port))
    common = ["--config", str(config), "--profile", "a"]
    try:
        for args in (["credential-process", *common], ["exec", *common, "--", "true"],
                     ["update", "--once", "--credentials-file", str(tmp_path / "credentials"), *common],
                     ["console", *common, "--print", "--federation-endpoint", f"http://127.0.0.1:{port}/federation"]):
            out = run_tessera(tessera_bin, args)
            assert out.returncode == 0, (args, out.stderr)
    finally:
        anchor.stop()
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [line["channel"] for line in lines] == ["process", "exec", "update", "console"]
    for line in lines:
        assert line["event"] == "credentials" and line["profile"] == "a" and line["role_arn"].endswith(":role/app"), line
        assert line["uid"] == os.geteuid() and line["pid"] > 0 and line["executable"] == str(Path(tessera_bin).resolve()), line
        assert line["access_key_id"].startswith("ASIA") and line["expiration"].endswith("Z"), line
    assert "SecretAccessKey" not in audit.read_text()


def test_the_proxy_audits_what_it_refuses(tessera_bin, tmp_path):
    audit = tmp_path / "audit.log"
    proxy = subprocess.Popen([tessera_bin, "proxy", "--credentials", "env", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                              "--upstream", "http://127.0.0.1:9", "--audit-log", str(audit)], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True,
                             env=clean_env(AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE", AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"))
    try:
        address = re.search(r"listening on http://(\S+),", proxy.stdout.readline()).group(1)
        assert curl("-H", "Origin: http://evil.example", f"http://{address}/")[0] == 403
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)
    (line,) = [json.loads(text) for text in audit.read_text().splitlines()]
    assert line["event"] == "refused" and line["channel"] == "proxy" and re.fullmatch(r"127\.0\.0\.1:\d+", line["remote"]), line
    assert line["reason"] == "requests from web browsers are refused; a browser app needs require-token", line
    assert "wJalrXUtnFEMI" not in audit.read_text()


def test_audit_records_reach_a_real_journald(tessera_bin, tmp_path, as_other_user):
    """`audit-log = "journal"`: Debian's systemd-journald, started in a private mount namespace
    with its own /run, receives the record; journalctl reads its fields back."""
    assert Path("/lib/systemd/systemd-journald").exists(), "systemd-journald is missing (Debian's systemd package)"
    port = free_port()
    anchor = start_anchor(tessera_bin, tmp_path, port)
    config = tmp_path / "config.toml"
    config.write_text(profile_toml("a", port))
    script = f"""set -e
mount -t tmpfs none /run
mkdir -p /run/systemd/journal
/lib/systemd/systemd-journald &
for i in $(seq 100); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
TESSERA_AUDIT_LOG=journal TESSERA_CACHE=none {tessera_bin} credential-process --config {config} --profile a > {tmp_path}/out.json
for i in $(seq 100); do journalctl -D /run/log/journal -o json --no-pager SYSLOG_IDENTIFIER=tessera > {tmp_path}/journal.json; [ -s {tmp_path}/journal.json ] && break; sleep 0.05; done
kill $!
"""
    try:
        out = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], capture_output=True, text=True,
                             env=clean_env(), timeout=60)
    finally:
        anchor.stop()
    assert out.returncode == 0, out.stderr
    credentials = json.loads((tmp_path / "out.json").read_text())
    (entry,) = [json.loads(line) for line in (tmp_path / "journal.json").read_text().splitlines()]
    assert entry["MESSAGE"] == "audit: credentials process profile a", entry
    assert entry["TESSERA_EVENT"] == "credentials" and entry["TESSERA_CHANNEL"] == "process" and entry["_TRANSPORT"] == "journal"
    assert entry["TESSERA_ACCESS_KEY_ID"] == credentials["AccessKeyId"] and entry["TESSERA_ROLE_ARN"].endswith(":role/app")
    assert entry["TESSERA_UID"] == "0" and entry["TESSERA_PID"] == entry["_PID"]
    assert credentials["SecretAccessKey"] not in json.dumps(entry) and credentials["SessionToken"] not in json.dumps(entry)
