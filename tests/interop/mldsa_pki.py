"""ML-DSA identities written by implementations independent of tessera: keys, certificates and
signatures by `cryptography` (OpenSSL's FIPS 204), expanded private keys by dilithium-py (a
pure-Python FIPS 204), the PKCS#8 forms of RFC 9881 assembled here, and a CreateSession signer
written from the published string-to-sign rules (`AWS4-X509-MLDSA` signs the string to sign
itself, with an empty context)."""

import base64
import datetime
import hashlib
from types import SimpleNamespace
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, mldsa, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from dilithium_py.ml_dsa import ML_DSA_44, ML_DSA_65, ML_DSA_87

PASSPHRASE = b"correct horse battery"
LEVELS = {
    44: (mldsa.MLDSA44PrivateKey, ML_DSA_44, 17),
    65: (mldsa.MLDSA65PrivateKey, ML_DSA_65, 18),
    87: (mldsa.MLDSA87PrivateKey, ML_DSA_87, 19),
}


def der(tag, content):
    """A DER TLV."""
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        octets = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(octets)]) + octets
    return bytes([tag]) + length + content


def pkcs8_pem(oid_last_arc, private_key):
    """PrivateKeyInfo { 0, { 2.16.840.1.101.3.4.3.N }, OCTET STRING private_key } as PEM."""
    oid = der(0x06, bytes([0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, oid_last_arc]))
    info = der(0x30, der(0x02, b"\x00") + der(0x30, oid) + der(0x04, private_key))
    body = base64.encodebytes(info).decode().replace("\n", "")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return ("-----BEGIN PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END PRIVATE KEY-----\n").encode()


def key_files(directory, name, level, key):
    """The key in every form tessera reads: seed, expanded, both, encrypted (`cryptography`'s
    PBES2); returns {form: path}."""
    _, reference, arc = LEVELS[level]
    seed = key.private_bytes_raw()
    _, expanded = reference.key_derive(seed)
    forms = {
        "seed": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()),
        "expanded": pkcs8_pem(arc, der(0x04, expanded)),
        "both": pkcs8_pem(arc, der(0x30, der(0x04, seed) + der(0x04, expanded))),
        "encrypted": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.BestAvailableEncryption(PASSPHRASE)),
    }
    paths = {}
    for form, pem in forms.items():
        path = directory / f"{name}-{form}.key"
        path.write_bytes(pem)
        path.chmod(0o600)
        paths[form] = path
    return paths


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def certificate(cn, public_key, issuer, issuer_key, ca):
    """A CA or client certificate, signed with SHA-256 by an RSA or EC issuer, or by ML-DSA itself."""
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer or _name(cn))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
    else:
        usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    builder = builder.add_extension(usage, critical=True)
    classic = isinstance(issuer_key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey))
    algorithm = hashes.SHA256() if classic else None
    return builder.sign(issuer_key, algorithm)


def write_pem(path, cert):
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def build(directory):
    """An ECDSA root, an RSA root and an ML-DSA-65 root; ML-DSA leaves of every level under the
    ECDSA root, an ML-DSA-44 leaf under the RSA root, an ML-DSA-87 leaf and a P-256 leaf under
    the ML-DSA root."""
    ec_root_key = ec.generate_private_key(ec.SECP256R1())
    ec_root = certificate("tessera test ECDSA root", ec_root_key.public_key(), None, ec_root_key, ca=True)
    pq_root_key = mldsa.MLDSA65PrivateKey.generate()
    pq_root = certificate("tessera test ML-DSA-65 root", pq_root_key.public_key(), None, pq_root_key, ca=True)
    rsa_root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_root = certificate("tessera test RSA root", rsa_root_key.public_key(), None, rsa_root_key, ca=True)
    pki = SimpleNamespace(dir=directory, ec_root=write_pem(directory / "ec-root.pem", ec_root),
                          rsa_root=write_pem(directory / "rsa-root.pem", rsa_root),
                          pq_root=write_pem(directory / "pq-root.pem", pq_root), leaves={})
    key = mldsa.MLDSA44PrivateKey.generate()
    cert = certificate("mldsa-44-under-rsa", key.public_key(), rsa_root.subject, rsa_root_key, ca=False)
    pki.leaves["ml-dsa-44-under-rsa"] = SimpleNamespace(
        cert=write_pem(directory / "ml-dsa-44-under-rsa.pem", cert), x509=cert, key=key,
        keys=key_files(directory, "ml-dsa-44-under-rsa", 44, key), root="rsa")
    for level, (key_type, _, _) in LEVELS.items():
        key = key_type.generate()
        cert = certificate(f"mldsa-{level}-leaf", key.public_key(), ec_root.subject, ec_root_key, ca=False)
        pki.leaves[f"ml-dsa-{level}"] = SimpleNamespace(
            cert=write_pem(directory / f"ml-dsa-{level}.pem", cert), x509=cert, key=key,
            keys=key_files(directory, f"ml-dsa-{level}", level, key), root="ec")
    key = mldsa.MLDSA87PrivateKey.generate()
    cert = certificate("mldsa-87-under-mldsa", key.public_key(), pq_root.subject, pq_root_key, ca=False)
    pki.leaves["ml-dsa-87-under-ml-dsa"] = SimpleNamespace(
        cert=write_pem(directory / "ml-dsa-87-under-ml-dsa.pem", cert), x509=cert, key=key,
        keys=key_files(directory, "ml-dsa-87-under-ml-dsa", 87, key), root="pq")
    ec_key = ec.generate_private_key(ec.SECP256R1())
    cert = certificate("p256-under-mldsa", ec_key.public_key(), pq_root.subject, pq_root_key, ca=False)
    ec_key_path = directory / "p256-under-ml-dsa.key"
    ec_key_path.write_bytes(ec_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
    ec_key_path.chmod(0o600)
    pki.leaves["p256-under-ml-dsa"] = SimpleNamespace(
        cert=write_pem(directory / "p256-under-ml-dsa.pem", cert), x509=cert, key=ec_key,
        keys={"seed": ec_key_path}, root="pq")
    return pki


def signed_create_session(url, cert, key, body, region="us-east-1"):
    """Headers for a CreateSession POST of `body` (bytes) to `url`, signed with ML-DSA `key`."""
    parts = urlsplit(url)
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date, date = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    headers = {
        "content-type": "application/json",
        "host": parts.netloc,
        "x-amz-date": amz_date,
        "x-amz-x509": base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode(),
    }
    signed = sorted(headers)
    canonical = "\n".join(["POST", parts.path, "", *(f"{n}:{headers[n]}" for n in signed), "",
                           ";".join(signed), hashlib.sha256(body).hexdigest()])
    scope = f"{date}/{region}/rolesanywhere/aws4_request"
    to_sign = "\n".join(["AWS4-X509-MLDSA", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    signature = key.sign(to_sign.encode()).hex()
    headers["authorization"] = (f"AWS4-X509-MLDSA Credential={cert.serial_number}/{scope}, "
                                f"SignedHeaders={';'.join(signed)}, Signature={signature}")
    return headers
