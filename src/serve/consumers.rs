//! Who may fetch which profile from `serve`: the config's `[[consumers]]`, validated once (their
//! tokens read), and the decision for one request. With no consumers declared, every client
//! keeps today's rules (a profile's ECS token; IMDS when enabled; whoever can open the socket).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::config::ConsumerConfig;
use crate::secret::SecretString;
use crate::server::{Peer, UnixPeer};

/// Why the consumers cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumerError {
    /// A consumer that no request could ever match.
    #[error("consumer '{0}' has no way to prove who it is: give it uid (socket peers), token-file (ECS) or imds = true")]
    NoProof(String),
    /// A name used twice, or an empty one.
    #[error("consumer name '{0}' is empty or used twice; each [[consumers]] needs its own name")]
    Name(String),
    /// A profile the config does not serve.
    #[error("consumer '{consumer}' names profile '{profile}', which this serve does not serve")]
    UnknownProfile {
        /// The consumer.
        consumer: String,
        /// The profile.
        profile: String,
    },
    /// The token file cannot be read or is too short to be a secret.
    #[error("consumer '{consumer}': token-file {}: {problem}", path.display())]
    Token {
        /// The consumer.
        consumer: String,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
}

/// The shortest token accepted from a token file.
const MIN_TOKEN_BYTES: usize = 16;

/// One consumer, ready to match requests.
#[derive(Debug)]
pub struct Consumer {
    /// Its name.
    pub name: String,
    profiles: BTreeSet<String>,
    uid: Option<u32>,
    gid: Option<u32>,
    executable: Option<PathBuf>,
    token: Option<SecretString>,
    imds: bool,
}

impl Consumer {
    /// Whether it may fetch `profile`.
    pub fn may_fetch(&self, profile: &str) -> bool {
        self.profiles.contains(profile)
    }
}

/// The declared consumers.
#[derive(Debug, Default)]
pub struct Consumers {
    list: Vec<Consumer>,
}

/// Who a request comes from, as far as it can be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The peer.
    pub peer: Peer,
    /// A socket peer's executable (`/proc/PID/exe`, read when its request is handled; the pid
    /// is the one the kernel recorded at connect).
    pub executable: Option<PathBuf>,
}

impl Caller {
    /// The caller of a request from `peer`; a socket peer's executable is read from /proc.
    pub fn of(peer: Peer) -> Self {
        let executable = match peer {
            Peer::Unix(UnixPeer { pid: Some(pid), .. }) => {
                std::fs::read_link(format!("/proc/{pid}/exe")).ok()
            }
            _ => None,
        };
        Self { peer, executable }
    }
}

fn read_token(config: &ConsumerConfig, path: &Path) -> Result<SecretString, ConsumerError> {
    let failed = |problem: String| ConsumerError::Token {
        consumer: config.name.clone(),
        path: path.to_owned(),
        problem,
    };
    let text = std::fs::read_to_string(path).map_err(|e| failed(e.to_string()))?;
    let token = text.trim();
    if token.len() < MIN_TOKEN_BYTES {
        return Err(failed(format!(
            "a token must have at least {MIN_TOKEN_BYTES} characters"
        )));
    }
    Ok(SecretString::new(token.to_owned()))
}

impl Consumers {
    /// Validates `configs` against the served profiles and reads their tokens.
    pub fn load(
        configs: &[ConsumerConfig],
        served: &BTreeSet<String>,
    ) -> Result<Self, ConsumerError> {
        let mut list: Vec<Consumer> = Vec::new();
        for config in configs {
            if config.name.is_empty() || list.iter().any(|c| c.name == config.name) {
                return Err(ConsumerError::Name(config.name.clone()));
            }
            if config.uid.is_none() && config.token_file.is_none() && !config.imds {
                return Err(ConsumerError::NoProof(config.name.clone()));
            }
            if let Some(profile) = config.profiles.iter().find(|p| !served.contains(*p)) {
                return Err(ConsumerError::UnknownProfile {
                    consumer: config.name.clone(),
                    profile: profile.clone(),
                });
            }
            let token = config
                .token_file
                .as_deref()
                .map(|path| read_token(config, path))
                .transpose()?;
            list.push(Consumer {
                name: config.name.clone(),
                profiles: config.profiles.iter().cloned().collect(),
                uid: config.uid,
                gid: config.gid,
                executable: config.executable.clone(),
                token,
                imds: config.imds,
            });
        }
        Ok(Self { list })
    }

