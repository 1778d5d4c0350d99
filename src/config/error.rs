//! Why settings cannot be used: each variant names the file, profile, flag or setting to fix.

use std::path::PathBuf;

use super::PROFILE_NAME_RULE;
use crate::http::HttpSetupError;
use crate::identity::key_ref::KeyRefError;
use crate::rolesanywhere::endpoint::EndpointError;
use crate::rolesanywhere::model::ParamError;

/// Why settings cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read config {}", path.display())]
    Read {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("config {} is invalid: {message}", path.display())]
    Parse {
        /// The path.
        path: PathBuf,
        /// One line.
        message: String,
    },
    /// The profile is not in the file.
    #[error("profile '{name}' is not in {} (profiles there: {known})", path.display())]
    UnknownProfile {
        /// The name asked for.
        name: String,
        /// The file.
        path: PathBuf,
        /// Names that exist.
        known: String,
    },
    /// A required setting is missing everywhere.
    #[error("no {setting}: pass --{flag} (or set TESSERA_{env}){}", profile.as_deref().map(|p| format!(", or set `{flag}` in profile '{p}'")).unwrap_or_default())]
    Missing {
        /// Human name.
        setting: &'static str,
        /// Flag / config key.
        flag: &'static str,
        /// Env suffix.
        env: &'static str,
        /// The profile in use.
        profile: Option<String>,
    },
    /// A parameter is invalid.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// A certificate or key value that does not parse.
    #[error(transparent)]
    KeyRef(#[from] KeyRefError),
    /// The endpoint cannot be resolved.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The HTTP client cannot be built.
    #[error(transparent)]
    Http(#[from] HttpSetupError),
    /// A profile with `source-profile` that is not only a link of a chain.
    #[error("profile '{profile}' names source-profile '{source_profile}', so its certificate and Roles Anywhere settings come from '{source_profile}': give it a [profiles.{profile}.assume-role] table with role-arn, and nothing else")]
    ChainedProfileSettings {
        /// The profile.
        profile: String,
        /// Its source profile.
        source_profile: String,
    },
    /// `source-profile` links that come back to a profile.
    #[error("source-profile links in {} form a cycle: {cycle}; the chain must end at a profile with a certificate", path.display())]
    ChainCycle {
        /// The profiles, in order, the first repeated at the end.
        cycle: String,
        /// The file.
        path: PathBuf,
    },
    /// One `assume-role` table is invalid.
    #[error("[profiles.{profile}.assume-role]")]
    Hop {
        /// The profile.
        profile: String,
        /// What is wrong.
        #[source]
        source: Box<ConfigError>,
    },
    /// A chained session shorter than AssumeRole allows.
    #[error("duration {0} is under the 900 seconds AssumeRole allows")]
    ChainDuration(u64),
    /// An STS endpoint that is not a URL.
    #[error("sts-endpoint '{0}' is not a URL")]
    StsEndpoint(String),
    /// A name template that cannot be used.
    #[error(transparent)]
    Template(#[from] crate::credentials::attribution::TemplateError),
    /// `https-proxy` is not a proxy URL.
    #[error("{0}")]
    Proxy(&'static str),
    /// A timeout is not a positive number.
    #[error("--{0} must be a positive number of seconds")]
    Timeout(&'static str),
    /// A profile name that could not be a file name or a metrics label.
    #[error("profile name '{}' in {} is invalid: {PROFILE_NAME_RULE}", crate::text::printable(name, 80), path.display())]
    InvalidProfileName {
        /// The name.
        name: String,
        /// The file.
        path: PathBuf,
    },
}
