//! Renewal without a browser: at two thirds of a login certificate's life, a JWT signed by
//! the current key (the certificate in its `x5c` header; step-ca's renewal token) goes to the
//! enrolment CA's `/1.0/renew`, and the certificate that comes back (same key, same subject)
//! replaces the file atomically. The credential refresher then sees rotated files and signs
//! with it. A failed renewal is retried with back-off while the current certificate lasts.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::Uri;
use serde::Deserialize;
use serde_json::json;
use time::{Duration, OffsetDateTime};
use tokio::sync::watch;

use crate::clock::Clock;
use crate::files::{self, FileError};
use crate::identity::{Certificate, Digest, KeyKind, SignError, Signer};
use crate::oidc::{jws, HttpJsonError, OidcHttp};

/// How often the renewal loop looks at the wall clock (a laptop may have slept).
const POLL: StdDuration = StdDuration::from_secs(5);
/// Lifetime of a renewal token.
const TOKEN_SECONDS: i64 = 300;

/// A profile whose certificate came from `tessera login` and renews itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renewal {
    /// The profile, for messages.
    pub profile: String,
    /// The enrolment CA.
    pub enrol_url: Uri,
    /// The certificate file to replace.
    pub certificate: PathBuf,
    /// The intermediates file, when the profile has one.
    pub chain: Option<PathBuf>,
}

/// Why a renewal failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenewError {
    /// The key could not sign the token.
    #[error("cannot sign the renewal token")]
    Sign(#[from] SignError),
    /// The key type cannot sign a JWS here.
    #[error("a {0} key cannot sign a renewal token")]
    KeyType(KeyKind),
    /// The CA refused or could not be reached.
    #[error("the enrolment CA did not renew the certificate")]
    Refused(#[source] HttpJsonError),
    /// The answer is not a certificate for this key.
    #[error("the enrolment CA answered with a certificate that is not for this key")]
    BadAnswer,
    /// The new certificate could not be written.
    #[error(transparent)]
    File(#[from] FileError),
}

impl RenewError {
    /// Whether retrying cannot help (the CA said no: expired, or past the login's end).
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Refused(HttpJsonError::Status {
                status: 401 | 403,
                ..
            })
        )
    }
}

/// When `certificate` is due for renewal: two thirds into its life.
pub fn due_at(certificate: &Certificate) -> OffsetDateTime {
    let lifetime = certificate.not_after() - certificate.not_before();
    certificate.not_before() + lifetime * 2 / 3
}

/// The one line for a login certificate that expired.
pub fn expired_line(profile: &str, at: OffsetDateTime) -> String {
    crate::credentials::provider::ProviderError::LoginExpired(format!(
        "the certificate for profile {profile} expired at {}; run 'tessera login --profile {profile}'",
        crate::time_format::rfc3339(at)
    ))
    .to_string()
}

/// A renewal token for `identity`'s certificate, for the CA at `audience`.
pub fn renewal_token(
    identity: &dyn Signer,
    audience: &str,
    now: OffsetDateTime,
) -> Result<String, RenewError> {
    let certificate = identity.certificate();
    let (alg, digest) = match certificate.key_kind() {
        KeyKind::EcP256 => ("ES256", Digest::Sha256),
        KeyKind::EcP384 => ("ES384", Digest::Sha384),
        KeyKind::Rsa { .. } => ("RS256", Digest::Sha256),
        other => return Err(RenewError::KeyType(other)),
    };
    let id = hex::encode(crate::secret::random_bytes::<16>().map_err(|_| RenewError::BadAnswer)?);
    let header = json!({"alg": alg, "typ": "JWT", "x5c": [STANDARD.encode(certificate.der())]});
    let claims = json!({
        "aud": audience,
        "sub": certificate.subject(),
        "iat": now.unix_timestamp(),
        "nbf": now.unix_timestamp(),
        "exp": now.unix_timestamp() + TOKEN_SECONDS,
        "jti": id,
    });
    jws::encode(&header, &claims, |input| {
        let signature = identity.sign(input, digest)?;
        Ok(match certificate.key_kind() {
            KeyKind::EcP256 => fixed_p256(&signature)?,
            KeyKind::EcP384 => fixed_p384(&signature)?,
            _ => signature,
        })
    })
}

