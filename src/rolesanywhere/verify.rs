//! The server side of the Roles Anywhere signature: parse what was received, rebuild the
//! canonical request from exactly those bytes, and check the signature with the leaf's key.
//!
//! Accepts what independent signers send: ARNs in the query or the JSON body, either JSON
//! content type, any extra signed headers. Time-based checks (clock skew, validity periods)
//! and trust decisions belong to the caller (the local anchor), which passes its own clock.

use base64::Engine;
use percent_encoding::percent_decode_str;
use serde::Deserialize;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::canonical::{
    canonical_query, canonical_request, canonical_uri, credential_scope, string_to_sign, SERVICE,
};
use crate::identity::{Certificate, KeyKind, SignatureFamily};
use crate::time_format::AMZ_DATE_FORMAT;

/// Most certificates accepted in `X-Amz-X509-Chain`.
pub const MAX_CHAIN_CERTIFICATES: usize = 5;

/// Why a request failed verification. The anchor maps every variant to the service's answer
/// (mostly 403 `Invalid signature`); the text says precisely which check failed, for logs.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// A required header is absent.
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    /// The Authorization header cannot be parsed.
    #[error("malformed Authorization header: {0}")]
    MalformedAuthorization(String),
    /// The algorithm is not one Roles Anywhere uses.
    #[error("unsupported signing algorithm '{0}'")]
    UnsupportedAlgorithm(String),
    /// A header that must be signed is not in SignedHeaders.
    #[error("header {0} is not in SignedHeaders")]
    UnsignedHeader(&'static str),
    /// A header named in SignedHeaders was not received.
    #[error("signed header {0} is missing from the request")]
    SignedHeaderMissing(String),
    /// X-Amz-Date is not `YYYYMMDDTHHMMSSZ`.
    #[error("malformed X-Amz-Date '{0}'")]
    MalformedDate(String),
    /// The scope's date is not the day of X-Amz-Date.
    #[error("credential scope date {scope} does not match X-Amz-Date {date}")]
    ScopeDateMismatch {
        /// Date in the scope.
        scope: String,
        /// X-Amz-Date.
        date: String,
    },
    /// The scope names another service or terminator.
    #[error("credential scope '{0}' is not <date>/<region>/rolesanywhere/aws4_request")]
    BadScope(String),
    /// A certificate header is not valid base64 DER.
    #[error("{header} is not a valid base64 DER certificate: {detail}")]
    BadCertificate {
        /// Which header.
        header: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// Too many chain certificates.
    #[error(
        "X-Amz-X509-Chain has {0} certificates; at most {MAX_CHAIN_CERTIFICATES} are accepted"
    )]
    ChainTooLong(usize),
    /// The Credential serial is not the leaf's.
    #[error("credential serial {credential} does not match the certificate serial {certificate}")]
    SerialMismatch {
        /// Serial in the Authorization header.
        credential: String,
        /// Serial of the X-Amz-X509 certificate.
        certificate: String,
    },
    /// The algorithm does not fit the certificate's key.
    #[error("algorithm {algorithm} does not fit the certificate's {key} key")]
    AlgorithmKeyMismatch {
        /// Algorithm named.
        algorithm: String,
        /// The certificate key.
        key: KeyKind,
    },
    /// Signature not hex.
    #[error("signature is not hex")]
    SignatureNotHex,
    /// The signature does not verify.
    #[error("signature does not verify against the X-Amz-X509 certificate's public key")]
    BadSignature,
    /// Body is not the expected JSON.
    #[error("request body is not a JSON object of CreateSession fields: {0}")]
    MalformedBody(String),
    /// A parameter is missing from both the query and the body.
    #[error("{0} is missing from the query and the body")]
    MissingParameter(&'static str),
    /// A parameter appears in both places with different values.
    #[error("{0} differs between the query and the body")]
    ConflictingParameter(&'static str),
}

/// An HTTP request as received, before any interpretation.
#[derive(Debug, Clone, Copy)]
pub struct ReceivedRequest<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Path as received (percent-encoded), without the query.
    pub path: &'a str,
    /// Raw query string without '?', possibly empty.
    pub query: &'a str,
    /// Headers as received, any case, repeated names allowed.
    pub headers: &'a [(String, String)],
    /// Body bytes.
    pub body: &'a [u8],
}

