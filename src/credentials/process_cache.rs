//! credential-process's cross-process cache: a warm run answers from an entry keyed on every
//! input that changes the answer; a cold run refreshes it under the entry's lock, so concurrent
//! runs make one CreateSession between them. Cache trouble is a warning, never a failure.

use std::path::PathBuf;
use std::sync::Arc;

use time::Duration;
use tokio::runtime::Runtime;

use super::cache_key::{identity_digest, CacheKey};
use super::file_cache::{CacheEntry, FileCache};
use super::keyring_cache::KeyringCache;
use super::provider::ProviderError;
use crate::aws_credentials::Credentials;
use crate::clock::Clock;
use crate::config::ResolvedProfile;
use crate::identity::{source, Signer};
use crate::text::with_causes;

/// Where entries are kept: files in the cache directory, or the OS keyring (the locks stay in
/// the directory).
#[derive(Debug)]
pub enum CacheStore {
    /// A 0600 file per entry.
    File,
    /// The OS keyring.
    Keyring(KeyringCache),
}

/// An open cache.
#[derive(Debug)]
pub struct ProcessCache {
    directory: FileCache,
    store: CacheStore,
}

/// What [`ProcessCache::lookup`] found.
#[derive(Debug)]
pub enum Lookup {
    /// Credentials fresh enough to hand out.
    Fresh(Credentials),
    /// Nothing fresh: pass this to [`ProcessCache::refresh`].
    Stale(Pending),
}

/// A lookup that found nothing fresh: its cache key, and the identity when the lookup already
/// had to unlock it.
pub struct Pending {
    key: CacheKey,
    unlocked: Option<Arc<dyn Signer>>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("unlocked", &self.unlocked.is_some())
            .finish_non_exhaustive()
    }
}

impl ProcessCache {
    /// Opens the cache in `dir` (created 0700; refused if another user could write it), with
    /// entries in the keyring when `keyring`; `None`, after a warning, when it cannot be used.
    pub fn open(dir: PathBuf, keyring: bool) -> Option<Self> {
        let directory = FileCache::open(dir)
            .map_err(|error| tracing::warn!("{}", with_causes(&error)))
            .ok()?;
        let store = match keyring {
            true => CacheStore::Keyring(
                KeyringCache::open()
                    .map_err(|error| tracing::warn!("{error}; not caching"))
                    .ok()?,
            ),
            false => CacheStore::File,
        };
        Some(Self { directory, store })
    }

    /// The cached credentials for `profile` while they are fresh; otherwise what
    /// [`ProcessCache::refresh`] needs. No async runtime is needed for this: a warm run is
    /// only this.
    pub fn lookup(
        &self,
        profile: &ResolvedProfile,
        clock: &dyn Clock,
    ) -> Result<Lookup, ProviderError> {
        // A warm run reads the identity's inputs but decrypts nothing, unless a secret locks it.
        let (key, unlocked) = cache_key(profile, clock)?;
        let entry = self.directory.entry(&key);
        match self.fresh(&entry, &key, profile, clock) {
            Some(credentials) => {
                tracing::debug!("answered from the cache");
                Ok(Lookup::Fresh(credentials))
            }
            None => Ok(Lookup::Stale(Pending { key, unlocked })),
        }
    }

    /// Fresh credentials for `profile`, when the cache holds them and telling needs no secret
    /// unlocked: what the launcher answers with (`crate::launcher`). It loads no key source, so
    /// it never prompts; `None` for anything else, which [`Self::lookup`] then handles.
    pub fn peek(&self, profile: &ResolvedProfile, clock: &dyn Clock) -> Option<Credentials> {
        let identity = identity_digest(&profile.sources, &profile.passphrase).ok()?;
        if identity.needs_unlock {
            return None;
        }
        let key = key_of(identity.digest.as_str(), "", profile);
        let entry = self.directory.entry(&key);
        self.fresh(&entry, &key, profile, clock)
    }

