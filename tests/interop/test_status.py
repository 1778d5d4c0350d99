"""serve's status page: Debian's Chromium (playwright-core) loads /status at 1280×800 with a
certificate that expires in 3 days; the page names the profiles, counts down the credentials'
expiry, flags the certificate, requests nothing but itself, and is kept as a screenshot. A
foreign Origin or Host is refused; `tessera status` prints the same in a terminal."""

import json
import re
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import HERE, clean_env, run_tessera
from test_serve import Process

RESULTS = HERE.parent.parent / "target" / "test-results"


@pytest.fixture
def short_lived(tessera_bin, tmp_path):
    """A local CA, a leaf that expires in 3 days, the anchor on that CA, and serve."""
    ca = tmp_path / "ca"
    for args in (["init"], ["issue", "--cn", "alice", "--days", "3"]):
        subprocess.run([tessera_bin, "ca", "--dir", str(ca), *args], check=True, capture_output=True, env=clean_env())
    anchor = Process([tessera_bin, "anchor", "--ca-dir", str(ca), "--listen", "127.0.0.1:0"], tmp_path / "anchor.log")
    anchor_url = re.search(r"listening on (\S+)", anchor.lines[0]).group(1)
    arn = "arn:aws:rolesanywhere:us-east-1:123456789012"
    config = tmp_path / "config.toml"
    config.write_text(f'audit-log = "{tmp_path / "audit.log"}"\n' + "".join(f"""
[profiles.{name}]
certificate = "{ca / 'alice.pem'}"
private-key = "{ca / 'alice.key'}"
trust-anchor-arn = "{arn}:trust-anchor/local"
profile-arn = "{arn}:profile/local"
role-arn = "arn:aws:iam::123456789012:role/local"
endpoint = "{anchor_url}"
""" for name in ("web", "batch")))
    serve = Process([tessera_bin, "serve", "--config", str(config), "--all-profiles", "--listen", "127.0.0.1:0",
                     "--admin-listen", "127.0.0.1:0", "--token-dir", str(tmp_path / "tokens")], tmp_path / "serve.log", lines=4)
    serve.admin = re.search(r"admin on http://(\S+)", serve.lines[0]).group(1)
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(f"http://{serve.admin}/readyz", timeout=2):
                break
        except (urllib.error.HTTPError, OSError):
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.1)
    yield serve
    serve.stop()
    anchor.stop()


def test_chromium_sees_the_profiles_the_countdown_and_the_certificate_warning(short_lived):
    RESULTS.mkdir(parents=True, exist_ok=True)
    screenshot = RESULTS / "status-page.png"
    url = f"http://{short_lived.admin}/status"
    out = subprocess.run(["node", str(HERE / "js" / "status_page.mjs"), url, str(screenshot)], cwd=HERE / "js",
                         capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out.stderr
    page = json.loads(out.stdout)
    assert page["status"] == 200
    assert "web" in page["text"] and "batch" in page["text"] and "fresh" in page["text"]
    assert len(page["countdowns"]) == 2 and all(re.fullmatch(r"in (\d+ h \d+ min|\d+ min \d+ s)", c) for c in page["countdowns"]), page
    assert len(page["warnings"]) == 2 and all(re.search(r"\(expires in 2 d 23 h\)", w) for w in page["warnings"]), page
    assert page["requests"] == [url], page["requests"]
    assert page["csp"].startswith("default-src 'none'; style-src 'sha256-") and page["console"] == [], page
    assert screenshot.stat().st_size > 10_000


def request(url, **headers):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_a_foreign_origin_or_host_is_refused_and_the_json_has_no_secret(short_lived):
    url = f"http://{short_lived.admin}/status"
    assert request(url, Origin="http://evil.example")[0] == 403
    assert request(url, **{"Sec-Fetch-Site": "cross-site"})[0] == 403
    assert request(url, Host="evil.example")[0] == 403
    assert request(url, Origin=f"http://{short_lived.admin}", **{"Sec-Fetch-Site": "same-origin"})[0] == 200
    status, body = request(f"{url}.json")
    assert status == 200
    report = json.loads(body)
    assert [p["name"] for p in report["profiles"]] == ["batch", "web"]
    assert all(p["certificate_warning"] and p["health"] == "fresh" for p in report["profiles"])
    assert all(p["last_refresh"]["outcome"] == "success" for p in report["profiles"])
    assert {line["event"] for line in report["audit_tail"]} == {"refresh"}
    for word in ("SecretAccessKey", "SessionToken", "Token\""):
        assert word not in body


def test_tessera_status_prints_the_same(tessera_bin, short_lived):
    out = run_tessera(tessera_bin, ["status", "--url", f"http://{short_lived.admin}"])
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("profile batch: fresh; credentials expire in "), lines
    assert re.search(r"certificate NotAfter \S+ \(expires in 2 d 23 h\), WARNING: renew it$", lines[0]), lines
    assert lines[1].startswith("  last refresh ") and " success; next " in lines[1], lines
    out = run_tessera(tessera_bin, ["status", "--url", "http://127.0.0.1:9"])
    assert out.returncode == 1 and out.stderr.startswith("tessera: cannot read serve's status at http://127.0.0.1:9/status.json"), out.stderr
