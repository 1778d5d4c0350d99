"""ML-DSA identities end to end (issue 21), against fixtures written by `cryptography` and
dilithium-py: tessera's requests checked by the independent verifier, chains of every mix at
the local anchor, requests signed in Python accepted by it, the AWS CLI over TLS, and the bad
inputs."""

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import mldsa

import mldsa_pki
import ra_client
from conftest import CERTS, clean_env, run_tessera

ACCOUNT = "123456789012"
ARN = f"arn:aws:rolesanywhere:us-east-1:{ACCOUNT}"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/app"
PROFILE = f"{ARN}:profile/p"
TRUST_ANCHORS = {"ec": f"{ARN}:trust-anchor/ec", "rsa": f"{ARN}:trust-anchor/rsa", "pq": f"{ARN}:trust-anchor/pq"}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return mldsa_pki.build(tmp_path_factory.mktemp("mldsa"))


def start_anchor(tessera_bin, directory, trust_anchors, tls=True):
    """The local anchor trusting `trust_anchors` ({arn: (root, crl or None)})."""
    sections = "".join(f'''
[[trustAnchors]]
arn = "{arn}"
certificates = ["{root}"]
{f'crls = ["{crl}"]' if crl else ""}
''' for arn, (root, crl) in trust_anchors.items())
    config = directory / "anchor.toml"
    config.write_text(f'''
accountId = "{ACCOUNT}"
region = "us-east-1"
{sections}
[[profiles]]
arn = "{PROFILE}"
roleArns = ["{ROLE}"]
[[roles]]
arn = "{ROLE}"
''')
    log = directory / "anchor.log"
    process = subprocess.Popen([tessera_bin, "anchor", "--config", str(config), "--ca-dir", str(directory / "anchor-ca"),
                                "--listen", "127.0.0.1:0", *(["--tls"] if tls else [])], stdout=subprocess.PIPE,
                               stderr=open(log, "w"), text=True, env=clean_env())
    match = re.search(r"listening on (\S+)", process.stdout.readline())
    assert match, log.read_text()
    process.url, process.cafile = match.group(1), str(directory / "anchor-ca" / "root.pem")
    return process


@pytest.fixture(scope="module")
def anchor(tessera_bin, pki):
    process = start_anchor(tessera_bin, pki.dir, {TRUST_ANCHORS["ec"]: (pki.ec_root, None), TRUST_ANCHORS["rsa"]: (pki.rsa_root, None),
                                                  TRUST_ANCHORS["pq"]: (pki.pq_root, None)})
    yield process
    process.terminate()
    process.wait(timeout=10)


def identity(leaf, form="seed"):
    args = ["--certificate", str(leaf.cert), "--private-key", str(leaf.keys[form])]
    if form == "encrypted":
        args += ["--pkcs8-password", mldsa_pki.PASSPHRASE.decode()]
    return args


def request_flags(leaf, endpoint, cafile=None):
    flags = ["--trust-anchor-arn", TRUST_ANCHORS[leaf.root], "--profile-arn", PROFILE, "--role-arn", ROLE, "--endpoint", endpoint]
    return flags + (["--ca-bundle", cafile] if cafile else [])


CASES = [("ml-dsa-44", form) for form in ("seed", "expanded", "both", "encrypted")] + [
    ("ml-dsa-65", "seed"), ("ml-dsa-87", "expanded"), ("ml-dsa-87-under-ml-dsa", "both")]


@pytest.mark.parametrize("name,form", CASES)
def test_the_independent_verifier_accepts_tesseras_ml_dsa_requests(tessera_bin, pki, stub_factory, name, form):
    leaf = pki.leaves[name]
    stub = stub_factory()
    result = run_tessera(tessera_bin, ["credential-process", *identity(leaf, form), *request_flags(leaf, stub.url)])
    assert result.returncode == 0, result.stderr
    stub.assert_all_verified()
    (request,) = stub.requests()
    assert request["headers"]["authorization"].startswith("AWS4-X509-MLDSA Credential="), request["headers"]


@pytest.mark.parametrize("name", ["ml-dsa-44", "ml-dsa-65", "ml-dsa-87", "ml-dsa-44-under-rsa", "ml-dsa-87-under-ml-dsa", "p256-under-ml-dsa"])
def test_the_anchor_accepts_ml_dsa_leaves_and_roots_in_every_mix(tessera_bin, pki, anchor, name):
    leaf = pki.leaves[name]
    result = run_tessera(tessera_bin, ["credential-process", *identity(leaf), *request_flags(leaf, anchor.url, anchor.cafile)])
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["AccessKeyId"].startswith("ASIA")


def post(anchor, headers, body):
    return ra_client.send(f"{anchor.url}/sessions", headers, body, cafile=anchor.cafile)