/// CreateSession fields taken from the query or the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedSession {
    /// Trust anchor ARN (unvalidated text).
    pub trust_anchor_arn: String,
    /// Profile ARN.
    pub profile_arn: String,
    /// Role ARN.
    pub role_arn: String,
    /// Requested duration, if any.
    pub duration_seconds: Option<i64>,
    /// Requested role session name, if any.
    pub role_session_name: Option<String>,
}

/// What a correctly signed request proves and asks for.
#[derive(Debug, Clone)]
pub struct VerifiedRequest {
    /// The signing certificate.
    pub leaf: Certificate,
    /// Intermediates sent with it.
    pub chain: Vec<Certificate>,
    /// The algorithm name as sent.
    pub algorithm: String,
    /// X-Amz-Date.
    pub signed_at: OffsetDateTime,
    /// The region in the credential scope.
    pub region: String,
    /// Signed header names, lowercase.
    pub signed_headers: Vec<String>,
    /// The requested session.
    pub session: RequestedSession,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Body {
    trust_anchor_arn: Option<String>,
    profile_arn: Option<String>,
    role_arn: Option<String>,
    duration_seconds: Option<i64>,
    role_session_name: Option<String>,
}

/// The parts of a SigV4-style Authorization header.
pub(crate) struct Authorization<'a> {
    pub(crate) algorithm: &'a str,
    pub(crate) credential: &'a str,
    pub(crate) signed_headers: &'a str,
    pub(crate) signature: &'a str,
}

pub(crate) fn parse_authorization(value: &str) -> Result<Authorization<'_>, VerifyError> {
    let malformed = |s: &str| VerifyError::MalformedAuthorization(s.to_owned());
    let (algorithm, rest) = value
        .trim()
        .split_once(' ')
        .ok_or_else(|| malformed("no space after the algorithm"))?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (key, val) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| malformed("a component has no '='"))?;
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => return Err(malformed("unknown component")),
        };
        if slot.replace(val).is_some() {
            return Err(malformed("a component is repeated"));
        }
    }
    Ok(Authorization {
        algorithm,
        credential: credential.ok_or_else(|| malformed("no Credential"))?,
        signed_headers: signed_headers.ok_or_else(|| malformed("no SignedHeaders"))?,
        signature: signature.ok_or_else(|| malformed("no Signature"))?,
    })
}

/// The algorithm family named by the Authorization header. iam-rolesanywhere-session names
/// the algorithm after the certificate's own signature hash (`…-SHA384`) while signing with
/// SHA-256, so any SHA-2 suffix is accepted and SHA-256 is always verified.
fn algorithm_family(name: &str) -> Option<SignatureFamily> {
    let rest = name.strip_prefix("AWS4-X509-")?;
    if rest == "MLDSA" {
        return Some(SignatureFamily::MlDsa);
    }
    let (family, hash) = rest.split_once('-')?;
    if !matches!(hash, "SHA256" | "SHA384" | "SHA512") {
        return None;
    }
    match family {
        "RSA" => Some(SignatureFamily::Rsa),
        "ECDSA" => Some(SignatureFamily::Ecdsa),
        _ => None,
    }
}

/// All values of a header (case-insensitive), joined with ',' as SigV4 does.
pub(crate) fn header_value(headers: &[(String, String)], name: &str) -> Option<String> {
    let values: Vec<&str> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

fn decode_certificate(header: &'static str, b64: &str) -> Result<Certificate, VerifyError> {
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| VerifyError::BadCertificate {
            header,
            detail: e.to_string(),
        })?;
    Certificate::from_der(&der).map_err(|e| VerifyError::BadCertificate {
        header,
        detail: e.to_string(),
    })
}