    /// Credentials from CreateSession (run on `runtime`) after a [`Lookup::Stale`], stored for
    /// the next run; under the entry's lock, so concurrent runs make one call.
    pub fn refresh(
        &self,
        pending: Pending,
        profile: &ResolvedProfile,
        clock: Arc<dyn Clock>,
        runtime: &Runtime,
    ) -> Result<Credentials, ProviderError> {
        let Pending { key, unlocked } = pending;
        let entry = self.directory.entry(&key);
        let _lock = entry
            .lock()
            .map_err(|error| {
                tracing::warn!("{}; continuing without the lock", with_causes(&error));
            })
            .ok();
        // Another run may have refreshed the entry while this one waited for the lock.
        if let Some(credentials) = self.fresh(&entry, &key, profile, clock.as_ref()) {
            return Ok(credentials);
        }
        let identity = match unlocked {
            Some(identity) => identity,
            None => source::load(&profile.sources, &profile.passphrase, clock.now())
                .map_err(|e| super::provider::login_expiry(profile, e.into()))?,
        };
        let credentials = fetch_with(profile, identity, clock, runtime)?;
        self.write(&entry, &key, &credentials);
        Ok(credentials)
    }

    /// The entry's credentials if they are fresh for `profile`'s session.
    fn fresh(
        &self,
        entry: &CacheEntry,
        key: &CacheKey,
        profile: &ResolvedProfile,
        clock: &dyn Clock,
    ) -> Option<Credentials> {
        let session = Duration::seconds(i64::from(profile.params.duration_seconds));
        self.read(entry, key)
            .filter(|credentials| credentials.is_fresh(clock.now(), session))
    }

    /// Deletes `profile`'s file entry (logout), computing its key from the identity files,
    /// which must still exist.
    pub fn forget(
        &self,
        profile: &ResolvedProfile,
        clock: &dyn Clock,
    ) -> Result<(), ProviderError> {
        let (key, _) = cache_key(profile, clock)?;
        if let Err(error) = self.directory.entry(&key).remove() {
            tracing::warn!("{}", with_causes(&error));
        }
        Ok(())
    }

    /// The entry's credentials, if it holds any; trouble is a warning.
    fn read(&self, entry: &CacheEntry, key: &CacheKey) -> Option<Credentials> {
        let read = match &self.store {
            CacheStore::File => entry.read().map_err(|e| with_causes(&e)),
            CacheStore::Keyring(keyring) => keyring.read(key).map_err(|e| e.to_string()),
        };
        read.unwrap_or_else(|warning| {
            tracing::warn!("{warning}");
            None
        })
    }

    /// Stores the credentials; trouble is a warning.
    fn write(&self, entry: &CacheEntry, key: &CacheKey, credentials: &Credentials) {
        let written = match &self.store {
            CacheStore::File => entry.write(credentials).map_err(|e| with_causes(&e)),
            CacheStore::Keyring(keyring) => {
                keyring.write(key, credentials).map_err(|e| e.to_string())
            }
        };
        if let Err(warning) = written {
            tracing::warn!("{warning}; the credentials were not cached");
        }
    }
}

/// The cache key: the digest of every identity input, every request parameter and, for an
/// identity behind a passphrase or PIN, the certificate it proved itself with. Such an
/// identity is unlocked here, so a wrong secret fails even when the cache is warm; it is
/// returned for the refresh to reuse.
fn cache_key(
    profile: &ResolvedProfile,
    clock: &dyn Clock,
) -> Result<(CacheKey, Option<Arc<dyn Signer>>), ProviderError> {
    let identity = identity_digest(&profile.sources, &profile.passphrase)?;
    let unlocked = match identity.needs_unlock {
        true => Some(source::load(
            &profile.sources,
            &profile.passphrase,
            clock.now(),
        )?),
        false => None,
    };
    let proven = unlocked
        .as_ref()
        .map(|signer| signer.certificate().fingerprint_sha256())
        .unwrap_or_default();
    Ok((key_of(identity.digest.as_str(), &proven, profile), unlocked))
}

