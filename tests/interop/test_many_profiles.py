"""serve with many profiles against the stub endpoint, which checks every CreateSession with the
independent verifier and records when it arrived: a cold start reaches the endpoint at most five
times in any second (the real service throttles), and a reload that changes one profile makes
exactly one CreateSession."""

import base64
import json
import re
import signal
import time

from test_serve import Process, profile_toml, request

PROFILES = 30


def profile(name, endpoint, session_name="same"):
    return profile_toml(name, None, endpoint=endpoint, extra=f'role-session-name = "{session_name}"\n')


# serve starts refreshes 210 ms apart, so six span at least 1.05 s. The stub times arrivals on a
# busy CI machine with up to about a tenth of a second of its own thread scheduling, so the test
# counts within 0.9 s windows; without pacing all 30 arrive within one.
WINDOW = 0.9


def most_in_one_second(times):
    times = sorted(times)
    return max(sum(1 for t in times[i:] if t < start + WINDOW) for i, start in enumerate(times))


def test_a_cold_start_is_paced_and_a_reload_of_one_profile_makes_one_create_session(tessera_bin, tmp_path, stub_factory):
    stub = stub_factory("--expires-in", "3600")
    names = [f"p{i:02}" for i in range(PROFILES)]
    config = tmp_path / "config.toml"
    config.write_text("".join(profile(name, stub.url) for name in names))
    args = [tessera_bin, "serve", "--config", str(config), "--all-profiles", "--listen", "127.0.0.1:0",
            "--admin-listen", "127.0.0.1:0", "--token-dir", str(tmp_path / "tokens")]
    log = tmp_path / "serve.log"
    serve = Process(args, log, lines=3)
    serve.address = re.search(r"listening on http://(\S+) ", serve.lines[0]).group(1)

    def answers(name):
        token = (tmp_path / "tokens" / f"{name}.token").read_text()
        return request(serve, "GET", f"/v1/credentials/{name}", {"Authorization": token})[0] == 200

    try:
        deadline = time.monotonic() + 60
        while not all(answers(name) for name in names):
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.5)
        cold = stub.requests()
        assert len(cold) == PROFILES, f"{len(cold)} CreateSessions for {PROFILES} profiles"
        stub.assert_all_verified(PROFILES)
        assert most_in_one_second([r["at"] for r in cold]) <= 5
        # Paced, not merely slow: the starts are close to the gap apart.
        assert max(r["at"] for r in cold) - min(r["at"] for r in cold) < PROFILES * 0.21 + 3

        config.write_text("".join(profile(name, stub.url, "changed" if name == "p07" else "same") for name in names))
        serve.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while "configuration reloaded" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.1)
        deadline = time.monotonic() + 20
        while len(stub.requests()) == PROFILES:
            assert time.monotonic() < deadline, "the changed profile made no CreateSession"
            time.sleep(0.1)
        time.sleep(3)  # any further CreateSession, from any profile, would have arrived by now
        after = stub.requests()[PROFILES:]
        assert len(after) == 1, f"{len(after)} CreateSessions after changing one profile"
        assert after[0]["verified"], after[0].get("reason")
        assert json.loads(base64.b64decode(after[0]["body"]))["roleSessionName"] == "changed"
        assert all(answers(name) for name in names)
    finally:
        serve.stop()
