"""The soak (issue 19): serve against the local anchor with 30-second sessions for ten minutes
(TESSERA_SOAK_SECONDS to change it), its IMDS and ECS endpoints sampled every 100 ms, while
the anchor goes away for short and long outages, comes back with its clock ten minutes off,
and both processes are suspended (libfaketime moves their wall clocks, not their monotonic
ones). No answer may be stale, and no answer may fail while safe credentials exist.

It is not collected with the other interop tests: tests/run starts it on its own, in the
background, as soon as the binary is built, so its ten minutes overlap the rest of the run."""

import datetime
import os
import re
import time
import urllib.request

from test_long_runs import faketime_env
from test_serve import ecs_get, request, start_anchor, start_serve
from conftest import free_port

SESSION = 30
# serve hands out credentials while more than a third of the session is left.
MARGIN = SESSION / 3
# Expiration has one-second resolution, a sample takes a moment, and right after a jump the
# faked clocks of serve and the anchor were seen up to 2 s from the sampler's (CI, under load).
SLACK = 2.5
# serve leaves a skew under 5 s uncorrected, so an expiry may read up to that much long; an
# uncorrected 10-minute skew reads 600 s long and still fails.
SKEW_NOISE = 5


class Anchor:
    """The local anchor, restarted on the same port, under the shared fake clock."""

    def __init__(self, tessera_bin, tmp, port, env):
        self.args = (tessera_bin, tmp, port)
        self.env = env
        self.process = None
        self.starts = 0

    def start(self, clock_offset=0):
        self.stop()
        self.starts += 1
        tmp = self.args[1] / f"anchor-{self.starts}"
        tmp.mkdir()
        extra = ["--clock-offset", str(clock_offset)] if clock_offset else []
        self.process = start_anchor(*self.args[:1], tmp, self.args[2], duration=SESSION, env=self.env, extra=extra)

    def stop(self):
        if self.process:
            self.process.stop()
            self.process = None


def schedule(length):
    """(second, what, argument) fault events, spread over `length` seconds."""
    at = lambda fraction: length * fraction
    return sorted([
        (at(0.10), "stop", None), (at(0.10) + 8, "start", 0),            # an outage credentials outlive
        (at(0.20), "suspend", 3600),                                     # an hour asleep
        (at(0.30), "stop", None), (at(0.30) + 45, "start", 0),           # an outage they do not
        (at(0.50), "stop", None), (at(0.50) + 1, "start", 600),          # the anchor's clock 10 min ahead
        (at(0.60), "suspend", 14 * 3600),                                # a night
        (at(0.70), "stop", None), (at(0.70) + 1, "start", -600),         # then 10 min behind
        (at(0.80), "stop", None), (at(0.80) + 1, "start", 0),
        (at(0.85), "suspend", 60),                                       # a minute
        (at(0.90), "stop", None), (at(0.90) + 15, "start", 0),
    ])


class Sampler:
    """Reads both endpoints and judges every answer by the fake clock."""

    def __init__(self, serve):
        self.serve = serve
        self.offset = 0
        self.imds_token = None
        self.best_expiry = None
        self.counts = {"ok": 0, "unavailable": 0}
        self.failures = []

    def now(self):
        return time.time() + self.offset

    def judge(self, endpoint, status, document):
        now = self.now()
        if status == 200:
            expiry = datetime.datetime.fromisoformat(document["Expiration"].replace("Z", "+00:00")).timestamp()
            left = expiry - now
            if not MARGIN - SLACK < left <= SESSION + SKEW_NOISE:
                self.failures.append(f"{endpoint}: credentials with {left:.1f} s left at offset {self.offset}")
            self.best_expiry = max(self.best_expiry or 0, expiry)
            self.counts["ok"] += 1
            return
        self.counts["unavailable"] += 1
        safe_left = (self.best_expiry or 0) - now
        if status != 503 or safe_left > MARGIN + SKEW_NOISE:
            self.failures.append(f"{endpoint}: HTTP {status} {document} while credentials with {safe_left:.1f} s left existed")

    def sample(self):
        status, document = ecs_get(self.serve)
        self.judge("ecs", status, document)
        if self.imds_token is None:
            self.imds_token = request(self.serve, "PUT", "/latest/api/token", {"x-aws-ec2-metadata-token-ttl-seconds": "21600"})[2]
        status, _, body = request(self.serve, "GET", "/latest/meta-data/iam/security-credentials/app",
                                  {"x-aws-ec2-metadata-token": self.imds_token})
        if status == 401:  # the token outlived by a suspend: ask for another, as SDKs do
            self.imds_token = None
            return
        import json
        self.judge("imds", status, json.loads(body))


def serve_refreshes(serve):
    with urllib.request.urlopen(f"http://{serve.admin}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(int(float(v)) for v in re.findall(r'tessera_credentials_refreshes_total\{[^}]*outcome="success"[^}]*\} (\S+)', text))


def test_serve_through_ten_minutes_of_outages_suspends_and_skew(tessera_bin, tmp_path):
    length = float(os.environ.get("TESSERA_SOAK_SECONDS", "600"))
    offset_file = tmp_path / "faketime"
    offset_file.write_text("+0\n")
    env = faketime_env(offset_file)
    anchor = Anchor(tessera_bin, tmp_path, free_port(), env)
    anchor.start()
    serve = start_serve(tessera_bin, tmp_path, anchor.args[2], env=env)
    sampler = Sampler(serve)
    events = schedule(length)
    started = time.monotonic()
    try:
        while (elapsed := time.monotonic() - started) < length:
            while events and events[0][0] <= elapsed:
                _, what, argument = events.pop(0)
                if what == "stop":
                    anchor.stop()
                elif what == "start":
                    anchor.start(argument)
                else:
                    sampler.offset += argument
                    offset_file.write_text(f"+{sampler.offset}\n")
            sampler.sample()
            time.sleep(0.1)
        refreshes = serve_refreshes(serve)
    finally:
        serve.stop()
        anchor.stop()
    print(f"soak: {length:.0f} s, {sampler.counts['ok']} good answers, {sampler.counts['unavailable']} unavailable, "
          f"{refreshes} refreshes, {len(sampler.failures)} failures")
    assert not sampler.failures, sampler.failures[:20]
    assert sampler.counts["unavailable"] > 0, "the long outage never ran the credentials out: the test did not test"
    assert sampler.counts["ok"] > length * 10, "too few good answers"
    # About one refresh a second is the schedule for 30-second sessions; a storm would be far more.
    assert refreshes < length * 2, f"{refreshes} refreshes in {length:.0f} s"
