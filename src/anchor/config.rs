//! The anchor's configuration file (TOML), shaped like the real Roles Anywhere resources so a
//! user can mirror an AWS setup, and its validation into ready-to-use state.
//!
//! ```toml
//! accountId = "123456789012"
//! region = "us-east-1"
//! minDurationSeconds = 900          # tests may lower it to exercise refresh
//!
//! [[trustAnchors]]
//! arn = "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/local"
//! certificates = ["root.pem"]       # PEM files, at most 2 certificates in all
//! crls = ["crl.pem"]                # optional, PEM or DER
//! enabled = true
//!
//! [[profiles]]
//! arn = "arn:aws:rolesanywhere:us-east-1:123456789012:profile/local"
//! roleArns = ["arn:aws:iam::123456789012:role/local"]
//! durationSeconds = 3600
//! enabled = true
//! acceptRoleSessionName = false
//! # attributeMappings = [...]       # default: the service's defaults
//!
//! [[roles]]
//! arn = "arn:aws:iam::123456789012:role/local"
//! maxSessionDuration = 3600
//! [[roles.conditions]]
//! test = "StringEquals"             # StringEquals, StringNotEquals, StringLike, ArnEquals, ArnLike
//! key = "aws:PrincipalTag/x509Subject/CN"
//! values = ["demo"]
//!
//! [[roles]]                         # reached by role chaining (STS AssumeRole)
//! arn = "arn:aws:iam::222233334444:role/admin"
//! trustedPrincipals = ["arn:aws:iam::123456789012:role/local"]
//! [[roles.assumeRoleConditions]]
//! test = "StringEquals"
//! key = "sts:ExternalId"
//! values = ["ops-7f3a"]
//! ```
//! Relative paths are relative to the config file's directory.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::enrol::config::EnrolmentConfig;

use crate::identity::Certificate;

/// Most CA certificates one trust anchor may hold (a service limit).
pub const MAX_ANCHOR_CERTIFICATES: usize = 2;
/// The service's session duration bounds.
pub const MAX_DURATION_SECONDS: u32 = 43_200;

fn yes() -> bool {
    true
}
fn default_duration() -> u32 {
    3600
}
fn default_min_duration() -> u32 {
    900
}

/// The file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnchorConfig {
    /// The account all ARNs belong to.
    pub account_id: String,
    /// The region all ARNs belong to.
    pub region: String,
    /// Shortest session granted (the service's is 900).
    #[serde(default = "default_min_duration")]
    pub min_duration_seconds: u32,
    /// Trust anchors.
    #[serde(default)]
    pub trust_anchors: Vec<TrustAnchorConfig>,
    /// Profiles.
    #[serde(default)]
    pub profiles: Vec<ProfileConfig>,
    /// Roles.
    #[serde(default)]
    pub roles: Vec<RoleConfig>,
    /// The enrolment CA for `tessera login` (absent: no `/1.0/sign`).
    #[serde(default)]
    pub enrolment: Option<EnrolmentConfig>,
}

/// One trust anchor.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrustAnchorConfig {
    /// Its ARN.
    pub arn: String,
    /// PEM files with the CA certificates (at most 2 in all).
    pub certificates: Vec<PathBuf>,
    /// CRL files (PEM or DER).
    #[serde(default)]
    pub crls: Vec<PathBuf>,
    /// Disabled anchors refuse every request.
    #[serde(default = "yes")]
    pub enabled: bool,
}

/// One profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfileConfig {
    /// Its ARN.
    pub arn: String,
    /// Roles the profile may assume.
    pub role_arns: Vec<String>,
    /// Session length cap.
    #[serde(default = "default_duration")]
    pub duration_seconds: u32,
    /// Disabled profiles refuse every request.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Whether a requested roleSessionName is honoured.
    #[serde(default)]
    pub accept_role_session_name: bool,
    /// How certificate fields become session tags (default: the service's defaults).
    #[serde(default)]
    pub attribute_mappings: Option<Vec<AttributeMapping>>,
}

/// One attribute mapping (as PutAttributeMapping).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttributeMapping {
    /// `x509Subject`, `x509Issuer` or `x509SAN`.
    pub certificate_field: String,
    /// Which parts of the field.
    pub mapping_rules: Vec<MappingRule>,
}

/// One mapping rule.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MappingRule {
    /// `*`, an RDN short name (`CN`, `OU`, …), or for SAN `DNS`, `URI`, `Name/*`, `Name/CN`.
    pub specifier: String,
}

