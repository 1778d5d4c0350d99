//! SigV4 header signing (`AWS4-HMAC-SHA256`) of one proxied request. Pure apart from
//! [`SigningKeys`], which keeps derived keys. The canonical request is written in one buffer by
//! the published rules, with S3's exceptions: single percent-encoding, no path normalisation and
//! an `x-amz-content-sha256` header. A request then costs two SHA-256 passes and one HMAC; the
//! four-HMAC key derivation runs once a day per credentials, region and service. The tests
//! check every output against aws-sigv4's signer.

use std::sync::Mutex;

use http::header::{HeaderName, HeaderValue};
use ring::{digest, hmac};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use self::canonical::canonical_request;
use super::chunked::STREAMING_PAYLOAD;
use super::route::SigningTarget;
use crate::aws_credentials::Credentials;
use crate::time_format::AmzDate;

/// The signature algorithm.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The payload hash of a body that is not signed.
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// Headers left out of the signature: the signature itself, and headers that proxies and CDNs
/// change in transit (the set the AWS SDKs leave out).
const UNSIGNED_HEADERS: [&str; 4] = [
    "authorization",
    "user-agent",
    "x-amzn-trace-id",
    "transfer-encoding",
];
/// Derived keys kept: one per (credentials, day, region, service) in use.
const KEPT_KEYS: usize = 8;

/// How the signature covers the body.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    /// The whole body, hashed.
    Bytes(&'a [u8]),
    /// `UNSIGNED-PAYLOAD` (S3 streaming).
    Unsigned,
    /// Signed aws-chunked frames follow; the seed signature starts the chain.
    Chunked,
}

/// One request to sign, as it will be sent.
#[derive(Debug, Clone, Copy)]
pub struct RequestToSign<'a> {
    /// The method.
    pub method: &'a str,
    /// The path as sent (percent-encoded once).
    pub path: &'a str,
    /// The query as sent, without the `?`.
    pub query: Option<&'a str>,
    /// The headers to send; they include `host`.
    pub headers: &'a [(HeaderName, HeaderValue)],
    /// What the signature covers of the body.
    pub payload: Payload<'a>,
}

/// A request's signature: the headers to add, and what an aws-chunked body continues from.
#[derive(Debug)]
pub struct Signed {
    /// `x-amz-date`, `authorization` and, as needed, `x-amz-content-sha256` and
    /// `x-amz-security-token` (marked sensitive).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The seed of an aws-chunked chain.
    pub chain: ChainSeed,
}

/// What the frames of an aws-chunked body are signed with: the request's signature, time and
/// key (the scope follows from the time and the target).
pub struct ChainSeed {
    /// The request's signature, hex.
    signature: [u8; 64],
    /// The signing time.
    amz_date: AmzDate,
    /// The derived signing key.
    key: Zeroizing<[u8; 32]>,
}

impl ChainSeed {
    /// The request's signature, hex.
    pub fn signature(&self) -> &str {
        std::str::from_utf8(&self.signature).unwrap_or_default()
    }

    /// The signing time, `YYYYMMDDTHHMMSSZ`.
    pub fn amz_date(&self) -> &str {
        self.amz_date.as_str()
    }

    /// `<day>/<region>/<service>/aws4_request` for `target`.
    pub fn scope(&self, target: &SigningTarget) -> String {
        let mut scope = String::with_capacity(scope_len(target));
        push_scope(&mut scope, self.amz_date.day(), target);
        scope
    }

    /// The derived signing key.
    pub fn key(&self) -> &[u8] {
        self.key.as_ref()
    }
}

impl std::fmt::Debug for ChainSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Security: the signing key is never printed.
        f.debug_struct("ChainSeed")
            .field("amz_date", &self.amz_date())
            .finish_non_exhaustive()
    }
}

/// Why a request could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignRequestError {
    /// A credential field cannot be sent in a header.
    #[error("the credentials' {0} is not a valid HTTP header value")]
    Credentials(&'static str),
}

/// Derived signing keys, by credentials (the very set, so its secret), day, region and service:
/// every input of the derivation.
#[derive(Default)]
pub struct SigningKeys {
    kept: Mutex<Vec<KeptKey>>,
}

struct KeptKey {
    credentials: Credentials,
    day: String,
    target: SigningTarget,
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Security: keys are never printed, only how many are kept.
        let kept = self.kept.lock().map_or(0, |kept| kept.len());
        f.debug_struct("SigningKeys").field("kept", &kept).finish()
    }
}

