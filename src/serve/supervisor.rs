//! The served profiles over time: each has a refresh task and an ECS token; a reload keeps the
//! profiles whose settings did not change (their caches keep their credentials, their
//! consumers their tokens), starts the new or changed ones and stops the rest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::watch;

use super::ServedProfile;
use crate::clock::Clock;
use crate::config::{ProfileSettings, ResolvedProfile};
use crate::credentials::provider::{ProviderError, RolesAnywhereProvider};
use crate::credentials::refresh::{CredentialCache, RefreshPacer, SERVE_REFRESH_GAP};
use crate::files::FileError;
use crate::http::ClientBatch;
use crate::secret::{RandomError, SecretString};

/// Shortest token accepted from `--tokens-from` (a guessable token would open the endpoint).
pub const MIN_TOKEN_LEN: usize = 16;

/// Why a set of profiles could not be started; nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    /// A profile's provider could not be built.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// A token from `--tokens-from` is missing or unusable.
    #[error("--tokens-from: {reason}")]
    Token {
        /// What is wrong, naming the file.
        reason: String,
    },
    /// A generated token could not be written.
    #[error(transparent)]
    File(#[from] FileError),
    /// No randomness for a token.
    #[error(transparent)]
    Random(#[from] RandomError),
}

/// Where the ECS tokens come from.
#[derive(Debug, Clone)]
pub enum Tokens {
    /// Generated at start, written to DIR/<profile>.token (0600), kept across reloads.
    Generate(PathBuf),
    /// Read from DIR/<profile>.token (a mounted Secret), re-read when a profile is reloaded.
    ReadFrom(PathBuf),
}

/// One profile to serve, as resolved from the config file or flags.
#[derive(Debug)]
pub struct ProfileSpec {
    /// The name consumers use.
    pub label: String,
    /// The merged settings (a reload compares these).
    pub settings: ProfileSettings,
    /// What the settings resolve to.
    pub resolved: ResolvedProfile,
}

/// A refresh task that stops when the last handle to it is dropped.
#[derive(Debug)]
struct TaskGuard(tokio::task::JoinHandle<()>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A served profile with the settings it was built from, and its refresh task.
#[derive(Debug, Clone)]
struct Running {
    settings: ProfileSettings,
    profile: Arc<ServedProfile>,
    _task: Arc<TaskGuard>,
}

/// The running profiles.
#[derive(Debug)]
pub struct Supervisor {
    running: BTreeMap<String, Running>,
    tokens: Tokens,
    clock: Arc<dyn Clock>,
    stop: watch::Receiver<bool>,
    /// Shared by every profile across reloads: a thousand profiles starting together reach
    /// the endpoint a few a second.
    pacer: Arc<RefreshPacer>,
}

impl Supervisor {
    /// No profiles yet; refresh tasks stop when `stop` turns true.
    pub fn new(tokens: Tokens, clock: Arc<dyn Clock>, stop: watch::Receiver<bool>) -> Self {
        Self {
            running: BTreeMap::new(),
            tokens,
            clock,
            stop,
            pacer: Arc::new(RefreshPacer::new(SERVE_REFRESH_GAP)),
        }
    }

    /// Serves exactly `specs`: unchanged profiles are kept, the others started, profiles left
    /// out stopped. On error nothing changes. Must run inside the runtime.
    pub fn apply(&mut self, specs: Vec<ProfileSpec>) -> Result<(), SupervisorError> {
        let mut running = BTreeMap::new();
        let mut clients = ClientBatch::default();
        for spec in specs {
            let kept = self
                .running
                .get(&spec.label)
                .filter(|r| r.settings == spec.settings);
            let entry = match kept {
                Some(existing) => existing.clone(),
                None => self.start(&spec.label, spec.settings, spec.resolved, &mut clients)?,
            };
            running.insert(spec.label, entry);
        }
        // Dropping the old map stops the tasks of removed or changed profiles.
        self.running = running;
        Ok(())
    }

    fn start(
        &self,
        label: &str,
        settings: ProfileSettings,
        resolved: ResolvedProfile,
        clients: &mut ClientBatch,
    ) -> Result<Running, SupervisorError> {
        let role_arn = resolved.final_role_arn().to_owned();
        let region = resolved.region.clone();
        let provider = RolesAnywhereProvider::in_batch(resolved, self.clock.clone(), clients)?;
        let ecs_token = self.token(label)?;
        let cache =
            CredentialCache::paced(Arc::new(provider), self.clock.clone(), self.pacer.clone());
        let task = TaskGuard(tokio::spawn(
            cache.clone().run(label.to_owned(), self.stop.clone()),
        ));
        Ok(Running {
            settings,
            profile: Arc::new(ServedProfile {
                cache,
                role_arn,
                ecs_token,
                region,
                documents: Default::default(),
            }),
            _task: Arc::new(task),
        })
    }

    /// A profile's token: read, kept from the running profile (consumers holding it keep
    /// working across a reload), or generated and written.
    fn token(&self, label: &str) -> Result<SecretString, SupervisorError> {
        match (&self.tokens, self.running.get(label)) {
            (Tokens::ReadFrom(dir), _) => read_token(dir, label),
            (Tokens::Generate(_), Some(old)) => Ok(old.profile.ecs_token.clone()),
            (Tokens::Generate(dir), None) => {
                let token = crate::secret::random_token()?;
                crate::files::create_private_dir(dir)?;
                crate::files::write_atomic(
                    &token_file(dir, label),
                    token.expose_secret().as_bytes(),
                    0o600,
                )?;
                Ok(token)
            }
        }
    }

    /// The served profiles, by name.
    pub fn served(&self) -> BTreeMap<String, Arc<ServedProfile>> {
        self.running
            .iter()
            .map(|(name, r)| (name.clone(), r.profile.clone()))
            .collect()
    }
}

/// DIR/<profile>.token.
pub fn token_file(dir: &Path, label: &str) -> PathBuf {
    dir.join(format!("{label}.token"))
}

/// Reads DIR/<profile>.token for `--tokens-from`.
fn read_token(dir: &Path, label: &str) -> Result<SecretString, SupervisorError> {
    let path = token_file(dir, label);
    let text = std::fs::read_to_string(&path)
        .map(SecretString::new)
        .map_err(|error| SupervisorError::Token {
            reason: format!(
                "cannot read the token of profile {label} from {} ({error}); create it (e.g. openssl rand -hex 32)",
                path.display()
            ),
        })?;
    let token = text.expose_secret().trim();
    if token.len() < MIN_TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(SupervisorError::Token {
            reason: format!(
                "{} must hold one token of at least {MIN_TOKEN_LEN} printable characters",
                path.display()
            ),
        });
    }
    Ok(SecretString::new(token.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::identity::file::Passphrase;

    fn spec(label: &str, session_duration: u64) -> ProfileSpec {
        let settings = ProfileSettings {
            certificate: Some("leaf.pem".into()),
            trust_anchor_arn: Some(
                "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/a".into(),
            ),
            profile_arn: Some("arn:aws:rolesanywhere:us-east-1:123456789012:profile/b".into()),
            role_arn: Some(format!("arn:aws:iam::123456789012:role/{label}")),
            // Nothing listens there: the refresh tasks fail quietly; only tokens matter here.
            endpoint: Some("http://127.0.0.1:9".into()),
            session_duration: Some(session_duration),
            ..ProfileSettings::default()
        };
        let resolved =
            ResolvedProfile::resolve(settings.clone(), Some(label), Passphrase::PromptIfTerminal)
                .unwrap();
        ProfileSpec {
            label: label.into(),
            settings,
            resolved,
        }
    }

    #[tokio::test]
    async fn a_reload_keeps_unchanged_profiles_and_every_token() {
        let dir = tempfile::tempdir().unwrap();
        let (_stop, stopped) = watch::channel(false);
        let tokens = Tokens::Generate(dir.path().join("tokens"));
        let mut supervisor = Supervisor::new(tokens, Arc::new(SystemClock), stopped);
        supervisor
            .apply(vec![spec("a", 3600), spec("b", 3600)])
            .unwrap();
        let first = supervisor.served();
        let written = std::fs::read_to_string(token_file(&dir.path().join("tokens"), "b")).unwrap();
        assert_eq!(written, first["b"].ecs_token.expose_secret());

        supervisor
            .apply(vec![spec("a", 3600), spec("b", 1800)])
            .unwrap();
        let second = supervisor.served();
        assert!(
            Arc::ptr_eq(&first["a"], &second["a"]),
            "unchanged: the same cache"
        );
        assert!(
            !Arc::ptr_eq(&first["b"], &second["b"]),
            "changed: a new cache"
        );
        assert_eq!(
            first["b"].ecs_token.expose_secret(),
            second["b"].ecs_token.expose_secret(),
            "a reloaded profile keeps its token"
        );

        supervisor.apply(vec![spec("a", 3600)]).unwrap();
        assert_eq!(supervisor.served().keys().collect::<Vec<_>>(), ["a"]);
    }

    #[tokio::test]
    async fn a_bad_token_file_changes_nothing_and_says_which_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.token"), "0123456789abcdef0123").unwrap();
        std::fs::write(dir.path().join("b.token"), "short").unwrap();
        let (_stop, stopped) = watch::channel(false);
        let tokens = Tokens::ReadFrom(dir.path().to_owned());
        let mut supervisor = Supervisor::new(tokens, Arc::new(SystemClock), stopped);
        supervisor.apply(vec![spec("a", 3600)]).unwrap();
        let error = supervisor
            .apply(vec![spec("a", 1800), spec("b", 3600)])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("b.token must hold one token of at least 16"),
            "{error}"
        );
        let served = supervisor.served();
        assert_eq!(served.keys().collect::<Vec<_>>(), ["a"]);
        assert_eq!(served["a"].cache.snapshot().successes, 0);
    }
}