fn fixed_p256(der: &[u8]) -> Result<Vec<u8>, RenewError> {
    p256::ecdsa::Signature::from_der(der)
        .map(|s| s.to_bytes().to_vec())
        .map_err(|_| RenewError::BadAnswer)
}

fn fixed_p384(der: &[u8]) -> Result<Vec<u8>, RenewError> {
    p384::ecdsa::Signature::from_der(der)
        .map(|s| s.to_bytes().to_vec())
        .map_err(|_| RenewError::BadAnswer)
}

#[derive(Deserialize)]
struct RenewResponse {
    crt: String,
    #[serde(default, rename = "certChain")]
    cert_chain: Vec<String>,
}

/// Renews `identity`'s certificate and writes it over the profile's file; returns the new one.
pub async fn renew(
    http: &OidcHttp,
    renewal: &Renewal,
    identity: &dyn Signer,
    now: OffsetDateTime,
) -> Result<Certificate, RenewError> {
    let url: Uri = format!(
        "{}/1.0/renew",
        renewal.enrol_url.to_string().trim_end_matches('/')
    )
    .parse()
    .map_err(|_| RenewError::BadAnswer)?;
    let token = renewal_token(identity, &url.to_string(), now)?;
    let answer: RenewResponse = http
        .post_json(&url, &json!({}), Some(&token))
        .await
        .map_err(RenewError::Refused)?;
    let block = pem::parse(&answer.crt).map_err(|_| RenewError::BadAnswer)?;
    let renewed = Certificate::from_der(block.contents()).map_err(|_| RenewError::BadAnswer)?;
    if renewed.public_key() != identity.certificate().public_key() {
        return Err(RenewError::BadAnswer);
    }
    if let Some(chain) = &renewal.chain {
        let intermediates: String = answer
            .cert_chain
            .iter()
            .skip(1)
            .map(String::as_str)
            .collect();
        if !intermediates.is_empty() {
            files::write_atomic(chain, intermediates.as_bytes(), 0o644)?;
        }
    }
    files::write_atomic(&renewal.certificate, answer.crt.as_bytes(), 0o644)?;
    Ok(renewed)
}

/// What the renewal loop needs to load the current identity.
pub type LoadIdentity = Arc<dyn Fn() -> Option<Arc<dyn Signer>> + Send + Sync>;

/// Renews the certificate whenever it is due, until `shutdown`.
pub async fn run(
    renewal: Renewal,
    http: OidcHttp,
    load: LoadIdentity,
    clock: Arc<dyn Clock>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut retry_after: Option<OffsetDateTime> = None;
    let mut failures: u32 = 0;
    let mut reported_expiry = None;
    loop {
        let now = clock.now();
        if let Some(identity) = load() {
            let certificate = identity.certificate().clone();
            let due = retry_after.map_or(due_at(&certificate), |r| r.max(due_at(&certificate)));
            if now >= certificate.not_after() {
                if reported_expiry != Some(certificate.not_after()) {
                    tracing::error!(
                        "{}",
                        expired_line(&renewal.profile, certificate.not_after())
                    );
                    reported_expiry = Some(certificate.not_after());
                }
            } else if now >= due {
                match renew(&http, &renewal, identity.as_ref(), now).await {
                    Ok(renewed) => {
                        failures = 0;
                        // At the login's end the CA caps NotAfter; renewing again gains nothing.
                        retry_after = (renewed.not_after() <= certificate.not_after())
                            .then(|| renewed.not_after());
                        tracing::info!(profile = %renewal.profile, "renewed the login certificate; valid until {}", crate::time_format::rfc3339(renewed.not_after()));
                    }
                    Err(error) => {
                        failures = failures.saturating_add(1);
                        let wait = if error.is_final() {
                            certificate.not_after() - now
                        } else {
                            Duration::seconds(5i64 << failures.min(6))
                        };
                        retry_after = Some(now + wait);
                        tracing::warn!(profile = %renewal.profile, "{}; the current certificate is used until {}", crate::text::with_causes(&error), crate::time_format::rfc3339(certificate.not_after()));
                    }
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}
