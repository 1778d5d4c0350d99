"""An independent verifier for IAM Roles Anywhere request signatures.

Written from the public description of the scheme (SigV4 canonical request, X.509 key instead
of an HMAC secret), sharing no code with tessera: the canonical request is rebuilt here from the
raw request, and the signature is checked with the `cryptography` package.
"""

import base64
import hashlib
import re
from urllib.parse import quote, unquote

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, mldsa, padding, rsa

MLDSA_PUBLIC_KEYS = (mldsa.MLDSA44PublicKey, mldsa.MLDSA65PublicKey, mldsa.MLDSA87PublicKey)

AUTH_RE = re.compile(
    r"^(?P<alg>AWS4-X509-(?:RSA|ECDSA)-SHA256|AWS4-X509-MLDSA) "
    r"Credential=(?P<serial>\d+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/rolesanywhere/aws4_request, "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<sig>[0-9a-f]+)$"
)


class VerificationError(Exception):
    """The request does not carry a valid Roles Anywhere signature."""


def _canonical_query(query: str) -> str:
    pairs = []
    for part in query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        pairs.append((quote(unquote(key), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def verify(method: str, path: str, query: str, headers: dict, body: bytes) -> dict:
    """Verify a request; `headers` maps lowercase names to values. Returns the parsed fields."""
    auth = headers.get("authorization")
    if auth is None:
        raise VerificationError("no Authorization header")
    match = AUTH_RE.match(auth)
    if not match:
        raise VerificationError(f"Authorization header not understood: {auth[:80]}")
    signed = match["signed"].split(";")
    for required in ("host", "x-amz-date", "x-amz-x509"):
        if required not in signed:
            raise VerificationError(f"{required} is not signed")
    if "x-amz-x509-chain" in headers and "x-amz-x509-chain" not in signed:
        raise VerificationError("x-amz-x509-chain is not signed")
    amz_date = headers.get("x-amz-date", "")
    if amz_date[:8] != match["date"]:
        raise VerificationError("scope date differs from X-Amz-Date")

    cert = x509.load_der_x509_certificate(base64.b64decode(headers["x-amz-x509"]))
    if str(cert.serial_number) != match["serial"]:
        raise VerificationError("credential serial is not the certificate serial")

    lines = [method, quote(path, safe="/~"), _canonical_query(query)]
    for name in signed:
        if name not in headers:
            raise VerificationError(f"signed header {name} missing")
        lines.append(f"{name}:{' '.join(headers[name].split())}")
    lines.append("")
    lines.append(match["signed"])
    lines.append(hashlib.sha256(body).hexdigest())
    canonical = "\n".join(lines)
    scope = f"{match['date']}/{match['region']}/rolesanywhere/aws4_request"
    string_to_sign = "\n".join(
        [match["alg"], amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    signature = bytes.fromhex(match["sig"])
    key = cert.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            if match["alg"] != "AWS4-X509-RSA-SHA256":
                raise VerificationError("algorithm does not fit an RSA key")
            key.verify(signature, string_to_sign.encode(), padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            if match["alg"] != "AWS4-X509-ECDSA-SHA256":
                raise VerificationError("algorithm does not fit an EC key")
            key.verify(signature, string_to_sign.encode(), ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, MLDSA_PUBLIC_KEYS):
            if match["alg"] != "AWS4-X509-MLDSA":
                raise VerificationError("algorithm does not fit an ML-DSA key")
            # ML-DSA signs the string to sign itself, with an empty context.
            key.verify(signature, string_to_sign.encode())
        else:
            raise VerificationError("unsupported key type")
    except InvalidSignature as exc:
        raise VerificationError("signature does not verify") from exc
    return {
        "algorithm": match["alg"],
        "region": match["region"],
        "serial": match["serial"],
        "signed_headers": signed,
        "canonical_request": canonical,
    }
