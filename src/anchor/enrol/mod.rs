//! The anchor's enrolment CA: ID token + CSR in, short-lived certificate out, in the request
//! and response shapes of step-ca's `/1.0/sign` (`{"csr","ott"}` → `{"crt","ca","certChain"}`)
//! and `/1.0/renew` (a bearer token signed by the current certificate's key, with the
//! certificate in its `x5c` header). Certificates come from the anchor's local CA.

pub mod config;
pub mod renew;
pub mod template;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde::Deserialize;
use serde_json::json;
use time::{Duration, OffsetDateTime};
use tokio::sync::OnceCell;

use self::config::EnrolmentConfig;
use self::renew::RenewalIds;
use crate::clock::Clock;
use crate::http::{build_client, ClientOptions, HttpSetupError};
use crate::oidc::id_token::{self, Claims, Expectations, TokenError};
use crate::oidc::jwks::KeyCache;
use crate::oidc::{discovery, OidcHttp};
use crate::pki::login_leaf::{LoginLeaf, SignedLeaf};
use crate::pki::LocalCa;
use crate::server::Reply;

/// A refused enrolment: the status and one line for the client (never a token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolRefusal {
    /// HTTP status.
    pub status: u16,
    /// The reason.
    pub message: String,
}

impl EnrolRefusal {
    fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

/// The enrolment CA.
#[derive(Debug)]
pub struct Enrolment {
    config: EnrolmentConfig,
    ca: LocalCa,
    http: OidcHttp,
    keys: OnceCell<KeyCache>,
    renewal_ids: RenewalIds,
    clock: Arc<dyn Clock>,
}

#[derive(Deserialize)]
struct SignRequest {
    csr: String,
    ott: crate::secret::SecretString,
    #[serde(default, rename = "notAfter")]
    not_after: Option<String>,
}

impl Enrolment {
    /// An enrolment CA issuing from `ca`, verifying tokens with keys fetched over `http`.
    pub fn new(
        config: EnrolmentConfig,
        ca: LocalCa,
        http: OidcHttp,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            config,
            ca,
            http,
            keys: OnceCell::new(),
            renewal_ids: RenewalIds::default(),
            clock,
        }
    }

