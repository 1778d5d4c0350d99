//! Where fresh credentials come from: the [`CredentialProvider`] trait, and its Roles Anywhere
//! implementation, which re-reads rotated certificate and key files and keeps the last good
//! identity when a new pair is broken.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use time::Duration;
use tokio::sync::watch;

use crate::aws_credentials::Credentials;
use crate::clock::Clock;
use crate::config::{ConfigError, ResolvedProfile};
use crate::http::ClientBatch;
use crate::identity::file::IdentityError;
use crate::identity::Signer;
use crate::rolesanywhere::client::{ClientError, RolesAnywhereClient};

/// The future a provider returns.
pub type ProvideFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Credentials, ProviderError>> + Send + 'a>>;

/// Why no credentials were obtained.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// The identity could not be loaded.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// CreateSession failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The profile cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A login certificate expired: only a new sign-in helps.
    #[error("{0}")]
    LoginExpired(String),
    /// A hop of the role chain, or the session's attribution, failed.
    #[error(transparent)]
    Chain(Box<super::chain::ChainError>),
}

impl From<super::chain::ChainError> for ProviderError {
    fn from(error: super::chain::ChainError) -> Self {
        ProviderError::Chain(Box::new(error))
    }
}

/// What a failure says about the next attempt; it drives the refresher's back-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The network or the service had trouble (timeouts, 5xx, throttling): retry soon.
    Transient,
    /// The setup is wrong (a missing or malformed file, a bad parameter, TLS trust): nothing
    /// changes until someone fixes it, so retry slowly (a rotation of the files retries at once).
    Configuration,
    /// The identity was refused or is outside its validity (AccessDenied, an expired
    /// certificate): retry slowly.
    Credentials,
}

impl ProviderError {
    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ProviderError::Client(error) if error.is_retryable() => ErrorKind::Transient,
            // A garbled answer is the service's (or a middlebox's) trouble, not the setup's.
            ProviderError::Client(ClientError::MalformedResponse { .. }) => ErrorKind::Transient,
            ProviderError::Client(ClientError::Service { status, .. }) if *status == 403 => {
                ErrorKind::Credentials
            }
            ProviderError::Identity(
                IdentityError::Expired { .. } | IdentityError::NotYetValid { .. },
            )
            | ProviderError::LoginExpired(_) => ErrorKind::Credentials,
            ProviderError::Chain(error) if error.is_transient() => ErrorKind::Transient,
            ProviderError::Chain(_) => ErrorKind::Credentials,
            ProviderError::Client(_) | ProviderError::Identity(_) | ProviderError::Config(_) => {
                ErrorKind::Configuration
            }
        }
    }
}

/// A source of temporary credentials.
pub trait CredentialProvider: Send + Sync + fmt::Debug {
    /// Obtains a new set.
    fn provide(&self) -> ProvideFuture<'_>;
    /// The session length asked for.
    fn session_duration(&self) -> Duration;
    /// Whether the provider's inputs changed since the last `provide` (rotation).
    fn inputs_changed(&self) -> bool {
        false
    }

    /// NotAfter of the certificate in use, if the provider has one loaded.
    fn certificate_not_after(&self) -> Option<time::OffsetDateTime> {
        None
    }

    /// Work that runs beside the refresher until `shutdown` (a login certificate's renewal).
    fn background(&self, _shutdown: watch::Receiver<bool>) -> Option<BackgroundFuture> {
        None
    }
}

/// A provider's background work.
pub type BackgroundFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Modification stamps of the identity files.
type Stamp = Vec<Option<(SystemTime, u64)>>;

fn stamp(paths: &[PathBuf]) -> Stamp {
    paths
        .iter()
        .map(|p: &PathBuf| {
            std::fs::metadata(Path::new(p))
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())))
        })
        .collect()
}

/// Credentials from Roles Anywhere for one profile.
#[derive(Debug)]
pub struct RolesAnywhereProvider {
    profile: ResolvedProfile,
    client: RolesAnywhereClient,
    clock: Arc<dyn Clock>,
    // A sync mutex: held only to swap the identity, never across an await.
    identity: Mutex<Option<(Arc<dyn Signer>, Stamp)>>,
}

impl RolesAnywhereProvider {
    /// A provider for a resolved profile.
    pub fn new(profile: ResolvedProfile, clock: Arc<dyn Clock>) -> Result<Self, ProviderError> {
        Self::in_batch(profile, clock, &mut ClientBatch::default())
    }

