"""tessera login against real peers: oidc-provider (a certified OpenID provider, npm) as the
identity provider, Debian's Chromium driven by playwright-core as the person's browser, the
local anchor's enrolment CA, Python cryptography reading the issued certificate, and the AWS
CLI using the resulting profile. Tokens minted here with cryptography check the enrolment
CA's verdicts against an issuer that tessera never saw while it was written."""

import base64
import json
import re
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from conftest import HERE, clean_env, free_port, wait_until_answers

JS = HERE / "js"
ACCOUNT = "123456789012"
TA = f"arn:aws:rolesanywhere:us-east-1:{ACCOUNT}:trust-anchor/people"
PROFILE_ARN = f"arn:aws:rolesanywhere:us-east-1:{ACCOUNT}:profile/people"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/developer"


def start_idp(*flags):
    port = free_port()
    process = subprocess.Popen(["node", str(JS / "idp.mjs"), str(port), *flags], cwd=JS,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = process.stdout.readline()
    assert line.startswith("ready "), f"oidc-provider did not start: {line!r}"
    return process, line.split()[1]


@pytest.fixture(scope="module")
def idp():
    process, issuer = start_idp()
    yield issuer
    process.terminate()
    process.wait(timeout=10)


def anchor_config(directory, enrolment):
    lines = [f'accountId = "{ACCOUNT}"', 'region = "us-east-1"', "",
             "[[trustAnchors]]", f'arn = "{TA}"', 'certificates = ["ca/root.pem"]', "",
             "[[profiles]]", f'arn = "{PROFILE_ARN}"', f'roleArns = ["{ROLE}"]', "",
             "[[roles]]", f'arn = "{ROLE}"', "", "[enrolment]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in enrolment.items()]
    path = directory / "anchor.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


class Anchor:
    def __init__(self, tessera_bin, directory, enrolment):
        directory.mkdir(parents=True, exist_ok=True)
        subprocess.run([tessera_bin, "ca", "--dir", str(directory / "ca"), "init"], check=True,
                       capture_output=True, env=clean_env())
        config = anchor_config(directory, enrolment)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = directory / "anchor.log"
        self.process = subprocess.Popen(
            [tessera_bin, "anchor", "--config", str(config), "--ca-dir", str(directory / "ca"),
             "--listen", f"127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=self.log.open("w"), env=clean_env())
        wait_until_answers(f"{self.url}/metrics", "the anchor")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def anchor(tessera_bin, idp, tmp_path_factory):
    running = Anchor(tessera_bin, tmp_path_factory.mktemp("anchor"),
                     {"issuer": idp, "audiences": ["tessera"], "allowedEmailDomains": ["example.com"]})
    yield running
    running.stop()


class Person:
    """One developer's machine: its own HOME, config, data and cache directories."""

    def __init__(self, tessera_bin, home, idp, anchor):
        self.bin, self.home, self.idp, self.anchor = tessera_bin, home, idp, anchor
        self.aws_config = home / ".aws" / "config"
        self.config = home / ".config" / "tessera" / "config.toml"
        self.data = home / ".local" / "share" / "tessera" / "login"
        self.cache = home / ".cache" / "tessera"
        # A command prefix (keyctl session NAME) and variables (a token's PIN) every run gets.
        self.prefix = []
        self.extra = {}

    def env(self, **extra):
        return clean_env(HOME=str(self.home), AWS_CONFIG_FILE=str(self.aws_config),
                         XDG_CONFIG_HOME=str(self.home / ".config"),
                         XDG_DATA_HOME=str(self.home / ".local" / "share"),
                         XDG_CACHE_HOME=str(self.home / ".cache"), **self.extra, **extra)

    def first_login_args(self):
        return ["--issuer", self.idp, "--client-id", "tessera", "--enrol-url", self.anchor.url,
                "--trust-anchor-arn", TA, "--profile-arn", PROFILE_ARN, "--role-arn", ROLE,
                "--region", "us-east-1", "--endpoint", self.anchor.url]

    def start_login(self, *args, profile="dev"):
        return subprocess.Popen([*self.prefix, self.bin, "login", "--profile", profile, *args],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env())

    def run(self, *args):
        return subprocess.run([*self.prefix, self.bin, *args], capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL, env=self.env())


@pytest.fixture
def person(tessera_bin, tmp_path, idp, anchor):
    home = tmp_path / "home"
    home.mkdir()
    return Person(tessera_bin, home, idp, anchor)


def read_until(stream, pattern, seen):
    """Reads lines until one matches; returns the match."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        found = re.search(pattern, line)
        if found:
            return found
    raise AssertionError(f"no line matching {pattern!r} in {''.join(seen)!r}")


def finish(process, seen):
    """The exit code, stdout and all of stderr (the lines already read, then the rest)."""
    err = process.stderr.read()
    out = process.stdout.read()
    process.wait(timeout=60)
    return process.returncode, out, "".join(seen) + err


def browse(url, login, *flags):
    return subprocess.run(["node", str(JS / "browser_sign_in.mjs"), url, login, *flags], cwd=JS,
                          capture_output=True, text=True, timeout=90)


def browser_login(person, login="alice", *extra, deny=False):
    process = person.start_login("--no-browser", *extra)
    seen = []
    url = read_until(process.stderr, r"(http://127\.0\.0\.1:\d+/auth\?\S+)", seen).group(1)
    driven = browse(url, login, *(["--deny"] if deny else []))
    return (*finish(process, seen), driven)


def device_login(person, login="alice", *extra):
    process = person.start_login("--device", *extra)
    seen = []
    url = read_until(process.stderr, r"or open (http\S+)", seen).group(1)
    driven = browse(url, login)
    return (*finish(process, seen), driven)


def issued_certificate(person, profile="dev"):
    return x509.load_pem_x509_certificate((person.data / profile / "certificate.pem").read_bytes())


def test_browser_login_gives_a_profile_the_aws_cli_uses(person, anchor):
    code, out, err, driven = browser_login(person, "alice", *person.first_login_args())
    assert driven.returncode == 0, driven.stderr
    assert "Signed in." in driven.stdout
    assert code == 0, err
    assert "signed in as alice@example.com" in out
    assert f"role: arn:aws:sts::{ACCOUNT}:assumed-role/developer/" in out
    for step in ("waiting for the browser", "enrolling a new key", "proving it"):
        assert step in err
    cli = subprocess.run(["aws", "sts", "get-caller-identity", "--profile", "dev",
                          "--endpoint-url", anchor.url, "--region", "us-east-1", "--output", "json"],
                         capture_output=True, text=True, timeout=60, env=person.env())
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["Arn"].startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/developer/")
    granted = [l for l in anchor.log.read_text().splitlines() if "CreateSession granted" in l]
    # login's proof and the AWS CLI's credential_process: both name the person.
    assert len(granted) >= 2, granted
    assert all("source_identity=CN=alice@example.com" in l for l in granted)


def test_device_login_issues_a_short_lived_certificate_naming_the_person(person, idp):
    person.run("logout", "--profile", "dev")
    code, out, err, driven = device_login(person, "alice", *person.first_login_args())
    assert driven.returncode == 0, driven.stderr
    assert code == 0, err
    assert "to sign in, open" in err and "enter the code" in err
    cert = issued_certificate(person)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "alice@example.com"
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)] == ["developers"]
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.UniformResourceIdentifier) == [f"{idp}/alice"]
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert 12 * 3600 <= lifetime.total_seconds() <= 12 * 3600 + 600
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    key = serialization.load_pem_private_key((person.data / "dev" / "key.pem").read_bytes(), None)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()
    assert oct((person.data / "dev" / "key.pem").stat().st_mode & 0o777) == "0o600"
    status = person.run("login", "--profile", "dev", "--status")
    assert status.returncode == 0, status.stderr
    assert "alice@example.com" in status.stdout and "(valid)" in status.stdout


def test_logout_leaves_no_key_certificate_cache_entry_or_line(person):
    person.aws_config.parent.mkdir(parents=True)
    before = "# my settings\n[profile other]\nregion = eu-west-1\n"
    person.aws_config.write_text(before)
    person.config.parent.mkdir(parents=True)
    person.config.write_text("# mine\n[profiles.keep]\nregion = \"eu-west-1\"\n")
    code, _, err, _ = device_login(person, "alice", *person.first_login_args())
    assert code == 0, err
    warm = subprocess.run([person.bin, "credential-process", "--profile", "dev"], capture_output=True,
                          text=True, env=person.env(TESSERA_CACHE="file"), timeout=60)
    assert warm.returncode == 0, warm.stderr
    assert list(person.cache.glob("*.json")), "credential-process cached an entry"
    out = person.run("logout", "--profile", "dev")
    assert out.returncode == 0, out.stderr
    assert not (person.data / "dev").exists()
    assert not list(person.cache.glob("*.json"))
    assert person.aws_config.read_text() == before
    assert person.config.read_text() == "# mine\n[profiles.keep]\nregion = \"eu-west-1\"\n"


def test_denied_consent_is_one_line_and_leaves_no_key(person):
    code, _, err, _ = browser_login(person, "alice", *person.first_login_args(), deny=True)
    assert code == 1
    assert "tessera: the identity provider refused the sign-in: access_denied" in err
    assert not person.data.exists() and not person.config.exists()


def test_a_redirect_with_another_state_is_refused(person):
    process = person.start_login("--no-browser", *person.first_login_args())
    seen = []
    url = read_until(process.stderr, r"(http://127\.0\.0\.1:\d+/auth\?\S+)", seen).group(1)
    redirect = urllib.parse.unquote(re.search(r"redirect_uri=([^&]+)", url).group(1))
    with urllib.request.urlopen(f"{redirect}?code=forged&state=not-the-state", timeout=10) as page:
        assert page.status == 200
    code, _, err = finish(process, seen)
    assert code == 1
    assert "different 'state' than tessera sent" in err
    assert not person.data.exists()


def test_a_browser_that_never_returns_times_out(person):
    process = person.start_login("--no-browser", "--browser-timeout", "1", *person.first_login_args())
    _, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert "the browser did not return to tessera within 1 s" in err


def test_a_taken_loopback_port_is_named(person):
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = person.start_login("--no-browser", "--redirect-port", str(port), *person.first_login_args())
        _, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port} for the sign-in redirect" in err


def test_an_unreachable_idp_and_an_unknown_client_are_named(person):
    dead = f"http://127.0.0.1:{free_port()}"
    args = person.first_login_args()
    args[1] = dead
    out = person.run("login", "--profile", "dev", "--device", *args)
    assert out.returncode == 1
    assert out.stderr.splitlines()[-1].startswith("tessera: cannot read the identity provider's discovery document: cannot reach")
    args = person.first_login_args()
    args[3] = "no-such-client"
    out = person.run("login", "--profile", "dev", "--device", *args)
    assert out.returncode == 1
    assert "cannot start the device sign-in" in out.stderr and "invalid_client" in out.stderr


def test_the_ca_refuses_an_email_domain_it_does_not_allow(person):
    code, _, err, _ = device_login(person, "bob@other.org", *person.first_login_args())
    assert code == 1
    assert "the enrolment CA refused the certificate request" in err
    assert "the email domain of 'bob@other.org' is not allowed" in err
    assert not (person.data / "dev").exists()


class FixedAnswers:
    """A loopback HTTP server answering each path with a fixed (status, JSON body)."""

    def __init__(self, answers):
        class Handler(BaseHTTPRequestHandler):
            def answer(self):
                status, body = answers.get(self.path.split("?")[0], (404, {"message": "no such path"}))
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def stop(self):
        self.server.shutdown()


def test_a_broken_discovery_document_is_named(person):
    broken = FixedAnswers({"/.well-known/openid-configuration": (200, b"{not json")})
    try:
        args = person.first_login_args()
        args[1] = broken.url
        out = person.run("login", "--profile", "dev", "--device", *args)
    finally:
        broken.stop()
    assert out.returncode == 1
    last = out.stderr.splitlines()[-1]
    assert last.startswith(f"tessera: cannot read the identity provider's discovery document: {broken.url}/.well-known/openid-configuration answered with a document that is not the expected JSON"), out.stderr
    assert not person.data.exists()


def test_a_certificate_for_another_key_is_refused_and_nothing_is_stored(person):
    other = (HERE.parent.parent / "certs" / "test" / "leaf-p256.pem").read_text()
    ca = FixedAnswers({"/1.0/sign": (201, {"crt": other, "ca": other, "certChain": [other]})})
    try:
        args = person.first_login_args()
        args[5] = ca.url
        code, _, err, _ = device_login(person, "alice", *args)
    finally:
        ca.stop()
    assert code == 1
    assert "tessera: the enrolment CA returned a certificate for a different key than the one tessera generated; nothing was stored" in err
    assert not (person.data / "dev").exists() and not person.config.exists()


def test_an_expired_device_code_is_one_line(tessera_bin, tmp_path, anchor):
    process, issuer = start_idp("--device-code-ttl", "2")
    try:
        home = tmp_path / "home"
        home.mkdir()
        someone = Person(tessera_bin, home, issuer, anchor)
        out = someone.run("login", "--profile", "dev", "--device", *someone.first_login_args())
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert out.returncode == 1
    assert out.stderr.splitlines()[-1] == "tessera: the device code expired before the sign-in was approved; run 'tessera login --device' again"


# Tokens minted here, by an issuer written for these tests alone.

def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Minter:
    def __init__(self):
        self.key = ec.generate_private_key(ec.SECP256R1())
        numbers = self.key.public_key().public_numbers()
        self.jwks = {"keys": [{"kty": "EC", "crv": "P-256", "kid": "m1", "use": "sig",
                               "x": b64(numbers.x.to_bytes(32, "big")), "y": b64(numbers.y.to_bytes(32, "big"))}]}
        jwks = json.dumps(self.jwks).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(jwks)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.issuer = f"http://127.0.0.1:{self.server.server_port}/minter"
        self.jwks_uri = f"http://127.0.0.1:{self.server.server_port}/jwks"

    def token(self, header=None, **claims):
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
        now = int(time.time())
        body = {"iss": self.issuer, "aud": "tessera", "sub": "carol", "email": "carol@example.com",
                "groups": ["developers"], "iat": now, "exp": now + 300, **claims}
        head = header or {"alg": "ES256", "kid": "m1"}
        signing_input = f"{b64(json.dumps(head).encode())}.{b64(json.dumps(body).encode())}"
        der = self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


@pytest.fixture(scope="module")
def minted_anchor(tessera_bin, tmp_path_factory):
    minter = Minter()
    running = Anchor(tessera_bin, tmp_path_factory.mktemp("minted"),
                     {"issuer": minter.issuer, "jwksUri": minter.jwks_uri, "audiences": ["tessera"],
                      "allowedGroups": ["developers", "ops"]})
    yield minter, running
    running.stop()
    minter.server.shutdown()


def csr_pem():
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ignored")])).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def sign(anchor, ott, csr=None):
    request = urllib.request.Request(f"{anchor.url}/1.0/sign", method="POST",
                                     data=json.dumps({"csr": csr or csr_pem(), "ott": ott}).encode(),
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def test_the_enrolment_ca_accepts_a_good_minted_token(minted_anchor):
    minter, anchor = minted_anchor
    status, body = sign(anchor, minter.token())
    assert status == 201, body
    cert = x509.load_pem_x509_certificate(body["crt"].encode())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "carol@example.com"
    assert body["certChain"][0] == body["crt"]


@pytest.mark.parametrize("case, expected", [
    ("expired", "the ID token expired at"),
    ("wrong audience", "the ID token is for audience someone-else, not for client tessera"),
    ("unknown key", "the token is signed by key 'm2', which the issuer's key set at"),
    ("alg none", "the token is signed with 'none', which is not allowed"),
    ("HS256 with the public key", "the token is signed with 'HS256', which is not allowed"),
    ("wrong issuer", "not by the configured issuer"),
    ("changed payload", "the token signature does not verify"),
])
def test_the_enrolment_ca_refuses_bad_tokens_with_the_reason(minted_anchor, case, expected):
    minter, anchor = minted_anchor
    now = int(time.time())
    if case == "expired":
        ott = minter.token(iat=now - 7200, exp=now - 3600)
    elif case == "wrong audience":
        ott = minter.token(aud="someone-else")
    elif case == "unknown key":
        ott = minter.token(header={"alg": "ES256", "kid": "m2"})
    elif case == "alg none":
        ott = minter.token(header={"alg": "none"}).rsplit(".", 1)[0] + "."
    elif case == "HS256 with the public key":
        import hmac
        head = b64(json.dumps({"alg": "HS256", "kid": "m1"}).encode())
        body = b64(json.dumps({"iss": minter.issuer, "aud": "tessera", "sub": "x", "iat": now, "exp": now + 60}).encode())
        secret = json.dumps(minter.jwks["keys"][0]).encode()
        ott = f"{head}.{body}.{b64(hmac.new(secret, f'{head}.{body}'.encode(), 'sha256').digest())}"
    elif case == "wrong issuer":
        ott = minter.token(iss="https://elsewhere.example")
    else:
        head, _, sig = minter.token().split(".")
        ott = f"{head}.{b64(json.dumps({'iss': minter.issuer, 'aud': 'tessera', 'sub': 'mallory', 'iat': now, 'exp': now + 60}).encode())}.{sig}"
    status, body = sign(anchor, ott)
    assert status == 401, (case, body)
    assert expected in body["message"], body


def test_the_enrolment_ca_refuses_a_person_in_none_of_the_allowed_groups(minted_anchor):
    minter, anchor = minted_anchor
    status, body = sign(anchor, minter.token(groups=["sales"]))
    assert status == 403, body
    assert body["message"] == "'carol@example.com' is in none of the allowed groups (developers, ops)"
    status, body = sign(anchor, minter.token(groups=["ops"]))
    assert status == 201, body
    cert = x509.load_pem_x509_certificate(body["crt"].encode())
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)] == ["ops"]


def test_a_csr_whose_signature_does_not_verify_is_refused(minted_anchor):
    minter, anchor = minted_anchor
    good = csr_pem()
    lines = good.splitlines()
    der = bytearray(base64.b64decode("".join(lines[1:-1])))
    der[-5] ^= 0xFF
    forged = "-----BEGIN CERTIFICATE REQUEST-----\n" + base64.encodebytes(bytes(der)).decode() + "-----END CERTIFICATE REQUEST-----\n"
    status, body = sign(anchor, minter.token(), forged)
    assert status == 400
    assert "whose signature verifies with its own key" in body["message"]
