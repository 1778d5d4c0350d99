"""Writes the ML-DSA fixtures (leaf-mldsa44/65/87.pem and .key, seed-form PKCS#8) under the test
intermediate, with `cryptography` 47 or later: Debian's OpenSSL 3.0, which gen.sh uses for the
rest, has no ML-DSA. gen.sh runs it last. Test keys only."""

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import mldsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HERE = Path(__file__).parent
DAYS = 3650


def main():
    issuer = x509.load_pem_x509_certificate((HERE / "intermediate.pem").read_bytes())
    issuer_key = serialization.load_pem_private_key((HERE / "intermediate.key").read_bytes(), password=None)
    now = datetime.datetime.now(datetime.timezone.utc)
    for level, key_type in [(44, mldsa.MLDSA44PrivateKey), (65, mldsa.MLDSA65PrivateKey), (87, mldsa.MLDSA87PrivateKey)]:
        key = key_type.generate()
        name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "tessera tests"),
                          x509.NameAttribute(NameOID.COMMON_NAME, f"leaf-mldsa{level}")])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(issuer_key, hashes.SHA256())
        )
        (HERE / f"leaf-mldsa{level}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (HERE / f"leaf-mldsa{level}.key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


if __name__ == "__main__":
    main()
