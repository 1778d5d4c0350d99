"""`tessera ca` certificates read by an independent parser (Python `cryptography`), and
`read-certificate-data` compared with `openssl x509`: the extensions a Roles Anywhere trust
anchor and the anchor's checks depend on."""

import base64
import json
import shutil
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from conftest import run_tessera


def load(path):
    return x509.load_pem_x509_certificate(path.read_bytes())


def ext(cert, kind):
    return cert.extensions.get_extension_for_class(kind)


@pytest.fixture(scope="module")
def ca(tessera_bin, tmp_path_factory):
    directory = tmp_path_factory.mktemp("ca")
    out = run_tessera(tessera_bin, ["ca", "init", "--dir", str(directory), "--cn", "Test Root", "--intermediate"])
    assert out.returncode == 0, out.stderr
    return directory


def issue(tessera_bin, ca, name, *extra):
    out = run_tessera(tessera_bin, ["ca", "issue", "--dir", str(ca), "--cn", name, "--name", name, *extra])
    assert out.returncode == 0, out.stderr
    return ca / f"{name}.pem"


def test_the_root_and_intermediate_are_cas_that_sign_certificates_and_crls(ca):
    root, intermediate = load(ca / "root.pem"), load(ca / "intermediate.pem")
    for cert, path_length in ((root, None), (intermediate, 0)):
        constraints = ext(cert, x509.BasicConstraints)
        assert constraints.critical and constraints.value.ca and constraints.value.path_length == path_length
        usage = ext(cert, x509.KeyUsage).value
        assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature
    assert intermediate.issuer == root.subject
    intermediate.verify_directly_issued_by(root)


def test_a_client_leaf_is_an_end_entity_for_signing_with_its_sans(tessera_bin, ca):
    leaf = load(issue(tessera_bin, ca, "app", "--san", "dns:app.example", "--san", "uri:spiffe://tessera.test/app"))
    assert ext(leaf, x509.BasicConstraints).value.ca is False
    usage = ext(leaf, x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_cert_sign
    assert list(ext(leaf, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    sans = ext(leaf, x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["app.example"]
    assert sans.get_values_for_type(x509.UniformResourceIdentifier) == ["spiffe://tessera.test/app"]
    leaf.verify_directly_issued_by(load(ca / "intermediate.pem"))
    # The positive control for --server below: a client leaf does not claim serverAuth.
    assert ExtendedKeyUsageOID.SERVER_AUTH not in ext(leaf, x509.ExtendedKeyUsage).value


def test_a_server_leaf_claims_server_auth(tessera_bin, ca):
    leaf = load(issue(tessera_bin, ca, "web", "--server", "--san", "dns:localhost"))
    assert list(ext(leaf, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]


def openssl(*args):
    assert shutil.which("openssl"), "openssl is required (tests/setup installs it)"
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=True).stdout.strip()


def test_read_certificate_data_agrees_with_openssl(tessera_bin, ca):
    path = issue(tessera_bin, ca, "reader", "--san", "dns:reader.example")
    out = run_tessera(tessera_bin, ["read-certificate-data", "--certificate", str(path)])
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    serial_hex = openssl("x509", "-in", str(path), "-noout", "-serial").split("=", 1)[1]
    assert data["serialNumber"] == str(int(serial_hex, 16))
    fingerprint = openssl("x509", "-in", str(path), "-noout", "-fingerprint", "-sha256").split("=", 1)[1]
    assert data["fingerprintSha256"].lower().replace(":", "") == fingerprint.lower().replace(":", "")
    cert = load(path)
    assert data["notAfter"] == cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert data["notBefore"] == cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "reader" in data["subject"] and "Test Root" not in data["subject"]
    assert data["keyType"] == "EC" and "SHA256WITHECDSA" in data["supportedAlgorithms"]
    assert base64.b64decode(data["certificateData"]) == cert.public_bytes(Encoding.DER)
    issuer_cn = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert f"CN={issuer_cn}" in data["issuer"]
