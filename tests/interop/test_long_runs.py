"""Laptops and long runs through the real binary: a suspend (libfaketime moves the wall clock of
serve, update and the anchor, never their monotonic clocks), a DNS name whose address moves
between refreshes (a local resolver, seen through a private mount namespace), and a proxy
setting that appears and disappears on reload."""

import datetime
import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from conftest import CERTS, clean_env, free_port
from test_serve import PROFILE, ROLE, TA, Process, ecs_get, profile_toml, start_anchor, start_serve

HERE = Path(__file__).parent
FAKETIME_LIB = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1")


def faketime_env(offset_file):
    """libfaketime reading its offset from `offset_file` on every call; monotonic time stays real."""
    assert FAKETIME_LIB.exists(), f"{FAKETIME_LIB} is missing: tests/setup installs Debian's libfaketime"
    return {"LD_PRELOAD": str(FAKETIME_LIB), "FAKETIME_TIMESTAMP_FILE": str(offset_file), "FAKETIME_NO_CACHE": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


def seconds_left(document, offset=0.0):
    expiration = datetime.datetime.fromisoformat(document["Expiration"].replace("Z", "+00:00"))
    return (expiration - datetime.datetime.now(datetime.timezone.utc)).total_seconds() - offset


def anchor_successes(port, host="127.0.0.1"):
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as response:
        metrics = response.read().decode()
    match = re.search(r'tessera_anchor_create_session_total\{outcome="success"\} (\d+)', metrics)
    return int(match.group(1)) if match else 0


def wait_for(condition, describe, timeout):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, describe()
        time.sleep(0.1)
    return value


def key_in(path):
    if not path.exists():
        return None
    return next((line for line in path.read_text().splitlines() if line.startswith("aws_access_key_id")), None)


def test_a_suspend_is_noticed_at_once_and_nothing_it_expired_is_handed_out(tessera_bin, tmp_path):
    """Two hours asleep, as libfaketime tells it: the one-hour credentials held are expired by the
    wall clock while every timer (monotonic) still has most of its wait left."""
    offset = tmp_path / "faketime"
    offset.write_text("+0\n")
    env = faketime_env(offset)
    port = free_port()
    anchor = start_anchor(tessera_bin, tmp_path, port, env=env)
    serve = start_serve(tessera_bin, tmp_path, port, env=env)
    credentials_file = tmp_path / "credentials"
    update_log = tmp_path / "update.log"
    update = subprocess.Popen([tessera_bin, "update", "--aws-profile", "ra", "--credentials-file", str(credentials_file),
                               "--certificate", str(CERTS / "leaf-p256.pem"), "--private-key", str(CERTS / "leaf-p256.key"),
                               "--intermediates", str(CERTS / "intermediate.pem"), "--trust-anchor-arn", TA, "--profile-arn", PROFILE,
                               "--role-arn", ROLE, "--endpoint", f"http://127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=open(update_log, "w"), env=clean_env(**env))
    try:
        status, before = ecs_get(serve)
        assert status == 200 and seconds_left(before) > 3000, before
        key_before = wait_for(lambda: key_in(credentials_file), update_log.read_text, 20)
        offset.write_text("+7200\n")
        jumped = time.monotonic()
        while True:
            status, document = ecs_get(serve)
            if status == 200:
                assert document["AccessKeyId"] != before["AccessKeyId"], "serve handed out credentials the suspend expired"
                assert seconds_left(document, offset=7200) > 3000, document
                break
            assert status == 503 and document["code"] == "CredentialsUnavailable", document
            assert "after a suspend or a clock change" in document["message"], document
            assert time.monotonic() - jumped < 5, f"serve did not refresh after the jump: {serve.log.read_text()}"
            time.sleep(0.05)
        wait_for(lambda: key_in(credentials_file) != key_before, update_log.read_text, 5)
        for log in (serve.log, update_log):
            assert re.search(r"the wall clock moved (7199|7200|7201) s ahead of the monotonic clock", log.read_text()), log.read_text()
        time.sleep(3)
        assert anchor_successes(port) == 4, "serve and update each refresh once after the jump, and only once"
    finally:
        update.terminate()
        update.wait(timeout=10)
        serve.stop()
        anchor.stop()


NAME = "anchor.tessera.test"
RESOLVER = "127.0.83.53"
# The mount namespace gives serve its own /etc/resolv.conf (the test's resolver) and
# /etc/nsswitch.conf (files, then DNS), without touching the machine's.
IN_PRIVATE_ETC = 'mount --bind "$1" /etc/resolv.conf && mount --bind "$2" /etc/nsswitch.conf && shift 2 && exec "$@"'


def test_a_dns_name_whose_address_moves_is_resolved_again_and_the_dead_connection_replaced(tessera_bin, tmp_path):
    """serve talks to anchor.tessera.test: first at 127.0.0.2, then, after the name moves and
    the old anchor is gone (its pooled connection with it), at 127.0.0.3, with no failed refresh."""
    zone, queries = tmp_path / "zone.json", tmp_path / "queries.log"
    zone.write_text(json.dumps({NAME: "127.0.0.2"}))
    resolver = subprocess.Popen([sys.executable, str(HERE / "dns_stub.py"), "--listen", RESOLVER, "--zone", str(zone),
                                 "--log", str(queries)], stdout=subprocess.PIPE, text=True)
    started = [resolver]
    try:
        assert resolver.stdout.readline().strip() == "ready"
        (tmp_path / "resolv.conf").write_text(f"nameserver {RESOLVER}\noptions timeout:1 attempts:2\n")
        (tmp_path / "nsswitch.conf").write_text("hosts: files dns\n")
        port = free_port()
        (tmp_path / "old").mkdir()
        (tmp_path / "new").mkdir()
        # Reached by a name, which a loopback-only anchor refuses (DNS rebinding): the listeners
        # are loopback all the same.
        by_name = ["--insecure-allow-remote"]
        old = start_anchor(tessera_bin, tmp_path / "old", port, duration=12, host="127.0.0.2", extra=by_name)
        started.append(old.process)
        started.append(start_anchor(tessera_bin, tmp_path / "new", port, duration=12, host="127.0.0.3", extra=by_name).process)
        prefix = ["unshare", "--mount", "--propagation", "private", "sh", "-c", IN_PRIVATE_ETC, "sh",
                  str(tmp_path / "resolv.conf"), str(tmp_path / "nsswitch.conf")]
        serve = start_serve(tessera_bin, tmp_path, port, endpoint=f"http://{NAME}:{port}", prefix=prefix)
        started.append(serve.process)
        wait_for(lambda: anchor_successes(port, "127.0.0.2") >= 3, serve.log.read_text, 20)
        zone.write_text(json.dumps({NAME: "127.0.0.3"}))
        old.stop()
        deadline = time.monotonic() + 30
        while anchor_successes(port, "127.0.0.3") < 3:
            assert time.monotonic() < deadline, f"serve never reached the name's new address: {serve.log.read_text()}"
            status, document = ecs_get(serve)
            assert status == 200 and seconds_left(document) > 0, document
            time.sleep(0.2)
        assert "refresh failed" not in serve.log.read_text(), serve.log.read_text()
        lookups = [line for line in queries.read_text().splitlines() if line == f"{NAME} 1"]
        assert len(lookups) >= 2, f"the name was looked up {len(lookups)} time(s)"
    finally:
        for process in reversed(started):
            process.terminate()
            process.wait(timeout=10)


def test_a_proxy_setting_appearing_and_disappearing_on_reload_is_honoured(tessera_bin, stub_factory, tmp_path):
    """HTTPS_PROXY in serve's environment, then `https-proxy = ""` (no proxy), then the
    configuration's own proxy, each applied by a SIGHUP without a restart."""
    stub = stub_factory("--tls-cert", str(CERTS / "server.pem"), "--tls-key", str(CERTS / "server.key"))
    proxy_log = tmp_path / "proxy.log"
    proxy = subprocess.Popen([sys.executable, str(HERE / "connect_proxy.py"), "--log", str(proxy_log)], stdout=subprocess.PIPE, text=True)
    proxy_url = f"http://127.0.0.1:{int(proxy.stdout.readline())}"
    base = profile_toml("a", 0).replace("http://127.0.0.1:0", f"https://127.0.0.1:{stub.port}") + f'ca-bundle = "{CERTS}/root.pem"\n'
    config = tmp_path / "config.toml"
    config.write_text(base)
    args = [tessera_bin, "serve", "--config", str(config), "--all-profiles", "--listen", "127.0.0.1:0",
            "--admin-listen", "127.0.0.1:0", "--token-dir", str(tmp_path / "tokens")]
    serve = Process(args, tmp_path / "serve.log", lines=3, env={"HTTPS_PROXY": proxy_url})
    tunnels = lambda: len(proxy_log.read_text().splitlines()) if proxy_log.exists() else 0

    def reload_with(text, requests):
        config.write_text(text)
        serve.process.send_signal(signal.SIGHUP)
        wait_for(lambda: len(stub.requests()) >= requests, serve.log.read_text, 20)

    try:
        wait_for(lambda: len(stub.requests()) >= 1, serve.log.read_text, 20)
        assert tunnels() == 1, "HTTPS_PROXY from the environment is used"
        reload_with(base + 'https-proxy = ""\n', 2)
        assert tunnels() == 1, '`https-proxy = ""` goes direct despite HTTPS_PROXY'
        reload_with(base + f'https-proxy = "{proxy_url}"\n', 3)
        assert tunnels() == 2, "the configuration's proxy is used after the reload"
        config.write_text(base + 'https-proxy = "socks5://user:hunter2@proxy"\n')
        serve.process.send_signal(signal.SIGHUP)
        wait_for(lambda: "configuration reload failed" in serve.log.read_text(), serve.log.read_text, 10)
        log = serve.log.read_text()
        assert "https-proxy is not an http:// proxy URL" in log and "hunter2" not in log, log
        assert len(stub.requests()) == 3
    finally:
        serve.stop()
        proxy.terminate()
        proxy.wait(timeout=10)

