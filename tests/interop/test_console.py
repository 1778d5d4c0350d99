"""tessera console against the local anchor's emulated federation endpoint, followed by a real
browser (Debian's Chromium via playwright-core): the sign-in URL lands on the console page
naming the role and the person, and the same token is refused the second time."""

import json
import subprocess
import urllib.parse

import pytest

from conftest import HERE, clean_env
from test_login import ACCOUNT, device_login, person, anchor, idp  # noqa: F401 (fixtures)

JS = HERE / "js"


def open_pages(*urls):
    out = subprocess.run(["node", str(JS / "open_pages.mjs"), *urls], cwd=JS, capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


@pytest.fixture
def signed_in(person):
    code, _, err, _ = device_login(person, "alice", *person.first_login_args())
    assert code == 0, err
    return person


def console(person, *args):
    return person.run("console", "--profile", "dev", "--print",
                      "--federation-endpoint", f"{person.anchor.url}/federation", *args)


def test_the_console_url_signs_in_once_and_names_the_person(signed_in):
    out = console(signed_in, "--destination", "s3")
    assert out.returncode == 0, out.stderr
    url = out.stdout.strip()
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert query["Action"] == "login" and query["Issuer"] == "tessera"
    assert query["Destination"] == "https://us-east-1.console.aws.amazon.com/s3/home?region=us-east-1"
    assert query["SigninToken"] not in out.stderr
    first, second = open_pages(url, url)
    assert first["status"] == 200 and first["url"].endswith("/federation/console"), first
    assert f"arn:aws:sts::{ACCOUNT}:assumed-role/developer/" in first["text"]
    assert "CN=alice@example.com" in first["text"]
    assert "Sign out" in first["text"]
    assert second["status"] == 400 and "already been used" in second["text"], second


def test_session_duration_is_sent_and_a_bad_destination_is_one_line(signed_in):
    assert console(signed_in, "--duration", "3600").returncode == 0
    out = console(signed_in, "--destination", "https://evil.example/")
    assert out.returncode == 1
    assert out.stderr.splitlines()[-1] == ("tessera: --destination 'https://evil.example/' is not a console URL of this partition "
                                           "(https://…console.aws.amazon.com/…) or a known service (e.g. s3, ec2, iam, lambda)")


def test_credentials_the_endpoint_does_not_know_are_refused(signed_in, tmp_path):
    # A federation endpoint that never issued these credentials: another anchor.
    from test_login import Anchor
    other = Anchor(signed_in.bin, tmp_path / "other", {"issuer": signed_in.idp, "audiences": ["tessera"]})
    try:
        out = signed_in.run("console", "--profile", "dev", "--print", "--federation-endpoint", f"{other.url}/federation")
    finally:
        other.stop()
    assert out.returncode == 1
    assert "the federation endpoint did not issue a sign-in token" in out.stderr
    assert "The security token included in the request is invalid." in out.stderr