/// Verifies a CreateSession request's signature and extracts what it asks for.
pub fn verify(request: &ReceivedRequest<'_>) -> Result<VerifiedRequest, VerifyError> {
    let authorization = header_value(request.headers, "authorization")
        .ok_or(VerifyError::MissingHeader("Authorization"))?;
    let auth = parse_authorization(&authorization)?;
    let family = algorithm_family(auth.algorithm)
        .ok_or_else(|| VerifyError::UnsupportedAlgorithm(auth.algorithm.to_owned()))?;
    let lowercase = auth
        .signed_headers
        .split(';')
        .all(|h| !h.is_empty() && !h.bytes().any(|b| b.is_ascii_uppercase()));
    if !lowercase {
        return Err(VerifyError::MalformedAuthorization(
            "SignedHeaders must be lowercase names separated by ';'".into(),
        ));
    }
    let x509 = header_value(request.headers, "x-amz-x509")
        .ok_or(VerifyError::MissingHeader("X-Amz-X509"))?;
    let date = header_value(request.headers, "x-amz-date")
        .ok_or(VerifyError::MissingHeader("X-Amz-Date"))?;
    let signed = signed_header_names(request.headers, auth.signed_headers)?;
    let signed_at = PrimitiveDateTime::parse(&date, AMZ_DATE_FORMAT)
        .map_err(|_| VerifyError::MalformedDate(date.clone()))?
        .assume_utc();
    let scope = Scope::parse(auth.credential, &date)?;
    let (leaf, chain) = certificates(request.headers, &x509, scope.serial)?;

    let mut canonical_headers = Vec::with_capacity(signed.len());
    for name in &signed {
        let value = header_value(request.headers, name)
            .ok_or_else(|| VerifyError::SignedHeaderMissing(name.clone()))?;
        canonical_headers.push((name.clone(), value));
    }
    let query_pairs = parse_query(request.query);
    let canonical = canonical_request(
        request.method,
        &canonical_uri(&decode_path(request.path)),
        &canonical_query(&query_pairs),
        &canonical_headers,
        auth.signed_headers,
        request.body,
    );
    let to_sign = string_to_sign(
        auth.algorithm,
        &date,
        &credential_scope(scope.date, scope.region),
        &canonical,
    );
    check_signature(&leaf, family, auth.algorithm, auth.signature, &to_sign)?;
    let session = requested_session(&query_pairs, request.body)?;
    Ok(VerifiedRequest {
        leaf,
        chain,
        algorithm: auth.algorithm.to_owned(),
        signed_at,
        region: scope.region.to_owned(),
        signed_headers: signed,
        session,
    })
}

/// The SignedHeaders list (already known to be lowercase names), which must include `host`,
/// `x-amz-date`, `x-amz-x509` and, when sent, `x-amz-x509-chain`.
fn signed_header_names(
    headers: &[(String, String)],
    signed_headers: &str,
) -> Result<Vec<String>, VerifyError> {
    let signed: Vec<String> = signed_headers.split(';').map(str::to_owned).collect();
    for (name, label) in [
        ("host", "Host"),
        ("x-amz-date", "X-Amz-Date"),
        ("x-amz-x509", "X-Amz-X509"),
    ] {
        if !signed.iter().any(|h| h == name) {
            return Err(VerifyError::UnsignedHeader(label));
        }
    }
    let chain_sent = header_value(headers, "x-amz-x509-chain").is_some();
    if chain_sent && !signed.iter().any(|h| h == "x-amz-x509-chain") {
        return Err(VerifyError::UnsignedHeader("X-Amz-X509-Chain"));
    }
    Ok(signed)
}

/// `Credential=<serial>/<date>/<region>/rolesanywhere/aws4_request`, its date X-Amz-Date's.
struct Scope<'a> {
    serial: &'a str,
    date: &'a str,
    region: &'a str,
}

