"""`tessera doctor tags` agrees with the local anchor's decision: for five certificate shapes
(made here with Python cryptography under a local CA), every tag and the source identity that
doctor prints are required by a role's trust-policy conditions, and the anchor grants that
role; a role requiring one changed value is refused."""

import datetime
import json
import re
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from conftest import clean_env, free_port, run_tessera, wait_until_answers

ACCOUNT = "123456789012"
TA = f"arn:aws:rolesanywhere:us-east-1:{ACCOUNT}:trust-anchor/tags"
PROFILE = f"arn:aws:rolesanywhere:us-east-1:{ACCOUNT}:profile/tags"

SHAPES = {
    "cn-only": ([(NameOID.COMMON_NAME, "cn-only")], [], False),
    "cn-and-ou": ([(NameOID.ORGANIZATIONAL_UNIT_NAME, "dev"), (NameOID.ORGANIZATIONAL_UNIT_NAME, "ops"),
                   (NameOID.COMMON_NAME, "alice")], [], False),
    "several-uris": ([(NameOID.COMMON_NAME, "svc")],
                     [x509.UniformResourceIdentifier("spiffe://example/a"), x509.UniformResourceIdentifier("spiffe://example/b")], False),
    "email-san": ([(NameOID.COMMON_NAME, "bob")], [x509.RFC822Name("bob@example.com")], False),
    "intermediate": ([(NameOID.ORGANIZATIONAL_UNIT_NAME, "team"), (NameOID.COMMON_NAME, "chained")], [], True),
}


def issue(ca, name, subject, sans, intermediate, out):
    issuer_name = "intermediate" if intermediate else "root"
    issuer_key = serialization.load_pem_private_key((ca / f"{issuer_name}.key").read_bytes(), None)
    issuer = x509.load_pem_x509_certificate((ca / f"{issuer_name}.pem").read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(oid, value) for oid, value in subject]))
               .issuer_name(issuer.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(issuer_key, hashes.SHA256())
    (out / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (out / f"{name}.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()))


def doctor_tags(tessera_bin, cert):
    out = run_tessera(tessera_bin, ["doctor", "tags", "--certificate", str(cert)])
    assert out.returncode == 0, out.stderr
    tags = dict(re.findall(r"^  (\S+) = (.*)$", out.stdout, re.M))
    source = re.search(r"^source identity: (.*)$", out.stdout, re.M).group(1)
    return tags, source, out.stdout


def role_toml(name, tags, source):
    lines = ["[[roles]]", f'arn = "arn:aws:iam::{ACCOUNT}:role/{name}"']
    required = [(f"aws:PrincipalTag/{k}", v) for k, v in tags.items()] + [("sts:SourceIdentity", source)]
    for key, value in required:
        lines += ["[[roles.conditions]]", 'test = "StringEquals"', f"key = {json.dumps(key)}", f"values = [{json.dumps(value)}]"]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def shapes(tessera_bin, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tags")
    ca = tmp / "ca"
    made = run_tessera(tessera_bin, ["ca", "--dir", str(ca), "init", "--intermediate"])
    assert made.returncode == 0, made.stderr
    printed = {}
    for name, (subject, sans, intermediate) in SHAPES.items():
        issue(ca, name, subject, sans, intermediate, tmp)
        printed[name] = doctor_tags(tessera_bin, tmp / f"{name}.pem")
    roles = []
    for name, (tags, source, _) in printed.items():
        roles.append(role_toml(name, tags, source))
        first = next(iter(tags))
        roles.append(role_toml(f"{name}-changed", {**tags, first: tags[first] + "x"}, source))
    arns = ", ".join(json.dumps(f"arn:aws:iam::{ACCOUNT}:role/{n}{s}") for n in SHAPES for s in ("", "-changed"))
    config = tmp / "anchor.toml"
    config.write_text(f'accountId = "{ACCOUNT}"\nregion = "us-east-1"\n\n[[trustAnchors]]\narn = "{TA}"\n'
                      f'certificates = ["{ca / "root.pem"}"]\n\n[[profiles]]\narn = "{PROFILE}"\nroleArns = [{arns}]\n\n'
                      + "\n\n".join(roles) + "\n")
    port = free_port()
    anchor = subprocess.Popen([tessera_bin, "anchor", "--config", str(config), "--ca-dir", str(ca), "--listen", f"127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=clean_env())
    wait_until_answers(f"http://127.0.0.1:{port}/metrics", "the anchor")
    yield tmp, ca, printed, f"http://127.0.0.1:{port}"
    anchor.terminate()
    anchor.wait(timeout=10)


def session(tessera_bin, tmp, ca, name, role, endpoint):
    chain = ["--intermediates", str(ca / "intermediate.pem")] if SHAPES[name][2] else []
    return run_tessera(tessera_bin, ["credential-process", "--certificate", str(tmp / f"{name}.pem"), "--private-key", str(tmp / f"{name}.key"),
                                     *chain, "--trust-anchor-arn", TA, "--profile-arn", PROFILE,
                                     "--role-arn", f"arn:aws:iam::{ACCOUNT}:role/{role}", "--endpoint", endpoint])


@pytest.mark.parametrize("name", list(SHAPES))
def test_doctor_tags_are_what_the_anchor_sets(tessera_bin, shapes, name):
    tmp, ca, printed, endpoint = shapes
    granted = session(tessera_bin, tmp, ca, name, name, endpoint)
    assert granted.returncode == 0, (printed[name][2], granted.stderr)
    refused = session(tessera_bin, tmp, ca, name, f"{name}-changed", endpoint)
    assert refused.returncode == 1 and "AccessDenied" in refused.stderr, refused.stderr


def test_the_pitfalls_are_named(shapes):
    _, _, printed, _ = shapes
    assert printed["cn-and-ou"][0]["x509Subject/OU"] == "dev/ops"
    assert "only the first URI SAN (spiffe://example/a) becomes x509SAN/URI; spiffe://example/b ignored" in printed["several-uris"][2]
    assert "email SANs are not mapped (bob@example.com)" in printed["email-san"][2]
    assert printed["intermediate"][0]["x509Issuer/CN"].endswith("intermediate")
    assert '"aws:PrincipalTag/x509Subject/CN": "alice"' in printed["cn-and-ou"][2]


def test_a_certificate_with_no_subject_is_one_line(tessera_bin, tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ca")]))
            .public_key(key.public_key()).serial_number(7).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("host.example")]), critical=True)
            .sign(key, hashes.SHA256()))
    path = tmp_path / "nosubject.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    out = run_tessera(tessera_bin, ["doctor", "tags", "--certificate", str(path)])
    assert out.returncode == 1
    assert out.stderr.splitlines() == [f"tessera: {path} has an empty subject: Roles Anywhere maps no x509Subject tags and the source identity becomes the serial number; issue it with a CN that names the person or workload"]
