//! The config file's `[[proxies]]` under `serve`: each listener signs with its profile's cache,
//! so every listener shares that profile's one refresh loop, and its metrics join the admin
//! endpoint's.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use super::{Agent, ServedProfile};
use crate::clock::Clock;
use crate::config::ProxyListenerConfig;
use crate::http::{ClientOptions, HttpSetupError};
use crate::proxy::{CredentialSource, Proxy, ProxySettings, SettingsError, Upstreams};
use crate::server;
use crate::service::Service;

/// Why a `[[proxies]]` entry could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyStartError {
    /// No `profile` while several profiles are served.
    #[error("a proxy in {config} needs `profile` (several profiles are served)")]
    NoProfile {
        /// The config file.
        config: String,
    },
    /// A `profile` that is not served.
    #[error("proxy profile '{0}' is not one of the served profiles")]
    UnknownProfile(String),
    /// A setting that does not validate.
    #[error("{config}: {error}")]
    Settings {
        /// The config file.
        config: String,
        /// What is wrong (in the message, so not also a source).
        error: SettingsError,
    },
    /// The upstream client could not be built.
    #[error(transparent)]
    Client(#[from] HttpSetupError),
    /// The listener could not be bound.
    #[error(transparent)]
    Bind(#[from] server::BindError),
    /// The bound listener has no address.
    #[error("cannot read the address of a proxy listener: {0}")]
    Address(std::io::Error),
}

/// A started listener: its address and the profile it signs with.
#[derive(Debug, Clone)]
pub struct StartedProxy {
    /// Where it listens.
    pub address: SocketAddr,
    /// Its profile.
    pub profile: String,
}

/// Starts every entry of `proxies` (from `config`) on `service`, registering each with `agent`.
pub fn start(
    proxies: &[ProxyListenerConfig],
    config: &Path,
    served: &BTreeMap<String, Arc<ServedProfile>>,
    agent: &Agent,
    client_options: &ClientOptions,
    clock: &Arc<dyn Clock>,
    service: &mut Service,
) -> Result<Vec<StartedProxy>, ProxyStartError> {
    let mut started = Vec::new();
    for entry in proxies {
        let profile = match (&entry.profile, served.keys().next()) {
            (Some(name), _) => name.clone(),
            (None, Some(only)) if served.len() == 1 => only.clone(),
            (None, _) => {
                return Err(ProxyStartError::NoProfile {
                    config: config.display().to_string(),
                })
            }
        };
        let cache = served
            .get(&profile)
            .map(|p| p.cache.clone())
            .ok_or_else(|| ProxyStartError::UnknownProfile(profile.clone()))?;
        let settings =
            ProxySettings::from_config(entry).map_err(|error| ProxyStartError::Settings {
                config: config.display().to_string(),
                error,
            })?;
        let upstreams = Upstreams::build(client_options)?;
        let proxy = Arc::new(
            Proxy::new(
                settings,
                CredentialSource::Cache(cache),
                upstreams,
                clock.clone(),
            )
            .with_audit(agent.audit.clone()),
        );
        let listener = server::bind(entry.listen, entry.hop_limit)?;
        let address = listener.local_addr().map_err(ProxyStartError::Address)?;
        agent.add_proxy(address.to_string(), proxy.clone());
        proxy.serve_on(service, listener);
        started.push(StartedProxy { address, profile });
    }
    Ok(started)
}
