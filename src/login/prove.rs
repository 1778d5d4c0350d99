//! The last step of a login: one CreateSession with the new certificate, then
//! GetCallerIdentity with the credentials it returned, so the person sees the role they have.

use std::sync::Arc;

use tokio::runtime::Runtime;

use crate::aws_credentials::Credentials;
use crate::clock::Clock;
use crate::config::ResolvedProfile;
use crate::credentials::process_cache;
use crate::credentials::provider::ProviderError;
use crate::http::{build_client, HttpSetupError};
use crate::sts::{self, StsClientError};

/// Why the proof failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProveError {
    /// CreateSession failed.
    #[error("the new certificate was stored, but CreateSession with it failed")]
    CreateSession(#[source] ProviderError),
    /// The STS client could not be built.
    #[error(transparent)]
    Http(#[from] HttpSetupError),
    /// GetCallerIdentity failed.
    #[error("the credentials were issued, but GetCallerIdentity failed")]
    Sts(#[source] StsClientError),
}

/// The STS endpoint for a profile: the Roles Anywhere endpoint itself when it is overridden
/// (the local anchor serves STS there), else the region's STS.
pub fn sts_endpoint(profile: &ResolvedProfile, overridden: bool) -> http::Uri {
    if overridden {
        return profile.endpoint.clone();
    }
    format!("https://sts.{}.amazonaws.com/", profile.region)
        .parse()
        .unwrap_or_else(|_| profile.endpoint.clone())
}

/// Runs CreateSession and GetCallerIdentity; returns the credentials and the caller's ARN.
pub fn prove(
    profile: &ResolvedProfile,
    sts_endpoint: &http::Uri,
    clock: Arc<dyn Clock>,
    runtime: &Runtime,
) -> Result<(Credentials, String), ProveError> {
    let credentials =
        process_cache::fetch(profile, clock.clone(), runtime).map_err(ProveError::CreateSession)?;
    let http = build_client(&profile.client_options)?;
    let arn = runtime
        .block_on(sts::get_caller_identity(
            &http,
            sts_endpoint,
            &profile.region,
            &credentials,
            clock.now(),
        ))
        .map_err(ProveError::Sts)?;
    Ok((credentials, arn))
}