def test_requests_signed_in_python_pass_the_anchor_and_a_changed_one_does_not(pki, anchor):
    for name in ("ml-dsa-44", "ml-dsa-87-under-ml-dsa"):
        leaf = pki.leaves[name]
        body = json.dumps({"trustAnchorArn": TRUST_ANCHORS[leaf.root], "profileArn": PROFILE, "roleArn": ROLE,
                           "durationSeconds": 900}).encode()
        headers = mldsa_pki.signed_create_session(f"{anchor.url}/sessions", leaf.x509, leaf.key, body)
        status, _, answer = post(anchor, headers, body)
        assert status == 201, answer
        assert answer["credentialSet"][0]["credentials"]["accessKeyId"].startswith("ASIA")
        status, error, _ = post(anchor, headers, body.replace(b"900", b"901"))
        assert status == 403 and error.startswith("AccessDeniedException"), (status, error)


def test_the_aws_cli_gets_credentials_through_credential_process_with_an_ml_dsa_identity(tessera_bin, pki, anchor, tmp_path):
    leaf = pki.leaves["ml-dsa-65"]
    command = " ".join(f'"{part}"' for part in [tessera_bin, "credential-process", *identity(leaf, "both"),
                                                 *request_flags(leaf, anchor.url, anchor.cafile)])
    config = tmp_path / "config"
    config.write_text(f"[profile pq]\nregion = us-east-1\ncredential_process = {command}\n")
    aws = Path(sys.executable).parent / "aws"
    env = clean_env(AWS_CONFIG_FILE=str(config), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"), AWS_CA_BUNDLE=anchor.cafile)
    result = subprocess.run([str(aws), "sts", "get-caller-identity", "--profile", "pq", "--endpoint-url", anchor.url,
                             "--output", "json"], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["Arn"].startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/app/")


def test_read_certificate_data_and_sign_string_speak_ml_dsa(tessera_bin, pki):
    leaf = pki.leaves["ml-dsa-87"]
    data = run_tessera(tessera_bin, ["read-certificate-data", "--certificate", str(leaf.cert)])
    assert data.returncode == 0, data.stderr
    entry = json.loads(data.stdout)
    assert entry["keyType"] == "ML-DSA" and entry["supportedAlgorithms"] == ["ML-DSA-87"], entry
    signed = subprocess.run([tessera_bin, "sign-string", "--private-key", str(leaf.keys["expanded"]), "--format", "bin"],
                            capture_output=True, env=clean_env(), timeout=60)
    assert signed.returncode == 0, signed.stderr
    public = leaf.key.public_key().public_bytes_raw()
    message = (b"AWS Roles Anywhere Credential Helper Signing Test" + b"1"
               + hashlib.sha256(b"IAM RA" + public).digest())
    leaf.key.public_key().verify(signed.stdout, message)


def bad_key_files(pki, tmp):
    """(name, certificate, key file, expected fragment of the one error line)."""
    leaf44, leaf65 = pki.leaves["ml-dsa-44"], pki.leaves["ml-dsa-65"]
    seed = leaf44.key.private_bytes_raw()
    other_seed = mldsa.MLDSA44PrivateKey.generate().private_bytes_raw()
    _, expanded = mldsa_pki.ML_DSA_44.key_derive(seed)
    files = {
        "truncated": mldsa_pki.pkcs8_pem(17, mldsa_pki.der(0x80, seed[:20])),
        "disagreeing": mldsa_pki.pkcs8_pem(17, mldsa_pki.der(0x30, mldsa_pki.der(0x04, other_seed) + mldsa_pki.der(0x04, expanded))),
        "unknown-oid": mldsa_pki.pkcs8_pem(23, mldsa_pki.der(0x80, seed)),
    }
    paths = {}
    for name, pem in files.items():
        paths[name] = tmp / f"{name}.key"
        paths[name].write_bytes(pem)
        paths[name].chmod(0o600)
    return [
        ("another level", leaf65.cert, leaf44.keys["seed"], "(the key is ML-DSA-44, the certificate holds ML-DSA-65)"),
        ("an RSA certificate", CERTS / "leaf-rsa.pem", leaf44.keys["seed"], "(the key is ML-DSA-44, the certificate holds RSA-2048)"),
        ("truncated", leaf44.cert, paths["truncated"], "not a usable ML-DSA-44 private key: the seed is not 32 bytes (truncated?)"),
        ("seed and expanded disagree", leaf44.cert, paths["disagreeing"], "its seed and its expanded key do not agree"),
        ("unknown OID", leaf44.cert, paths["unknown-oid"], "the key's algorithm 2.16.840.1.101.3.4.3.23 is not ML-DSA-44, 65 or 87"),
    ]


def test_each_bad_ml_dsa_input_is_one_clear_line(tessera_bin, pki, tmp_path):
    for name, cert, key, fragment in bad_key_files(pki, tmp_path):
        result = run_tessera(tessera_bin, ["credential-process", "--certificate", str(cert), "--private-key", str(key),
                                           *request_flags(pki.leaves["ml-dsa-44"], "http://127.0.0.1:9")])
        assert result.returncode == 1, (name, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("tessera: ") and fragment in lines[0], (name, result.stderr)
        assert "panicked" not in result.stderr and result.stdout == ""


@pytest.mark.parametrize("name", ["ml-dsa-44", "p256-under-ml-dsa", "ml-dsa-87-under-ml-dsa"])
def test_doctor_passes_ml_dsa_setups_and_names_a_mismatched_key(tessera_bin, pki, anchor, name):
    leaf = pki.leaves[name]
    ca = {"ec": pki.ec_root, "rsa": pki.rsa_root, "pq": pki.pq_root}[leaf.root]
    args = ["doctor", *identity(leaf), *request_flags(leaf, anchor.url, anchor.cafile), "--trust-anchor-ca", str(ca)]
    result = run_tessera(tessera_bin, args)
    assert result.returncode == 0, result.stdout + result.stderr
    for check in ["certificate and key", "leaf requirements", "chain to trust anchor", "CreateSession"]:
        assert re.search(rf"^  ok    {check}", result.stdout, re.M), (check, result.stdout)
    other = pki.leaves["ml-dsa-65"].keys["seed"]
    mismatched = run_tessera(tessera_bin, ["doctor", "--certificate", str(leaf.cert), "--private-key", str(other),
                                           *request_flags(leaf, anchor.url, anchor.cafile), "--trust-anchor-ca", str(ca)])
    assert mismatched.returncode == 1
    assert re.search(r"^  FAIL  key matches cert .*\(the key is ML-DSA-65, the certificate holds ", mismatched.stdout, re.M), mismatched.stdout


def test_the_local_ca_makes_ml_dsa_roots_and_leaves_that_cryptography_and_the_anchor_accept(tessera_bin, tmp_path):
    from cryptography import x509
    ca = lambda directory, *args: run_tessera(tessera_bin, ["ca", *args, "--dir", str(directory)])
    pq, ec = tmp_path / "pq-ca", tmp_path / "ec-ca"
    for directory, args in [(pq, ["init", "--key-type", "ml-dsa-65", "--intermediate"]), (ec, ["init"]),
                            (pq, ["issue", "--cn", "pq44", "--key-type", "ml-dsa-44"]), (pq, ["issue", "--cn", "ec-under-pq"]),
                            (pq, ["issue", "--cn", "revoked", "--key-type", "ml-dsa-87"]), (ec, ["issue", "--cn", "pq87", "--key-type", "ml-dsa-87"])]:
        result = ca(directory, *args)
        assert result.returncode == 0, (args, result.stderr)
    load = lambda path: x509.load_pem_x509_certificate(path.read_bytes())
    root, intermediate = load(pq / "root.pem"), load(pq / "intermediate.pem")
    assert isinstance(root.public_key(), mldsa.MLDSA65PublicKey) and root.signature_algorithm_oid.dotted_string == "2.16.840.1.101.3.4.3.18"
    intermediate.verify_directly_issued_by(root)
    for name in ("pq44", "ec-under-pq", "revoked"):
        load(pq / f"{name}.pem").verify_directly_issued_by(intermediate)
    assert isinstance(load(ec / "pq87.pem").public_key(), mldsa.MLDSA87PublicKey)
    load(ec / "pq87.pem").verify_directly_issued_by(load(ec / "root.pem"))
    serial = format(load(pq / "revoked.pem").serial_number, "x")
    assert ca(pq, "revoke", serial).returncode == 0
    crl = x509.load_pem_x509_crl((pq / "crl.pem").read_bytes())
    assert crl.is_signature_valid(intermediate.public_key()) and [r.serial_number for r in crl] == [int(serial, 16)]
    arns = {TRUST_ANCHORS["pq"]: (pq / "root.pem", pq / "crl.pem"), TRUST_ANCHORS["ec"]: (ec / "root.pem", ec / "crl.pem")}
    local = start_anchor(tessera_bin, tmp_path, arns, tls=False)
    try:
        def fetch(directory, name, root):
            args = ["credential-process", "--certificate", str(directory / f"{name}.pem"), "--private-key", str(directory / f"{name}.key"),
                    *(["--intermediates", str(directory / "intermediate.pem")] if (directory / "intermediate.pem").exists() else []),
                    "--trust-anchor-arn", TRUST_ANCHORS[root], "--profile-arn", PROFILE, "--role-arn", ROLE, "--endpoint", local.url]
            return run_tessera(tessera_bin, args)
        for directory, name, root in [(pq, "pq44", "pq"), (pq, "ec-under-pq", "pq"), (ec, "pq87", "ec")]:
            result = fetch(directory, name, root)
            assert result.returncode == 0, (name, result.stderr)
        refused = fetch(pq, "revoked", "pq")
        assert refused.returncode == 1 and "revoked" in refused.stderr, refused.stderr
    finally:
        local.terminate()
        local.wait(timeout=10)
    # A TLS server certificate from an ML-DSA CA would fail every client's handshake.
    tls = subprocess.run([tessera_bin, "anchor", "--config", str(tmp_path / "anchor.toml"), "--ca-dir", str(pq), "--tls",
                          "--listen", "127.0.0.1:0"], capture_output=True, text=True, env=clean_env(), timeout=30)
    assert tls.returncode == 1, tls.stderr
    assert tls.stderr.strip().splitlines()[-1].startswith(f"tessera: --tls: the local CA in {pq} is ML-DSA-65, whose signatures TLS clients cannot verify yet"), tls.stderr