/// One IAM role.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleConfig {
    /// Its ARN.
    pub arn: String,
    /// The role's MaxSessionDuration.
    #[serde(default = "default_duration")]
    pub max_session_duration: u32,
    /// Trust-policy conditions on CreateSession (the Roles Anywhere principal); all must hold.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The trust policy's AWS principals: role ARNs (IAM globs allowed) whose sessions may
    /// call `sts:AssumeRole` on this role (role chaining). Empty: no role may.
    #[serde(default)]
    pub trusted_principals: Vec<String>,
    /// Conditions on those AssumeRole calls; all must hold. Keys: `sts:ExternalId`,
    /// `sts:SourceIdentity`, `sts:RoleSessionName`, `aws:PrincipalArn`.
    #[serde(default)]
    pub assume_role_conditions: Vec<Condition>,
}

/// The condition keys an AssumeRole trust policy may test here.
pub const ASSUME_ROLE_CONDITION_KEYS: [&str; 4] = [
    "sts:ExternalId",
    "sts:SourceIdentity",
    "sts:RoleSessionName",
    "aws:PrincipalArn",
];

/// A trust-policy condition.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Condition {
    /// The operator.
    pub test: ConditionTest,
    /// `aws:PrincipalTag/<tag>`, `sts:SourceIdentity`, `aws:SourceArn` or `aws:SourceAccount`.
    pub key: String,
    /// Values; the condition holds when any matches (for the negated form: none matches).
    pub values: Vec<String>,
}

/// Condition operators.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub enum ConditionTest {
    /// Exact, case-sensitive.
    StringEquals,
    /// Not equal to any.
    StringNotEquals,
    /// Glob with `*` and `?`.
    StringLike,
    /// Exact ARN.
    ArnEquals,
    /// ARN glob.
    ArnLike,
}

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read anchor config {}", path.display())]
    Read {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The TOML is invalid.
    #[error("anchor config {} is invalid: {message}", path.display())]
    Parse {
        /// The path.
        path: PathBuf,
        /// The parser's message (one line).
        message: String,
    },
    /// A semantic problem.
    #[error("anchor config: {0}")]
    Invalid(String),
}

/// A trust anchor ready to use.
#[derive(Debug, Clone)]
pub struct TrustAnchor {
    /// The ARN.
    pub arn: String,
    /// CA certificates (DER).
    pub certificates: Vec<Vec<u8>>,
    /// CRLs (DER).
    pub crls: Vec<Vec<u8>>,
    /// Enabled flag.
    pub enabled: bool,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct AnchorState {
    /// The account.
    pub account_id: String,
    /// The region.
    pub region: String,
    /// Shortest session.
    pub min_duration_seconds: u32,
    /// Trust anchors.
    pub trust_anchors: Vec<TrustAnchor>,
    /// Profiles.
    pub profiles: Vec<ProfileConfig>,
    /// Roles.
    pub roles: Vec<RoleConfig>,
    /// The enrolment CA's settings, validated.
    pub enrolment: Option<EnrolmentConfig>,
}

impl AnchorConfig {
    /// Reads and parses a config file.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let config: Self = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.message().replace('\n', " "),
        })?;
        // Checked before anything is created on disk (the CA comes after the read).
        if let Some(enrolment) = &config.enrolment {
            enrolment.validate()?;
        }
        Ok(config)
    }

    /// A configuration for a local CA directory: one anchor holding its root (and CRL), one
    /// profile, one role.
    pub fn for_local_ca(root: &Path, crl: Option<&Path>) -> Self {
        let account = "123456789012".to_owned();
        let region = "us-east-1".to_owned();
        let role = format!("arn:aws:iam::{account}:role/local");
        Self {
            trust_anchors: vec![TrustAnchorConfig {
                arn: format!("arn:aws:rolesanywhere:{region}:{account}:trust-anchor/local"),
                certificates: vec![root.to_owned()],
                crls: crl.map(Path::to_owned).into_iter().collect(),
                enabled: true,
            }],
            profiles: vec![ProfileConfig {
                arn: format!("arn:aws:rolesanywhere:{region}:{account}:profile/local"),
                role_arns: vec![role.clone()],
                duration_seconds: 3600,
                enabled: true,
                accept_role_session_name: true,
                attribute_mappings: None,
            }],
            roles: vec![RoleConfig {
                arn: role,
                max_session_duration: 3600,
                conditions: Vec::new(),
                trusted_principals: Vec::new(),
                assume_role_conditions: Vec::new(),
            }],
            account_id: account,
            region,
            min_duration_seconds: default_min_duration(),
            enrolment: None,
        }
    }

    /// Validates and loads certificates and CRLs; `base` resolves relative paths.
    pub fn load(self, base: &Path) -> Result<AnchorState, ConfigError> {
        let invalid = ConfigError::Invalid;
        if self.account_id.len() != 12 || !self.account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(format!(
                "accountId '{}' is not 12 digits",
                self.account_id
            )));
        }
        if !crate::rolesanywhere::model::is_region(&self.region) {
            return Err(invalid(format!(
                "region '{}' is not a region name",
                self.region
            )));
        }
        if self.min_duration_seconds == 0 || self.min_duration_seconds > MAX_DURATION_SECONDS {
            return Err(invalid("minDurationSeconds must be 1–43200".into()));
        }
        let trust_anchors = self
            .trust_anchors
            .iter()
            .map(|anchor| load_trust_anchor(anchor, base))
            .collect::<Result<Vec<_>, _>>()?;
        for profile in &self.profiles {
            if !(self.min_duration_seconds..=MAX_DURATION_SECONDS)
                .contains(&profile.duration_seconds)
            {
                return Err(invalid(format!(
                    "profile {}: durationSeconds must be {}–43200",
                    profile.arn, self.min_duration_seconds
                )));
            }
        }
        for role in &self.roles {
            validate_role(role)?;
        }
        let mut enrolment = self.enrolment;
        if let Some(enrolment) = &mut enrolment {
            enrolment.ca_bundle = enrolment.ca_bundle.as_deref().map(|p| resolve(base, p));
        }
        Ok(AnchorState {
            enrolment,
            account_id: self.account_id,
            region: self.region,
            min_duration_seconds: self.min_duration_seconds,
            trust_anchors,
            profiles: self.profiles,
            roles: self.roles,
        })
    }
}

