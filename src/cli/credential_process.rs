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
use crate::credentials::file_cache::{CacheEntry, CacheKey, FileCache};
use crate::credentials::keyring_cache::KeyringCache;
use crate::credentials::Credentials;
use crate::identity::source;

/// Where credentials are kept between runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum CacheMode {
    /// A 0600 file per request under the user cache directory, shared by concurrent runs.
    File,
    /// The OS keyring (Linux: the kernel keyutils store); lock files stay in the cache directory.
    Keyring,
    /// No cache: every run calls CreateSession (like aws_signing_helper).
    None,
}

/// The cache backend in use (the file backend is the entry itself).
enum Store {
    File,
    Keyring(KeyringCache),
}

impl Store {
    fn read(&self, entry: &CacheEntry, key: &CacheKey) -> anyhow::Result<Option<Credentials>> {
        Ok(match self {
            Store::File => entry.read()?,
            Store::Keyring(keyring) => keyring.read(key)?,
        })
    }

    fn write(
        &self,
        entry: &CacheEntry,
        key: &CacheKey,
        credentials: &Credentials,
    ) -> anyhow::Result<()> {
        match self {
            Store::File => entry.write(credentials)?,
            Store::Keyring(keyring) => keyring.write(key, credentials)?,
        }
        Ok(())
    }
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
        (CacheMode::None, _) => fetch(&profile, clock)?,
        (_, None) => {
            tracing::warn!("no cache directory (set TESSERA_CACHE_DIR or HOME); not caching");
            fetch(&profile, clock)?
        }
        (CacheMode::File, Some(dir)) => {
            cached(&profile, &FileCache::new(dir), &Store::File, clock)?
        }
        (CacheMode::Keyring, Some(dir)) => match KeyringCache::open() {
            Ok(keyring) => cached(
                &profile,
                &FileCache::new(dir),
                &Store::Keyring(keyring),
                clock,
            )?,
            Err(error) => {
                tracing::warn!("{error}; not caching");
                fetch(&profile, clock)?
            }
        },
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
    flag.or_else(|| super::args::xdg_path("XDG_CACHE_HOME", "tessera", ".cache/tessera"))
}

/// Calls CreateSession.
fn fetch(profile: &ResolvedProfile, clock: Arc<dyn Clock>) -> anyhow::Result<Credentials> {
    let identity = source::load(&profile.sources, &profile.passphrase, clock.now())?;
    let client = profile.client(clock)?;
    let credentials =
        super::runtime()?.block_on(client.create_session(&profile.params, identity.as_ref()))?;
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
    store: &Store,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Credentials> {
    // The key needs only the certificate, so a warm run never touches (or asks for) the key.
    let certificate = source::load_certificate(&profile.sources)?;
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
    let fresh = |clock: &dyn Clock| match store.read(&entry, &key) {
        Ok(Some(credentials)) if credentials.is_fresh(clock.now(), session) => Some(credentials),
        Ok(_) => None,
        Err(error) => {
            tracing::warn!("{error:#}");
            None
        }
    };
    if let Some(credentials) = fresh(clock.as_ref()) {
        tracing::debug!("answered from the cache");
        return Ok(credentials);
    }
    let _lock = entry
        .lock()
        .map_err(|error| {
            tracing::warn!(
                "{:#}; continuing without the lock",
                anyhow::Error::from(error)
            );
        })
        .ok();
    // Another run may have refreshed the entry while this one waited for the lock.
    if let Some(credentials) = fresh(clock.as_ref()) {
        return Ok(credentials);
    }
    let credentials = fetch(profile, clock)?;
    if let Err(error) = store.write(&entry, &key, &credentials) {
        tracing::warn!("{error:#}; the credentials were not cached");
    }
    Ok(credentials)
}