    /// As [`RolesAnywhereProvider::new`], on the HTTPS client `batch` holds for the profile's
    /// options (serve's profiles share them).
    pub fn in_batch(
        profile: ResolvedProfile,
        clock: Arc<dyn Clock>,
        batch: &mut ClientBatch,
    ) -> Result<Self, ProviderError> {
        let client = profile.client_in(clock.clone(), batch)?;
        Ok(Self {
            profile,
            client,
            clock,
            identity: Mutex::new(None),
        })
    }

    /// The identity to sign with: reloaded when the files changed; a broken new pair is
    /// rejected (logged) and the previous one kept.
    fn identity(&self) -> Result<Arc<dyn Signer>, ProviderError> {
        let current_stamp = stamp(&self.profile.sources.files());
        let mut slot = self
            .identity
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((identity, loaded_stamp)) = slot.as_ref() {
            if *loaded_stamp == current_stamp {
                return Ok(identity.clone());
            }
        }
        match crate::identity::source::load(
            &self.profile.sources,
            &self.profile.passphrase,
            self.clock.now(),
        ) {
            Ok(loaded) => {
                if slot.is_some() {
                    tracing::info!(
                        profile = self.profile.name.as_deref().unwrap_or("default"),
                        serial = loaded.certificate().serial_decimal(),
                        "loaded a rotated certificate and key"
                    );
                }
                *slot = Some((loaded.clone(), current_stamp));
                Ok(loaded)
            }
            Err(error) => match slot.as_mut() {
                Some((previous, loaded_stamp)) => {
                    tracing::error!(
                        profile = self.profile.name.as_deref().unwrap_or("default"),
                        "rejected the new certificate/key ({error}); still using serial {}",
                        previous.certificate().serial_decimal()
                    );
                    // Do not retry the same broken files on every refresh.
                    *loaded_stamp = current_stamp;
                    Ok(previous.clone())
                }
                None => Err(error.into()),
            },
        }
    }
}

/// For a login profile, an expired certificate becomes the one line that says to sign in
/// again; other errors pass through.
pub fn login_expiry(profile: &ResolvedProfile, error: ProviderError) -> ProviderError {
    match (&error, &profile.renewal) {
        (ProviderError::Identity(IdentityError::Expired { not_after, .. }), Some(renewal)) => {
            ProviderError::LoginExpired(format!(
                "the certificate for profile {} expired at {not_after}; run 'tessera login --profile {}'",
                renewal.profile, renewal.profile
            ))
        }
        _ => error,
    }
}

/// Loads the profile's identity again only when its files changed (the renewal loop polls).
fn changed_identity_loader(
    profile: &ResolvedProfile,
    clock: Arc<dyn Clock>,
) -> crate::login::renew::LoadIdentity {
    let sources = profile.sources.clone();
    let passphrase = profile.passphrase.clone();
    let loaded: Mutex<Option<(Stamp, Arc<dyn Signer>)>> = Mutex::new(None);
    Arc::new(move || {
        let current = stamp(&sources.files());
        let mut slot = loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, identity)) = slot.as_ref().filter(|(at, _)| *at == current) {
            return Some(identity.clone());
        }
        let identity = crate::identity::source::load(&sources, &passphrase, clock.now())
            .map_err(|error| {
                tracing::warn!("certificate renewal cannot load the identity: {error}")
            })
            .ok()?;
        *slot = Some((current, identity.clone()));
        Some(identity)
    })
}