impl SigningKeys {
    /// The key for `credentials` on `day` (`YYYYMMDD`) for `target`, derived on first use.
    pub fn key(
        &self,
        credentials: &Credentials,
        day: &str,
        target: &SigningTarget,
    ) -> Zeroizing<[u8; 32]> {
        let matches = |kept: &KeptKey| {
            kept.credentials.is_same(credentials) && kept.day == day && kept.target == *target
        };
        if let Ok(kept) = self.kept.lock() {
            if let Some(found) = kept.iter().find(|kept| matches(kept)) {
                return found.key.clone();
            }
        }
        let key = derive_key(credentials.secret_access_key().expose_secret(), day, target);
        if let Ok(mut kept) = self.kept.lock() {
            if kept.len() >= KEPT_KEYS {
                kept.remove(0);
            }
            kept.push(KeptKey {
                credentials: credentials.clone(),
                day: day.to_owned(),
                target: target.clone(),
                key: key.clone(),
            });
        }
        key
    }
}

/// SigV4's key derivation: HMAC chained over the day, region, service and `aws4_request`.
fn derive_key(secret: &str, day: &str, target: &SigningTarget) -> Zeroizing<[u8; 32]> {
    let mut key = Zeroizing::new([0u8; 32]);
    // Security: the prefixed secret is wiped when dropped, like the secret itself.
    let prefixed = Zeroizing::new(format!("AWS4{secret}"));
    key.copy_from_slice(
        hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, prefixed.as_bytes()),
            day.as_bytes(),
        )
        .as_ref(),
    );
    for part in [&target.region, &target.service, "aws4_request"] {
        let next = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, key.as_ref()),
            part.as_bytes(),
        );
        key.copy_from_slice(next.as_ref());
    }
    key
}

/// Signs `request` for `target` at `at` with `credentials`, the key from `keys`. Allocates
/// only the canonical request, the `Authorization` value and the header values.
pub fn sign_request(
    request: &RequestToSign<'_>,
    credentials: &Credentials,
    target: &SigningTarget,
    at: OffsetDateTime,
    keys: &SigningKeys,
) -> Result<Signed, SignRequestError> {
    let amz_date = AmzDate::new(at);
    let day = amz_date.day();
    let payload_hash = PayloadHash::of(request.payload);
    let token = credentials.session_token().expose_secret();
    let token = (!token.is_empty()).then_some(token);
    let mut added = [("x-amz-date", amz_date.as_str()); 3];
    let mut count = 1;
    if let Some(token) = token {
        added[count] = ("x-amz-security-token", token);
        count += 1;
    }
    if target.is_s3() {
        added[count] = ("x-amz-content-sha256", payload_hash.as_str());
        count += 1;
    }
    let added = added.get(..count).unwrap_or_default();
    let (canonical, signed_headers) =
        canonical_request(request, target, added, payload_hash.as_str());
    let key = keys.key(credentials, day, target);
    let signature = signature(&key, &amz_date, target, canonical.as_bytes());
    let authorization = authorization(
        credentials.access_key_id(),
        day,
        target,
        canonical.get(signed_headers).unwrap_or_default(),
        std::str::from_utf8(&signature).unwrap_or_default(),
    );
    let mut headers = Vec::with_capacity(4);
    headers.push((
        HeaderName::from_static("x-amz-date"),
        value(amz_date.as_str(), "time")?,
    ));
    headers.push((
        http::header::AUTHORIZATION,
        HeaderValue::from_maybe_shared(bytes::Bytes::from(authorization))
            .map_err(|_| SignRequestError::Credentials("access key id"))?,
    ));
    if target.is_s3() {
        headers.push((
            HeaderName::from_static("x-amz-content-sha256"),
            payload_hash.header()?,
        ));
    }
    if let Some(token) = token {
        let mut token = value(token, "session token")?;
        token.set_sensitive(true);
        headers.push((HeaderName::from_static("x-amz-security-token"), token));
    }
    Ok(Signed {
        headers,
        chain: ChainSeed {
            signature,
            amz_date,
            key,
        },
    })
}

