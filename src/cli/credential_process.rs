//! `tessera credential-process`: print credentials in the credential_process JSON format,
//! answered from a cross-process cache when it holds credentials with enough life left.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, ValueEnum};
use time::Duration;

use super::args::RequestArgs;
use crate::clock::{Clock, SystemClock};
use crate::config::ResolvedProfile;
use crate::credentials::file_cache::{CacheKey, FileCache};
use crate::credentials::Credentials;
use crate::identity::file::{load_certificate, FileIdentity};

/// Where credentials are kept between runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum CacheMode {
    /// A 0600 file per request under the user cache directory, shared by concurrent runs.
    File,
    /// No cache: every run calls CreateSession (like aws_signing_helper).
    None,
}

/// Flags of `credential-process` (compatible with `aws_signing_helper credential-process`).
#[derive(Debug, Args)]
pub struct CredentialProcessArgs {
    #[command(flatten)]
    request: RequestArgs,
    /// Where credentials are cached between runs.
    #[arg(long, value_enum, default_value_t = CacheMode::File, env = "TESSERA_CACHE")]
    cache: CacheMode,
    /// Cache directory (default: $XDG_CACHE_HOME/tessera, else ~/.cache/tessera).
    #[arg(long, env = "TESSERA_CACHE_DIR", value_name = "DIR")]
    cache_dir: Option<PathBuf>,
}

pub(super) fn run(args: CredentialProcessArgs) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let profile = args.request.resolve()?;
    let credentials = match (args.cache, cache_dir(args.cache_dir.clone())) {
        (CacheMode::File, Some(dir)) => cached(&profile, &FileCache::new(dir), clock)?,
        (CacheMode::File, None) => {
            tracing::warn!("no cache directory (set TESSERA_CACHE_DIR or HOME); not caching");
            fetch(&profile, clock)?
        }
        (CacheMode::None, _) => fetch(&profile, clock)?,
    };
    let json = credentials.to_process_json();
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(json.as_bytes())
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush())
        .context("cannot write credentials to stdout")
}

/// `$XDG_CACHE_HOME/tessera`, else `$HOME/.cache/tessera`.
fn cache_dir(flag: Option<PathBuf>) -> Option<PathBuf> {
    flag.or_else(|| {
        std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(|d| PathBuf::from(d).join("tessera"))
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|v| !v.is_empty())
                    .map(|h| PathBuf::from(h).join(".cache/tessera"))
            })
    })
}

/// Calls CreateSession.
fn fetch(profile: &ResolvedProfile, clock: Arc<dyn Clock>) -> anyhow::Result<Credentials> {
    let identity = FileIdentity::load(&profile.sources, &profile.passphrase, clock.now())?;
    let client = profile.client(clock)?;
    let credentials =
        super::runtime()?.block_on(client.create_session(&profile.params, &identity))?;
    tracing::debug!(
        access_key_id = credentials.access_key_id(),
        "obtained credentials valid until {}",
        crate::identity::cert::rfc3339(credentials.expiration())
    );
    Ok(credentials)
}

/// Serves from the cache, or refreshes it under its lock so that concurrent runs make one
/// CreateSession between them. Cache trouble is a warning, never a failure.
fn cached(
    profile: &ResolvedProfile,
    cache: &FileCache,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Credentials> {
    // The key needs only the certificate, so a warm run never touches (or asks for) the key.
    let certificate = load_certificate(&profile.sources.certificate)?;
    let params = &profile.params;
    let duration = params.duration_seconds.to_string();
    let key = CacheKey::new(&[
        &certificate.fingerprint_sha256(),
        params.trust_anchor_arn.as_str(),
        params.profile_arn.as_str(),
        params.role_arn.as_str(),
        &duration,
        params.role_session_name.as_deref().unwrap_or(""),
        &profile.endpoint.to_string(),
        &profile.region,
    ]);
    let entry = cache.entry(&key);
    let session = Duration::seconds(i64::from(params.duration_seconds));
    let fresh = |clock: &dyn Clock| match entry.read() {
        Ok(Some(credentials)) if credentials.is_fresh(clock.now(), session) => Some(credentials),
        Ok(_) => None,
        Err(error) => {
            tracing::warn!("{error}");
            None
        }
    };
    if let Some(credentials) = fresh(clock.as_ref()) {
        tracing::debug!("answered from the cache");
        return Ok(credentials);
    }
    let _lock = entry
        .lock()
        .map_err(|error| tracing::warn!("{error:#}; continuing without the lock"))
        .ok();
    // Another run may have refreshed the entry while this one waited for the lock.
    if let Some(credentials) = fresh(clock.as_ref()) {
        return Ok(credentials);
    }
    let credentials = fetch(profile, clock)?;
    if let Err(error) = entry.write(&credentials) {
        tracing::warn!("{error:#}; the credentials were not cached");
    }
    Ok(credentials)
}
