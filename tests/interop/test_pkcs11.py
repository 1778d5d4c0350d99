"""Keys in a PKCS#11 token (SoftHSM2, provisioned with OpenSC's pkcs11-tool): credentials from
the local anchor through each token path, the AWS CLI on top, and every token failure as one
clear line with exit 1."""

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import CERTS, clean_env, free_port, run_tessera
from test_anchor import ACCOUNT, ROLE, Anchor, aws, profile, ta
from test_serve import PROFILE as SERVE_PROFILE, ROLE as SERVE_ROLE, TA as SERVE_TA, Process, ready, request, start_anchor

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "4321"


class Token:
    """A SoftHSM2 token 'tessera' in its own directory, holding:
    id 01 'p256': leaf-p256's key and certificate, imported (plus the intermediate, id 09);
    id 02 'rsa-always': an RSA-2048 key generated on the token with CKA_ALWAYS_AUTHENTICATE;
    id 03 'gen-p256': a P-256 key generated on the token.
    The generated keys' certificates come from `certify(public key DER path, name)` (the local
    CA) and are written to the token under the same id and label."""

    def __init__(self, tmp, certify):
        for tool in ("softhsm2-util", "pkcs11-tool", "openssl"):
            assert shutil.which(tool), f"{tool} is missing (tests/setup installs softhsm2 and opensc)"
        assert Path(MODULE).exists(), f"{MODULE} is missing (tests/setup installs softhsm2)"
        (tmp / "tokens").mkdir()
        self.conf = tmp / "softhsm2.conf"
        self.conf.write_text(f"directories.tokendir = {tmp / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
        self.env = {"SOFTHSM2_CONF": str(self.conf)}
        self.run(["softhsm2-util", "--init-token", "--free", "--label", "tessera", "--pin", PIN, "--so-pin", "87654321"])
        for source, kind, object_id, label in [("leaf-p256.key", "privkey", "01", "p256"), ("leaf-p256.pem", "cert", "01", "p256"),
                                               ("intermediate.pem", "cert", "09", "intermediate")]:
            der = tmp / f"{label}-{kind}.der"
            convert = ["pkcs8", "-topk8", "-nocrypt"] if kind == "privkey" else ["x509"]
            self.run(["openssl", *convert, "-in", str(CERTS / source), "-outform", "DER", "-out", str(der)])
            self.tool("--write-object", str(der), "--type", kind, "--id", object_id, "--label", label)
        for key_type, object_id, label, extra in [("rsa:2048", "02", "rsa-always", ["--always-auth"]), ("EC:prime256v1", "03", "gen-p256", [])]:
            self.tool("--keypairgen", "--key-type", key_type, "--id", object_id, "--label", label, "--usage-sign", *extra)
            public = tmp / f"{label}.pub.der"
            self.tool("--read-object", "--type", "pubkey", "--id", object_id, "-o", str(public))
            certificate = tmp / f"{label}.crt.der"
            self.run(["openssl", "x509", "-in", str(certify(public, f"token-{label}")), "-outform", "DER", "-out", str(certificate)])
            self.tool("--write-object", str(certificate), "--type", "cert", "--id", object_id, "--label", label)

    def tool(self, *args):
        self.run(["pkcs11-tool", "--module", MODULE, "--token-label", "tessera", "--login", "--pin", PIN, *args])

    def run(self, args):
        result = subprocess.run(args, capture_output=True, text=True, env=clean_env(**self.env), timeout=60)
        assert result.returncode == 0, f"{args[0]}: {result.stderr}"


def local_ca_certifier(tessera_bin, ca_dir):
    """Issues a client certificate for a public key with the local CA (`tessera ca issue --public-key`)."""
    def certify(public_key, name):
        out = run_tessera(tessera_bin, ["ca", "--dir", str(ca_dir), "issue", "--cn", name, "--name", name, "--public-key", str(public_key)])
        assert out.returncode == 0, out.stderr
        assert "private key:" not in out.stdout, "no key is generated for a given public key"
        return Path(ca_dir) / f"{name}.pem"
    return certify


@pytest.fixture(scope="module")
def token(tessera_bin, anchor, tmp_path_factory):
    return Token(tmp_path_factory.mktemp("softhsm"), local_ca_certifier(tessera_bin, anchor.ca))


@pytest.fixture(scope="module")
def anchor(tessera_bin, tmp_path_factory):
    server = Anchor(tessera_bin, tmp_path_factory.mktemp("anchor"), tls=True)
    yield server
    server.stop()


def request_args(anchor, key_uri, *extra, trust_anchor="ta"):
    return ["credential-process", "--private-key", key_uri, "--pkcs11-lib", MODULE, "--trust-anchor-arn", ta(trust_anchor),
            "--profile-arn", profile("p"), "--role-arn", f"{ROLE}/app", "--endpoint", anchor.url, "--ca-bundle", anchor.cafile, *extra]


def credentials(tessera_bin, token, anchor, key_uri, *extra, trust_anchor="ta", **env):
    out = run_tessera(tessera_bin, request_args(anchor, key_uri, *extra, trust_anchor=trust_anchor), **token.env, **env)
    assert out.returncode == 0, out.stderr
    document = json.loads(out.stdout)
    assert document["AccessKeyId"].startswith("ASIA") and document["SessionToken"]
    return document


def test_a_p256_token_key_with_its_certificate_and_chain_from_the_token(tessera_bin, token, anchor):
    credentials(tessera_bin, token, anchor, f"pkcs11:token=tessera;object=p256?pin-value={PIN}")


def test_an_always_authenticate_rsa_key_generated_on_the_token_with_the_pin_from_the_environment(tessera_bin, token, anchor):
    credentials(tessera_bin, token, anchor, "pkcs11:token=tessera;id=%02", trust_anchor="local", TESSERA_PKCS11_PIN=PIN)


def test_a_p256_key_generated_on_the_token_certified_by_the_local_ca(tessera_bin, token, anchor):
    credentials(tessera_bin, token, anchor, f"pkcs11:token=tessera;object=gen-p256?pin-value={PIN}", trust_anchor="local")


@pytest.mark.parametrize("uri,env", [
    (f"pkcs11:token=tessera;object=p256?pin-value={PIN}", {}),
    ("pkcs11:token=tessera;id=%02", {"TESSERA_PKCS11_PIN": PIN}),
])
def test_token_keys_sign_what_the_independent_verifier_accepts(tessera_bin, token, stub_factory, uri, env):
    stub = stub_factory()
    args = ["credential-process", "--private-key", uri, "--pkcs11-lib", MODULE, "--trust-anchor-arn", ta("ta"),
            "--profile-arn", profile("p"), "--role-arn", f"{ROLE}/app", "--endpoint", stub.url]
    out = run_tessera(tessera_bin, args, **token.env, **env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["AccessKeyId"] == "ASIASTUBEXAMPLE00001"
    stub.assert_all_verified()


def test_a_pin_file_a_module_path_and_certificate_files(tessera_bin, token, anchor, tmp_path):
    pin = tmp_path / "pin"
    pin.write_text(PIN + "\n")
    uri = f"pkcs11:token=tessera;object=p256?pin-source=file:{pin}&module-path={MODULE}"
    args = ["credential-process", "--private-key", uri, "--certificate", str(CERTS / "leaf-p256.pem"), "--intermediates",
            str(CERTS / "intermediate.pem"), "--trust-anchor-arn", ta("ta"), "--profile-arn", profile("p"), "--role-arn", f"{ROLE}/app",
            "--endpoint", anchor.url, "--ca-bundle", anchor.cafile]
    out = run_tessera(tessera_bin, args, **token.env)
    assert out.returncode == 0, out.stderr


def test_the_aws_cli_through_credential_process_with_a_token_key(tessera_bin, token, anchor, tmp_path, monkeypatch):
    line = " ".join(f'"{a}"' for a in [tessera_bin, *request_args(anchor, f"pkcs11:token=tessera;object=p256?pin-value={PIN}")])
    config = tmp_path / "config"
    config.write_text(f"[profile hsm]\nregion = us-east-1\ncredential_process = {line}\n")
    monkeypatch.setenv("SOFTHSM2_CONF", str(token.conf))
    result = aws(config, anchor, "hsm", "sts", "get-caller-identity")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/app/0123456789abcdef01"


def test_read_certificate_data_lists_the_token_objects_with_their_uris(tessera_bin, token):
    out = run_tessera(tessera_bin, ["read-certificate-data", "--certificate", "pkcs11:token=tessera", "--pkcs11-lib", MODULE], **token.env)
    assert out.returncode == 0, out.stderr
    objects = [json.loads(line) for line in out.stdout.splitlines()]
    certs = {o["label"]: o for o in objects if o["type"] == "cert"}
    assert set(certs) == {"p256", "intermediate", "rsa-always", "gen-p256"}
    assert certs["p256"]["subject"].endswith("CN=leaf-p256") and "id=%01" in certs["p256"]["uri"]
    assert certs["gen-p256"]["subject"].endswith("CN=token-gen-p256")
    # The listed URI names exactly that object: it loads as a certificate.
    again = run_tessera(tessera_bin, ["read-certificate-data", "--certificate", certs["p256"]["uri"], "--pkcs11-lib", MODULE], **token.env)
    assert [json.loads(line)["label"] for line in again.stdout.splitlines()] == ["p256"]


@pytest.mark.parametrize("uri,extra,expected", [
    ("pkcs11:token=tessera;object=p256?pin-value=0000", [], "the PIN for token 'tessera' was refused (PinIncorrect)"),
    ("pkcs11:token=absent;object=p256?pin-value=" + PIN, [], "no PKCS#11 token matches pkcs11:token=absent;object=p256 (tokens present: tessera)"),
    ("pkcs11:token=tessera;object=nothing?pin-value=" + PIN, [], "no private key on token 'tessera' matches"),
    ("pkcs11:token=tessera?pin-value=" + PIN, ["--certificate", str(CERTS / "leaf-p256.pem")], "3 private keys on token 'tessera' match"),
    ("pkcs11:token=tessera;object=p256", [], "token 'tessera' needs a PIN"),
    ("pkcs11:token=tessera;object=p256?pin-value=" + PIN, ["--certificate", str(CERTS / "leaf-p384.pem")], "does not match the certificate"),
    ("pkcs11:token=tessera;objekt=p256", [], "PKCS#11 URI pkcs11:token=tessera;objekt=p256: unknown path attribute 'objekt'"),
    ("pkcs11:token=tessera;object=p256?pin-value=" + PIN, ["--certificate", str(CERTS / "leaf-mldsa65.pem")],
     "is ML-DSA-65, which tessera cannot sign with through PKCS#11 (keep an ML-DSA key in a PKCS#8 file)"),
])
def test_token_failures_are_one_clear_line(tessera_bin, token, anchor, uri, extra, expected):
    out = run_tessera(tessera_bin, request_args(anchor, uri, *extra), **token.env)
    assert out.returncode == 1
    first = out.stderr.splitlines()[0]
    assert first.startswith("tessera: ") and expected in first, out.stderr
    assert "panicked" not in out.stderr and PIN not in out.stderr and out.stdout == ""


@pytest.mark.parametrize("cache", ["file", "keyring"])
def test_a_wrong_pin_is_refused_even_with_a_warm_cache(tessera_bin, token, anchor, tmp_path, cache):
    """Regression (issue 14): the cache key was the certificate alone, so a warm cache answered
    any PIN. A token identity is now logged in before a cached answer is given."""
    env = {**token.env, "TESSERA_CACHE": cache, "TESSERA_CACHE_DIR": str(tmp_path / "cache")}
    uri = "pkcs11:token=tessera;object=p256"
    right = run_tessera(tessera_bin, request_args(anchor, uri), TESSERA_PKCS11_PIN=PIN, **env)
    assert right.returncode == 0, right.stderr
    warm = run_tessera(tessera_bin, request_args(anchor, uri), TESSERA_PKCS11_PIN=PIN, **env)
    assert warm.returncode == 0 and json.loads(warm.stdout) == json.loads(right.stdout), warm.stderr
    wrong = run_tessera(tessera_bin, request_args(anchor, uri), TESSERA_PKCS11_PIN="0000", **env)
    assert wrong.returncode == 1 and wrong.stdout == "", wrong.stdout
    assert "the PIN for token 'tessera' was refused" in wrong.stderr.splitlines()[0], wrong.stderr


def test_a_pin_misplaced_in_the_uri_path_is_never_echoed(tessera_bin, token, anchor):
    for uri in ("pkcs11:token=tessera;object=p256;pin-value=987654", "pkcs11:token=tessera;object=p256;987654"):
        out = run_tessera(tessera_bin, request_args(anchor, uri), **token.env)
        assert out.returncode == 1 and "987654" not in out.stderr, out.stderr


def test_a_missing_module_is_one_clear_line(tessera_bin, token, anchor):
    out = run_tessera(tessera_bin, ["credential-process", "--private-key", "pkcs11:token=tessera;object=p256", "--pkcs11-lib", "/nonexistent/p11.so",
                                    "--trust-anchor-arn", ta("ta"), "--profile-arn", profile("p"), "--role-arn", f"{ROLE}/app",
                                    "--endpoint", anchor.url], **token.env)
    assert out.returncode == 1 and "cannot load PKCS#11 module /nonexistent/p11.so: no such file" in out.stderr.splitlines()[0]


def test_doctor_checks_a_token_identity_and_names_a_token_problem(tessera_bin, token, anchor):
    def doctor(uri):
        args = ["doctor", "--private-key", uri, "--pkcs11-lib", MODULE, "--trust-anchor-arn", ta("ta"), "--profile-arn", profile("p"),
                "--role-arn", f"{ROLE}/app", "--endpoint", anchor.url, "--ca-bundle", anchor.cafile, "--trust-anchor-ca", str(CERTS / "root.pem")]
        return run_tessera(tessera_bin, args, **token.env)

    good = doctor(f"pkcs11:token=tessera;object=p256?pin-value={PIN}")
    assert good.returncode == 0 and "all checks passed" in good.stdout, good.stdout + good.stderr
    assert "  ok    chain to trust anchor" in good.stdout and "  ok    CreateSession" in good.stdout
    bad = doctor("pkcs11:token=tessera;object=p256?pin-value=0000")
    assert bad.returncode == 1
    assert "  FAIL  token key              the PIN for token 'tessera' was refused (PinIncorrect)" in bad.stdout, bad.stdout
    assert "tessera read-certificate-data --certificate pkcs11:token=NAME" in bad.stdout


def test_serve_signs_every_refresh_with_the_token_key(tessera_bin, token, tmp_path, monkeypatch):
    port = free_port()
    anchor = start_anchor(tessera_bin, tmp_path, port)
    args = [tessera_bin, "serve", "--private-key", f"pkcs11:token=tessera;object=p256?pin-value={PIN}", "--pkcs11-lib", MODULE,
            "--trust-anchor-arn", SERVE_TA, "--profile-arn", SERVE_PROFILE, "--role-arn", SERVE_ROLE, "--endpoint", f"http://127.0.0.1:{port}",
            "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--token-dir", str(tmp_path / "tokens")]
    monkeypatch.setenv("SOFTHSM2_CONF", str(token.conf))
    serve = Process(args, tmp_path / "serve.log", lines=3)
    try:
        serve.address, serve.admin = re.search(r"listening on http://(\S+) .*admin on http://(\S+)", serve.lines[0]).groups()
        deadline = time.monotonic() + 20
        while not ready(serve):
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.1)
        ecs_token = (tmp_path / "tokens/default.token").read_text()
        status, _, body = request(serve, "GET", "/v1/credentials/default", {"Authorization": ecs_token})
        assert status == 200 and json.loads(body)["AccessKeyId"].startswith("ASIA")
    finally:
        serve.stop()
        anchor.stop()


def test_credential_process_agent_asks_serve_so_the_pin_is_given_once(tessera_bin, token, tmp_path):
    """20 AWS CLI calls through `credential-process --agent`: serve, holding the PIN, answers
    each from memory. The CLI's side has no PIN, no token configuration and no cache, so it
    could not have used the token itself; the anchor sees serve's one CreateSession."""
    import urllib.request
    port = free_port()
    anchor = start_anchor(tessera_bin, tmp_path, port)
    socket = tmp_path / "serve.sock"
    log = tmp_path / "serve.log"
    args = [tessera_bin, "serve", "--private-key", "pkcs11:token=tessera;object=p256", "--pkcs11-lib", MODULE,
            "--trust-anchor-arn", SERVE_TA, "--profile-arn", SERVE_PROFILE, "--role-arn", SERVE_ROLE, "--endpoint", f"http://127.0.0.1:{port}",
            "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--token-dir", str(tmp_path / "tokens"), "--socket", str(socket)]
    serve = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=open(log, "w"), text=True,
                             env=clean_env(SOFTHSM2_CONF=str(token.conf), TESSERA_PKCS11_PIN=PIN))
    try:
        serve.admin = re.search(r"admin on http://(\S+)", serve.stdout.readline()).group(1)
        deadline = time.monotonic() + 20
        while not ready(serve):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        config = tmp_path / "aws-config"
        config.write_text(f"[profile agent]\nregion = us-east-1\ncredential_process = {tessera_bin} credential-process --agent={socket}\n")
        aws_bin = Path(shutil.which("aws") or Path(__import__("sys").executable).parent / "aws")
        env = clean_env(AWS_CONFIG_FILE=str(config), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))
        assert "SOFTHSM2_CONF" not in env and "TESSERA_PKCS11_PIN" not in env
        for _ in range(20):
            result = subprocess.run([str(aws_bin), "sts", "get-caller-identity", "--profile", "agent", "--endpoint-url", f"http://127.0.0.1:{port}",
                                     "--output", "json"], capture_output=True, text=True, env=env, timeout=60)
            assert result.returncode == 0, result.stderr
            assert json.loads(result.stdout)["Arn"].startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/app/")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            metrics = response.read().decode()
        assert 'tessera_anchor_create_session_total{outcome="success"} 1\n' in metrics, metrics
        # Without the agent, the same command has nothing to sign with: one line, not a hang.
        serve.terminate()
        serve.wait(timeout=10)
        alone = run_tessera(tessera_bin, ["credential-process", f"--agent={socket}"])
        assert alone.returncode == 1 and alone.stderr.startswith("tessera: no certificate"), alone.stderr
    finally:
        serve.terminate()
        serve.wait(timeout=10)
        anchor.stop()