impl CredentialProvider for RolesAnywhereProvider {
    fn provide(&self) -> ProvideFuture<'_> {
        Box::pin(async move {
            let identity = self
                .identity()
                .map_err(|e| login_expiry(&self.profile, e))?;
            // The certificate may have expired since it was loaded; asking the service would
            // only earn an AccessDenied, so say what is wrong instead.
            let valid = crate::identity::file::check_validity(
                &self.profile.sources.certificate.display_path(),
                identity.certificate(),
                self.clock.now(),
            );
            valid.map_err(|e| login_expiry(&self.profile, e.into()))?;
            super::chain::obtain(
                &self.profile,
                &self.client,
                identity.as_ref(),
                self.clock.as_ref(),
            )
            .await
        })
    }

    fn session_duration(&self) -> Duration {
        let seconds = match self.profile.chain.last() {
            Some(hop) => hop.duration_seconds,
            None => self.profile.params.duration_seconds,
        };
        Duration::seconds(i64::from(seconds))
    }

    fn certificate_not_after(&self) -> Option<time::OffsetDateTime> {
        let slot = self
            .identity
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        slot.as_ref()
            .map(|(identity, _)| identity.certificate().not_after())
    }

    fn background(&self, shutdown: watch::Receiver<bool>) -> Option<BackgroundFuture> {
        let renewal = self.profile.renewal.clone()?;
        let http = crate::http::build_client(&self.profile.client_options)
            .map_err(|error| tracing::error!("certificate renewal is off: {error}"))
            .ok()?;
        let load = changed_identity_loader(&self.profile, self.clock.clone());
        Some(Box::pin(crate::login::renew::run(
            renewal,
            crate::oidc::OidcHttp::new(http),
            load,
            self.clock.clone(),
            shutdown,
        )))
    }

    fn inputs_changed(&self) -> bool {
        let current = stamp(&self.profile.sources.files());
        let slot = self
            .identity
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        slot.as_ref().is_some_and(|(_, loaded)| *loaded != current)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::clock::FixedClock;
    use crate::config::ProfileSettings;
    use crate::identity::file::Passphrase;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("certs/test")
            .join(name)
    }

    /// A provider over `dir/leaf.pem` and `dir/leaf.key`, at a time the fixtures are valid.
    fn provider(dir: &Path) -> RolesAnywhereProvider {
        let settings = ProfileSettings {
            certificate: Some(dir.join("leaf.pem")),
            private_key: Some(dir.join("leaf.key")),
            trust_anchor_arn: Some(
                "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/a".into(),
            ),
            profile_arn: Some("arn:aws:rolesanywhere:us-east-1:123456789012:profile/b".into()),
            role_arn: Some("arn:aws:iam::123456789012:role/c".into()),
            endpoint: Some("http://127.0.0.1:9".into()),
            ..ProfileSettings::default()
        };
        let profile =
            ResolvedProfile::resolve(settings, None, Passphrase::PromptIfTerminal).unwrap();
        let leaf = crate::identity::file::load_certificate(
            &crate::identity::key_ref::KeyRef::File(fixture("leaf-p256.pem")),
        )
        .unwrap();
        let clock = Arc::new(FixedClock(leaf.not_before() + Duration::days(1)));
        RolesAnywhereProvider::new(profile, clock).unwrap()
    }

    fn install(dir: &Path, cert: &str, key: &str) {
        std::fs::copy(fixture(cert), dir.join("leaf.pem")).unwrap();
        std::fs::copy(fixture(key), dir.join("leaf.key")).unwrap();
    }

    #[test]
    fn a_rotated_pair_is_loaded_and_a_broken_one_keeps_the_last_good() {
        let dir = tempfile::tempdir().unwrap();
        install(dir.path(), "leaf-p256.pem", "leaf-p256.key");
        let provider = provider(dir.path());
        let first = provider.identity().unwrap();
        assert!(!provider.inputs_changed());

        // A key that does not match the certificate: rejected, the last good pair stays.
        std::fs::copy(fixture("leaf-rsa.key"), dir.path().join("leaf.key")).unwrap();
        assert!(provider.inputs_changed());
        let kept = provider.identity().unwrap();
        assert_eq!(
            kept.certificate().serial_decimal(),
            first.certificate().serial_decimal()
        );
        // The broken pair is not retried on every call.
        assert!(!provider.inputs_changed());

        // A good new pair replaces it.
        install(dir.path(), "leaf-rsa.pem", "leaf-rsa.key");
        let rotated = provider.identity().unwrap();
        assert_ne!(
            rotated.certificate().serial_decimal(),
            first.certificate().serial_decimal()
        );
        assert_eq!(rotated.family(), crate::identity::SignatureFamily::Rsa);
    }

    #[test]
    fn without_a_last_good_pair_the_error_is_the_loaders() {
        let dir = tempfile::tempdir().unwrap();
        install(dir.path(), "leaf-p256.pem", "leaf-rsa.key");
        let error = provider(dir.path()).identity().unwrap_err();
        assert!(
            matches!(
                error,
                ProviderError::Identity(IdentityError::KeyMismatch { .. })
            ),
            "{error}"
        );
        assert_eq!(error.kind(), ErrorKind::Configuration);
    }
}