    /// Each consumer's name and granted profiles (for the status page).
    pub fn grants(&self) -> Vec<(String, Vec<String>)> {
        self.list
            .iter()
            .map(|c| (c.name.clone(), c.profiles.iter().cloned().collect()))
            .collect()
    }

    /// Whether none are declared (today's rules apply).
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The consumer a socket peer is: uid, and gid and executable where the consumer names them.
    pub fn for_socket(&self, peer: &UnixPeer, executable: Option<&Path>) -> Option<&Consumer> {
        self.list.iter().find(|c| {
            c.uid == Some(peer.uid)
                && c.gid.is_none_or(|gid| gid == peer.gid)
                && c.executable
                    .as_deref()
                    .is_none_or(|wanted| executable == Some(wanted))
        })
    }

    /// The consumer whose token this is (each compared in constant time).
    pub fn for_token(&self, presented: &str) -> Option<&Consumer> {
        let mut found = None;
        for consumer in &self.list {
            let matches = consumer.token.as_ref().is_some_and(|token| {
                crate::secret::constant_time_eq(
                    presented.as_bytes(),
                    token.expose_secret().as_bytes(),
                )
            });
            if matches && found.is_none() {
                found = Some(consumer);
            }
        }
        found
    }

    /// The consumer that opted the host into IMDS, if any.
    pub fn for_imds(&self) -> Option<&Consumer> {
        self.list.iter().find(|c| c.imds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served() -> BTreeSet<String> {
        ["a", "b"].into_iter().map(str::to_owned).collect()
    }

    fn consumer(name: &str, profiles: &[&str]) -> ConsumerConfig {
        ConsumerConfig {
            name: name.into(),
            profiles: profiles.iter().map(|p| (*p).to_owned()).collect(),
            ..ConsumerConfig::default()
        }
    }

    #[test]
    fn socket_peers_match_by_uid_then_gid_and_executable() {
        let consumers = Consumers::load(
            &[
                ConsumerConfig {
                    uid: Some(1001),
                    gid: Some(50),
                    ..consumer("strict", &["a"])
                },
                ConsumerConfig {
                    uid: Some(1002),
                    executable: Some("/usr/bin/app".into()),
                    ..consumer("app", &["b"])
                },
            ],
            &served(),
        )
        .unwrap();
        let peer = |uid, gid| UnixPeer {
            uid,
            gid,
            pid: None,
        };
        assert_eq!(
            consumers.for_socket(&peer(1001, 50), None).unwrap().name,
            "strict"
        );
        assert!(consumers.for_socket(&peer(1001, 51), None).is_none());
        let app = Path::new("/usr/bin/app");
        assert_eq!(
            consumers
                .for_socket(&peer(1002, 7), Some(app))
                .unwrap()
                .name,
            "app"
        );
        assert!(consumers
            .for_socket(&peer(1002, 7), Some(Path::new("/bin/sh")))
            .is_none());
        let strict = consumers.for_socket(&peer(1001, 50), None).unwrap();
        assert!(strict.may_fetch("a") && !strict.may_fetch("b"));
    }

    #[test]
    fn tokens_are_read_and_matched_and_bad_declarations_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t");
        std::fs::write(&file, "0123456789abcdef0123\n").unwrap();
        let with_token = ConsumerConfig {
            token_file: Some(file.clone()),
            ..consumer("ci", &["a"])
        };
        let consumers = Consumers::load(std::slice::from_ref(&with_token), &served()).unwrap();
        assert_eq!(
            consumers.for_token("0123456789abcdef0123").unwrap().name,
            "ci"
        );
        assert!(consumers.for_token("0123456789abcdef012").is_none());
        let refused = |configs: &[ConsumerConfig]| {
            Consumers::load(configs, &served()).unwrap_err().to_string()
        };
        assert!(refused(&[consumer("x", &["a"])]).contains("no way to prove who it is"));
        assert!(refused(&[with_token.clone(), with_token.clone()]).contains("used twice"));
        let unknown = ConsumerConfig {
            imds: true,
            ..consumer("x", &["nope"])
        };
        assert!(refused(&[unknown]).contains("profile 'nope'"));
        std::fs::write(&file, "short").unwrap();
        assert!(refused(&[with_token]).contains("at least 16 characters"));
    }
}