impl<'a> Scope<'a> {
    fn parse(credential: &'a str, amz_date: &str) -> Result<Self, VerifyError> {
        let Some((serial, scope)) = credential.split_once('/') else {
            return Err(VerifyError::MalformedAuthorization(
                "Credential has no scope".into(),
            ));
        };
        let fields: Vec<&str> = scope.split('/').collect();
        let [date, region, service, terminator] = fields[..] else {
            return Err(VerifyError::BadScope(scope.to_owned()));
        };
        if service != SERVICE || terminator != "aws4_request" || region.is_empty() {
            return Err(VerifyError::BadScope(scope.to_owned()));
        }
        if amz_date.get(..8) != Some(date) {
            return Err(VerifyError::ScopeDateMismatch {
                scope: date.to_owned(),
                date: amz_date.to_owned(),
            });
        }
        Ok(Self {
            serial,
            date,
            region,
        })
    }
}

/// The leaf from X-Amz-X509 (its serial the credential's) and the chain from X-Amz-X509-Chain.
fn certificates(
    headers: &[(String, String)],
    x509: &str,
    serial: &str,
) -> Result<(Certificate, Vec<Certificate>), VerifyError> {
    let leaf = decode_certificate("X-Amz-X509", x509)?;
    let chain = match header_value(headers, "x-amz-x509-chain") {
        Some(value) => {
            let parts: Vec<&str> = value.split(',').collect();
            if parts.len() > MAX_CHAIN_CERTIFICATES {
                return Err(VerifyError::ChainTooLong(parts.len()));
            }
            parts
                .into_iter()
                .map(|p| decode_certificate("X-Amz-X509-Chain", p))
                .collect::<Result<Vec<_>, _>>()?
        }
        None => Vec::new(),
    };
    if serial != leaf.serial_decimal() {
        return Err(VerifyError::SerialMismatch {
            credential: serial.to_owned(),
            certificate: leaf.serial_decimal().to_owned(),
        });
    }
    Ok((leaf, chain))
}

/// The hex signature over `to_sign`, with the leaf's key and the algorithm's scheme.
fn check_signature(
    leaf: &Certificate,
    family: SignatureFamily,
    algorithm: &str,
    signature: &str,
    to_sign: &str,
) -> Result<(), VerifyError> {
    let signature = hex::decode(signature).map_err(|_| VerifyError::SignatureNotHex)?;
    if !leaf.fits_family(family) {
        return Err(VerifyError::AlgorithmKeyMismatch {
            algorithm: algorithm.to_owned(),
            key: leaf.key_kind(),
        });
    }
    leaf.verifies_request_signature(family, to_sign.as_bytes(), &signature)
        .then_some(())
        .ok_or(VerifyError::BadSignature)
}

/// A percent-decoded path.
pub(crate) fn decode_path(path: &str) -> String {
    percent_decode_str(path).decode_utf8_lossy().into_owned()
}

/// Query pairs, percent-decoded.
pub(crate) fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
            (decode(k), decode(v))
        })
        .collect()
}

fn requested_session(
    query: &[(String, String)],
    body: &[u8],
) -> Result<RequestedSession, VerifyError> {
    let body: Body = if body.iter().all(u8::is_ascii_whitespace) {
        Body::default()
    } else {
        serde_json::from_slice(body).map_err(|e| VerifyError::MalformedBody(e.to_string()))?
    };
    let from_query = |key: &str| query.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let pick = |name: &'static str, in_body: Option<String>| -> Result<String, VerifyError> {
        match (from_query(name), in_body) {
            (Some(q), Some(b)) if q != b => Err(VerifyError::ConflictingParameter(name)),
            (Some(v), _) | (None, Some(v)) => Ok(v),
            (None, None) => Err(VerifyError::MissingParameter(name)),
        }
    };
    Ok(RequestedSession {
        trust_anchor_arn: pick("trustAnchorArn", body.trust_anchor_arn)?,
        profile_arn: pick("profileArn", body.profile_arn)?,
        role_arn: pick("roleArn", body.role_arn)?,
        duration_seconds: body.duration_seconds,
        role_session_name: body.role_session_name,
    })
}
