//! The `[enrolment]` section of the anchor's config: which identity provider's ID tokens it
//! accepts, for whom, and what the certificates it issues look like.
//!
//! ```toml
//! [enrolment]
//! issuer = "https://login.example.com"
//! audiences = ["tessera"]
//! allowedEmailDomains = ["example.com"]
//! allowedGroups = ["developers"]
//! certificateSeconds = 43200      # 12 h
//! maxCertificateSeconds = 43200
//! maxLoginSeconds = 604800        # renewals stop 7 days after sign-in
//! commonName = "{email}"
//! organizationalUnits = "{groups}"
//! uriSans = ["{iss}/{sub}"]     # a session-tag value may not hold '#'
//! ```

use serde::Deserialize;

use crate::anchor::config::ConfigError;
use crate::oidc::discovery::usable_url;

fn default_certificate_seconds() -> u64 {
    12 * 3600
}
fn default_max_login_seconds() -> u64 {
    7 * 24 * 3600
}
fn default_common_name() -> String {
    "{email}".into()
}
fn default_units() -> String {
    "{groups}".into()
}
fn default_uri_sans() -> Vec<String> {
    vec!["{iss}/{sub}".into()]
}
fn default_groups_claim() -> String {
    "groups".into()
}

/// Shortest certificate the CA issues, so that renewal at two thirds has room to work.
const MIN_CERTIFICATE_SECONDS: u64 = 60;

/// The enrolment CA's settings as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnrolmentConfig {
    /// The identity provider's issuer identifier (discovery runs against it).
    pub issuer: String,
    /// Client ids an ID token may be for.
    pub audiences: Vec<String>,
    /// The key set, when discovery should not be used to find it.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Email domains allowed (empty: any).
    #[serde(default)]
    pub allowed_email_domains: Vec<String>,
    /// Groups, one of which the person must be in (empty: any).
    #[serde(default)]
    pub allowed_groups: Vec<String>,
    /// The claim holding the groups.
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// Lifetime of an issued certificate.
    #[serde(default = "default_certificate_seconds")]
    pub certificate_seconds: u64,
    /// Longest lifetime a request may ask for (defaults to `certificateSeconds`).
    #[serde(default)]
    pub max_certificate_seconds: Option<u64>,
    /// How long after sign-in renewals are allowed.
    #[serde(default = "default_max_login_seconds")]
    pub max_login_seconds: u64,
    /// Template of the subject CN.
    #[serde(default = "default_common_name")]
    pub common_name: String,
    /// Template of the subject OUs; a list claim alone (`{groups}`) gives one OU per value.
    #[serde(default = "default_units")]
    pub organizational_units: String,
    /// Templates of the URI SANs.
    #[serde(default = "default_uri_sans")]
    pub uri_sans: Vec<String>,
    /// PEM roots for reaching the identity provider, instead of the system's.
    #[serde(default)]
    pub ca_bundle: Option<std::path::PathBuf>,
}

impl EnrolmentConfig {
    /// The longest certificate a request may get.
    pub fn max_certificate_seconds(&self) -> u64 {
        self.max_certificate_seconds
            .unwrap_or(self.certificate_seconds)
    }

    /// Checks the settings; every message names the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(format!("enrolment: {m}")));
        if usable_url(&self.issuer).is_none() {
            return invalid(format!(
                "issuer '{}' must be an https:// URL (http:// only on loopback)",
                self.issuer
            ));
        }
        if let Some(uri) = self.jwks_uri.as_deref().filter(|u| usable_url(u).is_none()) {
            return invalid(format!(
                "jwksUri '{uri}' must be an https:// URL (http:// only on loopback)"
            ));
        }
        if self.audiences.is_empty() || self.audiences.iter().any(|a| a.is_empty()) {
            return invalid("audiences must name at least one client id".into());
        }
        if self.certificate_seconds < MIN_CERTIFICATE_SECONDS {
            return invalid(format!(
                "certificateSeconds must be at least {MIN_CERTIFICATE_SECONDS}"
            ));
        }
        if self.max_certificate_seconds() < self.certificate_seconds {
            return invalid("maxCertificateSeconds must not be below certificateSeconds".into());
        }
        if self.max_login_seconds < self.certificate_seconds {
            return invalid("maxLoginSeconds must not be below certificateSeconds".into());
        }
        if self.common_name.trim().is_empty() {
            return invalid("commonName must not be empty".into());
        }
        Ok(())
    }
}