/// The key over every input that changes the answer: the identity's digest, the certificate
/// an unlocked source proved (empty when none had to be unlocked) and the request.
fn key_of(identity: &str, proven: &str, profile: &ResolvedProfile) -> CacheKey {
    let params = &profile.params;
    let duration = params.duration_seconds.to_string();
    let endpoint = profile.endpoint.to_string();
    let attribution = attribution_key(profile);
    CacheKey::new(&[
        identity.as_bytes(),
        proven.as_bytes(),
        params.trust_anchor_arn.as_str().as_bytes(),
        params.profile_arn.as_str().as_bytes(),
        params.role_arn.as_str().as_bytes(),
        duration.as_bytes(),
        params.role_session_name.as_deref().unwrap_or("").as_bytes(),
        endpoint.as_bytes(),
        profile.region.as_bytes(),
        attribution.as_bytes(),
    ])
}

/// The inputs beyond CreateSession's that change the answer: a templated session name and
/// every hop of the chain, each field length-prefixed so no two chains share a key.
fn attribution_key(profile: &ResolvedProfile) -> String {
    let field = |value: &str| format!("{}:{value};", value.len());
    let optional = |value: Option<String>| value.map_or("-;".to_owned(), |v| field(&v));
    let mut key = optional(
        profile
            .session_name_template
            .as_ref()
            .map(|t| t.to_string()),
    );
    for hop in &profile.chain {
        key.push_str(&field(hop.role_arn.as_str()));
        key.push_str(&optional(hop.external_id.clone()));
        key.push_str(&field(&hop.duration_seconds.to_string()));
        key.push_str(&optional(hop.session_name.as_ref().map(|t| t.to_string())));
        key.push_str(&optional(
            hop.source_identity.as_ref().map(|t| t.to_string()),
        ));
        key.push_str(&field(&hop.sts_endpoint.to_string()));
    }
    key
}

/// Calls CreateSession (on `runtime`) without a cache.
pub fn fetch(
    profile: &ResolvedProfile,
    clock: Arc<dyn Clock>,
    runtime: &Runtime,
) -> Result<Credentials, ProviderError> {
    let identity = source::load(&profile.sources, &profile.passphrase, clock.now())
        .map_err(|e| super::provider::login_expiry(profile, e.into()))?;
    fetch_with(profile, identity, clock, runtime)
}

/// A login profile's identity, renewed first when two thirds of its certificate's life are
/// gone (credential-process has no background task to do it). A failed renewal is a warning
/// while the certificate lasts.
fn renewed_if_due(
    profile: &ResolvedProfile,
    identity: Arc<dyn Signer>,
    clock: &dyn Clock,
    runtime: &Runtime,
) -> Result<Arc<dyn Signer>, ProviderError> {
    let Some(renewal) = &profile.renewal else {
        return Ok(identity);
    };
    let now = clock.now();
    if now < crate::login::renew::due_at(identity.certificate()) {
        return Ok(identity);
    }
    let http = crate::oidc::OidcHttp::new(
        crate::http::build_client(&profile.client_options)
            .map_err(crate::config::ConfigError::from)?,
    );
    match runtime.block_on(crate::login::renew::renew(
        &http,
        renewal,
        identity.as_ref(),
        now,
    )) {
        Ok(_) => source::load(&profile.sources, &profile.passphrase, now)
            .map_err(|e| super::provider::login_expiry(profile, e.into())),
        Err(error) => {
            tracing::warn!(
                "{}; using the current certificate until {}",
                with_causes(&error),
                crate::time_format::rfc3339(identity.certificate().not_after())
            );
            Ok(identity)
        }
    }
}

/// Calls CreateSession with an identity already loaded.
fn fetch_with(
    profile: &ResolvedProfile,
    identity: Arc<dyn Signer>,
    clock: Arc<dyn Clock>,
    runtime: &Runtime,
) -> Result<Credentials, ProviderError> {
    let identity = renewed_if_due(profile, identity, clock.as_ref(), runtime)?;
    let client = profile.client(clock.clone())?;
    let credentials = runtime.block_on(super::chain::obtain(
        profile,
        &client,
        identity.as_ref(),
        clock.as_ref(),
    ))?;
    tracing::debug!(
        access_key_id = credentials.access_key_id(),
        "obtained credentials valid until {}",
        crate::time_format::rfc3339(credentials.expiration())
    );
    Ok(credentials)
}
