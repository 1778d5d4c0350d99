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
use crate::credentials::cache_key::{identity_digest, CacheKey};
use crate::credentials::file_cache::{CacheEntry, FileCache};
use crate::credentials::keyring_cache::KeyringCache;
use crate::credentials::Credentials;
use crate::identity::{source, Signer};

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
        (mode, Some(dir)) => match open_cache(mode, dir) {
            Some((cache, store)) => cached(&profile, &cache, &store, clock)?,
            None => fetch(&profile, clock)?,
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

/// The cache directory (for entries or, with the keyring, for locks) and the store; `None`,
/// after a warning, when either cannot be used.
fn open_cache(mode: CacheMode, dir: PathBuf) -> Option<(FileCache, Store)> {
    let cache = FileCache::open(dir)
        .map_err(|error| tracing::warn!("{error:#}"))
        .ok()?;
    let store = match mode {
        CacheMode::Keyring => Store::Keyring(
            KeyringCache::open()
                .map_err(|error| tracing::warn!("{error}; not caching"))
                .ok()?,
        ),
        CacheMode::File | CacheMode::None => Store::File,
    };
    Some((cache, store))
}

/// The cache key: the digest of every identity input, every request parameter and, for an
/// identity behind a passphrase or PIN, the certificate it proved itself with. Such an
/// identity is unlocked here, so a wrong secret fails even when the cache is warm; it is
/// returned for the refresh to reuse.
fn cache_key(
    profile: &ResolvedProfile,
    clock: &dyn Clock,
) -> anyhow::Result<(CacheKey, Option<Arc<dyn Signer>>)> {
    let identity = identity_digest(&profile.sources, &profile.passphrase)?;
    let unlocked = if identity.needs_unlock {
        Some(source::load(
            &profile.sources,
            &profile.passphrase,
            clock.now(),
        )?)
    } else {
        None
    };
    let proven = unlocked
        .as_ref()
        .map(|signer| signer.certificate().fingerprint_sha256())
        .unwrap_or_default();
    let params = &profile.params;
    let duration = params.duration_seconds.to_string();
    let endpoint = profile.endpoint.to_string();
    let key = CacheKey::new(&[
        identity.digest.as_str().as_bytes(),
        proven.as_bytes(),
        params.trust_anchor_arn.as_str().as_bytes(),
        params.profile_arn.as_str().as_bytes(),
        params.role_arn.as_str().as_bytes(),
        duration.as_bytes(),
        params.role_session_name.as_deref().unwrap_or("").as_bytes(),
        endpoint.as_bytes(),
        profile.region.as_bytes(),
    ]);
    Ok((key, unlocked))
}

/// Calls CreateSession.
fn fetch(profile: &ResolvedProfile, clock: Arc<dyn Clock>) -> anyhow::Result<Credentials> {
    let identity = source::load(&profile.sources, &profile.passphrase, clock.now())?;
    fetch_with(profile, identity, clock)
}

/// Calls CreateSession with an identity already loaded.
fn fetch_with(
    profile: &ResolvedProfile,
    identity: Arc<dyn Signer>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Credentials> {
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
    // A warm run reads the identity's inputs but decrypts nothing, unless a secret locks it.
    let (key, unlocked) = cache_key(profile, clock.as_ref())?;
    let entry = cache.entry(&key);
    let session = Duration::seconds(i64::from(profile.params.duration_seconds));
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
    let credentials = match unlocked {
        Some(identity) => fetch_with(profile, identity, clock)?,
        None => fetch(profile, clock)?,
    };
    if let Err(error) = store.write(&entry, &key, &credentials) {
        tracing::warn!("{error:#}; the credentials were not cached");
    }
    Ok(credentials)
}