    /// An enrolment CA for `config`, reaching the identity provider through the outbound
    /// stack (system roots, or the config's `caBundle`).
    pub fn build(
        config: &EnrolmentConfig,
        ca: LocalCa,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, HttpSetupError> {
        let options = ClientOptions {
            ca_bundle: config.ca_bundle.clone(),
            insecure_skip_verify: false,
            connect_timeout: crate::http::DEFAULT_CONNECT_TIMEOUT,
            needs_tls: config.issuer.starts_with("https:")
                || config
                    .jwks_uri
                    .as_deref()
                    .is_some_and(|u| u.starts_with("https:")),
            proxy: crate::http::ProxySettings::default(),
        };
        Ok(Self::new(
            config.clone(),
            ca,
            OidcHttp::new(build_client(&options)?),
            clock,
        ))
    }

    /// `POST /1.0/sign`.
    pub async fn sign(&self, body: &[u8]) -> Reply {
        let outcome = self.sign_inner(body).await;
        self.answer("sign", outcome)
    }

    /// `POST /1.0/renew` with `authorization` and the request's Host.
    pub fn renew(&self, authorization: Option<&str>, host: Option<&str>) -> Reply {
        let now = self.clock.now();
        let outcome = renew::renew(self, authorization, host, now);
        self.answer("renew", outcome)
    }

    fn answer(&self, action: &str, outcome: Result<(String, SignedLeaf), EnrolRefusal>) -> Reply {
        match outcome {
            Ok((who, leaf)) => {
                tracing::info!(subject = %crate::text::printable(&who, 200), "enrolment {action}: certificate issued");
                Reply::new(
                    201,
                    "application/json",
                    json!({"crt": leaf.certificate, "ca": leaf.issuer, "certChain": leaf.chain})
                        .to_string(),
                )
            }
            Err(refusal) => {
                tracing::warn!(
                    status = refusal.status,
                    "enrolment {action} refused: {}",
                    refusal.message
                );
                Reply::new(
                    refusal.status,
                    "application/json",
                    json!({"status": refusal.status, "message": refusal.message}).to_string(),
                )
            }
        }
    }

    async fn sign_inner(&self, body: &[u8]) -> Result<(String, SignedLeaf), EnrolRefusal> {
        let request: SignRequest = serde_json::from_slice(body).map_err(|_| {
            EnrolRefusal::new(
                400,
                "the body must be JSON {\"csr\": PEM, \"ott\": ID token}",
            )
        })?;
        let now = self.clock.now();
        let claims = self.verify_token(request.ott.expose_secret(), now).await?;
        self.check_policy(&claims)?;
        let csr = rcgen::CertificateSigningRequestParams::from_pem(&request.csr).map_err(|_| {
            EnrolRefusal::new(
                400,
                "the CSR is not a PEM certificate request whose signature verifies with its own key",
            )
        })?;
        check_key_algorithm(csr.public_key.algorithm())?;
        let lifetime = self.lifetime(request.not_after.as_deref(), now)?;
        let leaf = self.leaf_for(&claims, now + lifetime, now)?;
        let signed = self
            .ca
            .issue_login_leaf(&csr.public_key, &leaf, now)
            .map_err(|e| EnrolRefusal::new(500, format!("the CA could not issue: {e}")))?;
        Ok((leaf.common_name, signed))
    }

    async fn verify_token(&self, token: &str, now: OffsetDateTime) -> Result<Claims, EnrolRefusal> {
        let keys = self
            .keys
            .get_or_try_init(|| async {
                let jwks = match self
                    .config
                    .jwks_uri
                    .as_deref()
                    .and_then(discovery::usable_url)
                {
                    Some(uri) => uri,
                    None => {
                        discovery::discover(&self.http, &self.config.issuer)
                            .await?
                            .jwks
                    }
                };
                Ok::<_, discovery::DiscoveryError>(KeyCache::new(jwks))
            })
            .await
            .map_err(|e| EnrolRefusal::new(502, crate::text::with_causes(&e)))?;
        let expect = Expectations {
            issuer: &self.config.issuer,
            audiences: &self.config.audiences,
            nonce: None,
            now,
        };
        id_token::verify(&self.http, keys, token, &expect)
            .await
            .map_err(|e| {
                let status = if matches!(e, TokenError::Key(crate::oidc::jwks::KeyError::Fetch(_)))
                {
                    502
                } else {
                    401
                };
                EnrolRefusal::new(status, crate::text::with_causes(&e))
            })
    }

    fn check_policy(&self, claims: &Claims) -> Result<(), EnrolRefusal> {
        let email = claims.string("email").unwrap_or_default();
        if claims.0.get("email_verified") == Some(&serde_json::Value::Bool(false)) {
            return Err(EnrolRefusal::new(
                403,
                format!(
                    "the email '{}' is not verified at the identity provider",
                    crate::text::printable(email, 100)
                ),
            ));
        }
        let domains = &self.config.allowed_email_domains;
        if !domains.is_empty() {
            let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
            if !domains.iter().any(|d| d.eq_ignore_ascii_case(domain)) {
                return Err(EnrolRefusal::new(
                    403,
                    format!(
                        "the email domain of '{}' is not allowed (allowed: {})",
                        crate::text::printable(email, 100),
                        domains.join(", ")
                    ),
                ));
            }
        }
        let allowed = &self.config.allowed_groups;
        if !allowed.is_empty() {
            let groups = claims.strings(&self.config.groups_claim);
            if !groups.iter().any(|g| allowed.contains(g)) {
                return Err(EnrolRefusal::new(
                    403,
                    format!(
                        "'{}' is in none of the allowed groups ({})",
                        crate::text::printable(email, 100),
                        allowed.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The certificate lifetime: the configured one, or a shorter or longer requested one up
    /// to the maximum.
    fn lifetime(
        &self,
        not_after: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Duration, EnrolRefusal> {
        let max = seconds(self.config.max_certificate_seconds());
        let Some(requested) = not_after else {
            return Ok(seconds(self.config.certificate_seconds));
        };
        let at = OffsetDateTime::parse(requested, &time::format_description::well_known::Rfc3339)
            .map_err(|_| EnrolRefusal::new(400, "notAfter must be an RFC 3339 time"))?;
        let wanted = at - now;
        if wanted <= Duration::ZERO {
            return Err(EnrolRefusal::new(400, "notAfter is in the past"));
        }
        Ok(wanted.min(max))
    }

    fn leaf_for(
        &self,
        claims: &Claims,
        not_after: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<LoginLeaf, EnrolRefusal> {
        let missing = |e: template::MissingClaim| EnrolRefusal::new(403, e.to_string());
        Ok(LoginLeaf {
            common_name: template::fill(&self.config.common_name, claims, "CN").map_err(missing)?,
            organizational_units: template::fill_many(&self.config.organizational_units, claims),
            uri_sans: self
                .config
                .uri_sans
                .iter()
                .map(|t| template::fill(t, claims, "URI SAN"))
                .collect::<Result<_, _>>()
                .map_err(missing)?,
            not_after,
            login_deadline: now + seconds(self.config.max_login_seconds),
        })
    }
}

fn seconds(value: u64) -> Duration {
    Duration::seconds(i64::try_from(value).unwrap_or(i64::MAX))
}

/// Roles Anywhere signs with RSA or ECDSA P-256/P-384 only.
fn check_key_algorithm(algorithm: &rcgen::SignatureAlgorithm) -> Result<(), EnrolRefusal> {
    let supported = [
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &rcgen::PKCS_ECDSA_P384_SHA384,
        &rcgen::PKCS_RSA_SHA256,
    ];
    if supported.contains(&algorithm) {
        Ok(())
    } else {
        Err(EnrolRefusal::new(
            400,
            "the CSR's key is not RSA or ECDSA P-256/P-384, which Roles Anywhere requires",
        ))
    }
}