/// The signature (hex) over the string to sign of a canonical request, fed to the HMAC in
/// pieces: the algorithm, the time, the scope and the canonical request's hash.
fn signature(
    key: &[u8; 32],
    amz_date: &AmzDate,
    target: &SigningTarget,
    canonical: &[u8],
) -> [u8; 64] {
    let mut canonical_hash = [0u8; 64];
    hex_into(
        digest::digest(&digest::SHA256, canonical).as_ref(),
        &mut canonical_hash,
    );
    let mut context = hmac::Context::with_key(&hmac::Key::new(hmac::HMAC_SHA256, key));
    for part in [
        ALGORITHM,
        "\n",
        amz_date.as_str(),
        "\n",
        amz_date.day(),
        "/",
        &target.region,
        "/",
        &target.service,
        "/aws4_request\n",
    ] {
        context.update(part.as_bytes());
    }
    context.update(&canonical_hash);
    let mut signature = [0u8; 64];
    hex_into(context.sign().as_ref(), &mut signature);
    signature
}

/// `AWS4-HMAC-SHA256 Credential=<key id>/<scope>, SignedHeaders=<list>, Signature=<hex>`, in a
/// buffer of exactly its length (so it becomes a header value without another allocation).
fn authorization(
    access_key_id: &str,
    day: &str,
    target: &SigningTarget,
    signed_headers: &str,
    signature: &str,
) -> Vec<u8> {
    const CREDENTIAL: &str = " Credential=";
    const SIGNED_HEADERS: &str = ", SignedHeaders=";
    const SIGNATURE: &str = ", Signature=";
    let length = ALGORITHM.len()
        + CREDENTIAL.len()
        + access_key_id.len()
        + 1
        + scope_len(target)
        + SIGNED_HEADERS.len()
        + signed_headers.len()
        + SIGNATURE.len()
        + signature.len();
    let mut out = String::with_capacity(length);
    out.push_str(ALGORITHM);
    out.push_str(CREDENTIAL);
    out.push_str(access_key_id);
    out.push('/');
    push_scope(&mut out, day, target);
    out.push_str(SIGNED_HEADERS);
    out.push_str(signed_headers);
    out.push_str(SIGNATURE);
    out.push_str(signature);
    out.into_bytes()
}

/// The length of `<day>/<region>/<service>/aws4_request`.
fn scope_len(target: &SigningTarget) -> usize {
    "YYYYMMDD/".len() + target.region.len() + 1 + target.service.len() + "/aws4_request".len()
}

/// Appends `<day>/<region>/<service>/aws4_request`.
fn push_scope(out: &mut String, day: &str, target: &SigningTarget) {
    out.push_str(day);
    out.push('/');
    out.push_str(&target.region);
    out.push('/');
    out.push_str(&target.service);
    out.push_str("/aws4_request");
}

/// Lowercase hex of `bytes` into `out`, which is twice as long.
fn hex_into(bytes: &[u8], out: &mut [u8]) {
    // Fails only when the lengths differ, which the callers' fixed sizes rule out.
    let _ = hex::encode_to_slice(bytes, out);
}

/// A header value, or which credential field could not be one.
fn value(text: &str, what: &'static str) -> Result<HeaderValue, SignRequestError> {
    HeaderValue::from_str(text).map_err(|_| SignRequestError::Credentials(what))
}

/// The payload line of the canonical request: a body's SHA-256, or a fixed word.
enum PayloadHash {
    /// SHA-256 of the whole body, hex.
    Hashed([u8; 64]),
    /// `UNSIGNED-PAYLOAD` or the aws-chunked marker.
    Fixed(&'static str),
}

impl PayloadHash {
    fn of(payload: Payload<'_>) -> Self {
        match payload {
            Payload::Bytes(bytes) => {
                let mut hash = [0u8; 64];
                hex_into(digest::digest(&digest::SHA256, bytes).as_ref(), &mut hash);
                Self::Hashed(hash)
            }
            Payload::Unsigned => Self::Fixed(UNSIGNED_PAYLOAD),
            Payload::Chunked => Self::Fixed(STREAMING_PAYLOAD),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            Self::Hashed(hash) => std::str::from_utf8(hash).unwrap_or_default(),
            Self::Fixed(word) => word,
        }
    }

    /// As an `x-amz-content-sha256` value.
    fn header(&self) -> Result<HeaderValue, SignRequestError> {
        match self {
            Self::Hashed(_) => value(self.as_str(), "payload hash"),
            Self::Fixed(word) => Ok(HeaderValue::from_static(word)),
        }
    }
}

mod canonical;

#[cfg(test)]
mod tests;