/// A role's AssumeRole condition keys.
fn validate_role(role: &RoleConfig) -> Result<(), ConfigError> {
    if let Some(bad) = role
        .assume_role_conditions
        .iter()
        .find(|c| !ASSUME_ROLE_CONDITION_KEYS.contains(&c.key.as_str()))
    {
        return Err(ConfigError::Invalid(format!(
            "role {}: assumeRoleConditions key '{}' is not one of {}",
            role.arn,
            bad.key,
            ASSUME_ROLE_CONDITION_KEYS.join(", ")
        )));
    }
    Ok(())
}

/// `path`, or `base/path` when relative.
fn resolve(base: &Path, path: &Path) -> std::path::PathBuf {
    if path.is_absolute() {
        path.to_owned()
    } else {
        base.join(path)
    }
}

/// Reads a file the config names.
fn read(path: &Path) -> Result<Vec<u8>, ConfigError> {
    fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
}

/// One trust anchor: its 1 or 2 CA certificates (each CA:TRUE) and its CRLs (PEM or DER).
fn load_trust_anchor(anchor: &TrustAnchorConfig, base: &Path) -> Result<TrustAnchor, ConfigError> {
    let invalid = ConfigError::Invalid;
    let mut certificates = Vec::new();
    for path in &anchor.certificates {
        let path = resolve(base, path);
        let pem = read(&path)?;
        let blocks =
            pem::parse_many(&pem).map_err(|e| invalid(format!("{}: {e}", path.display())))?;
        for block in blocks.iter().filter(|b| b.tag() == "CERTIFICATE") {
            let cert = Certificate::from_der(block.contents())
                .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
            if !cert.is_ca() {
                return Err(invalid(format!(
                    "trust anchor {}: {} is not a CA certificate (basicConstraints CA:TRUE is required)",
                    anchor.arn,
                    path.display()
                )));
            }
            certificates.push(block.contents().to_vec());
        }
    }
    if certificates.is_empty() || certificates.len() > MAX_ANCHOR_CERTIFICATES {
        return Err(invalid(format!(
            "trust anchor {} has {} CA certificates; it needs 1 or 2",
            anchor.arn,
            certificates.len()
        )));
    }
    let mut crls = Vec::new();
    for path in &anchor.crls {
        let path = resolve(base, path);
        let bytes = read(&path)?;
        let der = match pem::parse(&bytes) {
            Ok(block) => block.contents().to_vec(),
            Err(_) => bytes,
        };
        webpki::OwnedCertRevocationList::from_der(&der)
            .map_err(|e| invalid(format!("{} is not a CRL: {e:?}", path.display())))?;
        crls.push(der);
    }
    Ok(TrustAnchor {
        arn: anchor.arn.clone(),
        certificates,
        crls,
        enabled: anchor.enabled,
    })
}

/// The service's default attribute mappings.
pub fn default_attribute_mappings() -> Vec<AttributeMapping> {
    let rules = |specs: &[&str]| {
        specs
            .iter()
            .map(|s| MappingRule {
                specifier: (*s).to_owned(),
            })
            .collect()
    };
    vec![
        AttributeMapping {
            certificate_field: "x509Issuer".into(),
            mapping_rules: rules(&["*"]),
        },
        AttributeMapping {
            certificate_field: "x509SAN".into(),
            mapping_rules: rules(&["DNS", "URI", "Name/*"]),
        },
        AttributeMapping {
            certificate_field: "x509Subject".into(),
            mapping_rules: rules(&["*"]),
        },
    ]
}

#[cfg(test)]
mod tests;
