"""What the packages and deployments rely on: systemd readiness (sd_notify, Type=notify),
tokens from a mounted Secret (--tokens-from), the container health check (`tessera health`),
and completions and man pages generated from the command line definitions."""

import re
import signal
import socket
import subprocess

from conftest import clean_env, free_port
from test_serve import request, start_anchor, start_serve, TA, PROFILE, ROLE, CERTS


def test_serve_tells_systemd_ready_reloading_and_stopping(tessera_bin, tmp_path):
    port = free_port()
    anchor = start_anchor(tessera_bin, tmp_path, port)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(20)
    args = [tessera_bin, "serve", "--certificate", str(CERTS / "leaf-p256.pem"), "--private-key", str(CERTS / "leaf-p256.key"),
            "--intermediates", str(CERTS / "intermediate.pem"), "--trust-anchor-arn", TA, "--profile-arn", PROFILE, "--role-arn", ROLE,
            "--endpoint", f"http://127.0.0.1:{port}", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
            "--token-dir", str(tmp_path / "tokens")]
    env = clean_env(NOTIFY_SOCKET=str(tmp_path / "notify.sock"))
    serve = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        ready = notify.recv(4096).decode()
        assert "READY=1" in ready and "STATUS=serving 1 profile(s)" in ready
        serve.send_signal(signal.SIGHUP)
        assert notify.recv(4096).decode().strip() == "RELOADING=1"
        assert notify.recv(4096).decode().strip() == "READY=1"
        serve.terminate()
        assert notify.recv(4096).decode().strip() == "STOPPING=1"
        assert serve.wait(timeout=10) == 0
    finally:
        serve.kill()
        anchor.stop()
        notify.close()


def test_tokens_from_a_mounted_secret_are_the_ecs_tokens(tessera_bin, tmp_path):
    port = free_port()
    anchor = start_anchor(tessera_bin, tmp_path, port)
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "default.token").write_text("k8s-secret-token-0123456789abcdef\n")
    serve = start_serve(tessera_bin, tmp_path, port, extra=["--tokens-from", str(secret)])
    try:
        status, _, body = request(serve, "GET", "/v1/credentials/default", {"Authorization": "k8s-secret-token-0123456789abcdef"})
        assert status == 200 and "AccessKeyId" in body
        assert request(serve, "GET", "/v1/credentials/default", {"Authorization": "another-token-0123456789"})[0] == 401
    finally:
        serve.stop()
        anchor.stop()


def test_a_missing_or_weak_secret_token_stops_serve_with_one_line(tessera_bin, tmp_path):
    base = [tessera_bin, "serve", "--certificate", str(CERTS / "leaf-p256.pem"), "--private-key", str(CERTS / "leaf-p256.key"),
            "--trust-anchor-arn", TA, "--profile-arn", PROFILE, "--role-arn", ROLE, "--endpoint", "http://127.0.0.1:9",
            "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--token-dir", str(tmp_path / "tokens"),
            "--tokens-from", str(tmp_path)]
    missing = subprocess.run(base, capture_output=True, text=True, env=clean_env(), timeout=30)
    assert missing.returncode == 1
    assert "cannot read the token of profile default" in missing.stderr and "default.token" in missing.stderr
    (tmp_path / "default.token").write_text("short\n")
    weak = subprocess.run(base, capture_output=True, text=True, env=clean_env(), timeout=30)
    assert weak.returncode == 1 and "at least 16 printable characters" in weak.stderr
    assert "short" not in weak.stderr


def test_health_exits_zero_only_for_a_healthy_admin_listener(tessera_bin, tmp_path):
    port = free_port()
    anchor = start_anchor(tessera_bin, tmp_path, port)
    serve = start_serve(tessera_bin, tmp_path, port)
    try:
        ok = subprocess.run([tessera_bin, "health", "--url", f"http://{serve.admin}/healthz"], capture_output=True, text=True, timeout=30)
        assert ok.returncode == 0, ok.stderr
        missing = subprocess.run([tessera_bin, "health", "--url", f"http://{serve.admin}/nowhere"], capture_output=True, text=True, timeout=30)
        assert missing.returncode == 1 and "404" in missing.stderr
    finally:
        serve.stop()
        anchor.stop()
    closed = subprocess.run([tessera_bin, "health", "--url", f"http://127.0.0.1:{free_port()}/healthz"], capture_output=True, text=True, timeout=30)
    assert closed.returncode == 1 and "is not healthy" in closed.stderr


def test_completions_and_man_pages_cover_every_subcommand(tessera_bin, tmp_path):
    help_text = subprocess.run([tessera_bin, "--help"], capture_output=True, text=True, check=True).stdout
    commands = re.findall(r"^  ([a-z][a-z-]+)  ", help_text.split("Commands:", 1)[1].split("\n\n", 1)[0], re.M)
    commands = [c for c in commands if c != "help"]
    assert len(commands) >= 16 and "credential-process" in commands, commands
    for shell in ("bash", "zsh", "fish"):
        script = subprocess.run([tessera_bin, "completions", shell], capture_output=True, text=True, check=True).stdout
        missing = [c for c in commands if c not in script]
        assert not missing and "trust-anchor-arn" in script, (shell, missing)
    bash = subprocess.run(["bash", "-n"], input=subprocess.run([tessera_bin, "completions", "bash"], capture_output=True, text=True).stdout,
                          capture_output=True, text=True)
    assert bash.returncode == 0, bash.stderr
    subprocess.run([tessera_bin, "man", "--dir", str(tmp_path / "man")], check=True)
    pages = {p.name for p in (tmp_path / "man").iterdir()}
    missing = [c for c in commands if f"tessera-{c}.1" not in pages]
    assert "tessera.1" in pages and not missing, missing
    assert ".SH NAME" in (tmp_path / "man/tessera-serve.1").read_text()
    assert subprocess.run([tessera_bin, "completions", "tcsh"], capture_output=True, text=True).returncode == 2