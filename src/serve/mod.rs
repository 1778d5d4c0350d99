//! `tessera serve`: one agent for any number of profiles. Each profile has a refreshed
//! [`CredentialCache`]; consumers read them through an EC2 IMDSv2-compatible endpoint and an ECS
//! container-credentials endpoint (one listener), and operators watch an admin listener.

pub mod admin;
pub mod consumer_metrics;
pub mod consumers;
pub mod documents;
pub mod ecs;
pub mod history;
pub mod imds;
pub mod imds_choice;
pub mod proxies;
pub mod refusal;
pub mod socket;
pub mod status;
pub mod status_page;
pub mod supervisor;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use crate::clock::Clock;
use crate::credentials::refresh::CredentialCache;
use crate::secret::SecretString;
use crate::server::{Incoming, Reply};

/// One served profile.
#[derive(Debug)]
pub struct ServedProfile {
    /// Its cache.
    pub cache: Arc<CredentialCache>,
    /// The role ARN (for the IMDS role name, `RoleArn` and `AccountId`).
    pub role_arn: String,
    /// The ECS endpoint's token for this profile.
    pub ecs_token: SecretString,
    /// The profile's region (IMDS `placement/region`); a reload replaces the profile, and so it.
    pub region: String,
    /// The credential documents built for the credentials handed out last.
    pub documents: documents::Documents,
}

impl ServedProfile {
    /// The IMDS role name: the last segment of the role ARN.
    pub fn role_name(&self) -> &str {
        self.role_arn.rsplit('/').next().unwrap_or_default()
    }

    /// The account id from the role ARN.
    pub fn account_id(&self) -> &str {
        self.role_arn.split(':').nth(4).unwrap_or_default()
    }
}

/// The IMDS endpoint's settings. IMDS has no client authentication (an IMDSv2 token is free to
/// anyone who can reach the listener), so it exists only when asked for.
#[derive(Debug, Clone)]
pub struct ImdsOptions {
    /// The profile IMDS serves.
    pub profile: String,
    /// Answer IMDSv1 (token-less) requests.
    pub v1: bool,
}

/// Options of the credentials listener.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// IMDS, when enabled; `None` routes nothing under `/latest/`.
    pub imds: Option<ImdsOptions>,
    /// Extra Host header values allowed (the bind address, with --allow-remote).
    pub extra_hosts: Vec<String>,
}

/// Request counters by endpoint and status.
#[derive(Debug, Default)]
pub struct RequestCounters {
    // A sync mutex: held only to bump a counter.
    counts: Mutex<BTreeMap<(&'static str, u16), u64>>,
}

impl RequestCounters {
    fn count(&self, endpoint: &'static str, status: u16) {
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry((endpoint, status)).or_default() += 1;
        }
    }

    /// A copy of the counts.
    pub fn snapshot(&self) -> BTreeMap<(&'static str, u16), u64> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

/// The agent's shared state.
#[derive(Debug)]
pub struct Agent {
    // A sync lock: held only to clone an `Arc` or swap the map (SIGHUP), never across an await.
    profiles: RwLock<BTreeMap<String, Arc<ServedProfile>>>,
    // Signing proxies run alongside, by listen address (for their metrics).
    proxies: RwLock<Vec<(String, Arc<crate::proxy::Proxy>)>>,
    /// Listener options.
    pub options: ServeOptions,
    /// IMDSv2 session tokens.
    pub imds_tokens: imds::TokenStore,
    /// Request counters.
    pub requests: RequestCounters,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    // Who may fetch what; replaced with the profiles on reload.
    consumers: RwLock<Arc<consumers::Consumers>>,
    /// The audit log, when one is configured.
    pub audit: Option<Arc<crate::audit::AuditLog>>,
    /// Fetches by consumer, profile and outcome.
    pub fetches: consumer_metrics::FetchCounters,
    /// Each profile's recent refreshes.
    pub history: history::RefreshHistory,
}

/// Host header values every deployment accepts: loopback names and the link-local addresses
/// SDKs use. Anything else is refused, so a DNS-rebinding page cannot read credentials.
fn host_allowed(host: &str, extra: &[String]) -> bool {
    let Some(authority) = crate::host::Authority::parse(host) else {
        return false;
    };
    authority.is_loopback()
        || matches!(
            authority.host.as_str(),
            "169.254.169.254" | "169.254.170.2" | "169.254.170.23" | "fd00:ec2::23"
        )
        || extra.contains(&authority.host)
}

impl Agent {
    /// An agent serving `profiles`.
    pub fn new(
        profiles: BTreeMap<String, Arc<ServedProfile>>,
        options: ServeOptions,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            profiles: RwLock::new(profiles),
            proxies: RwLock::new(Vec::new()),
            options,
            imds_tokens: imds::TokenStore::default(),
            requests: RequestCounters::default(),
            clock,
            consumers: RwLock::new(Arc::new(consumers::Consumers::default())),
            audit: None,
            fetches: consumer_metrics::FetchCounters::default(),
            history: history::RefreshHistory::default(),
        }
    }

    /// The same agent with consumers and an audit log.
    pub fn with_consumers(
        mut self,
        consumers: consumers::Consumers,
        audit: Option<crate::audit::AuditLog>,
    ) -> Self {
        self.consumers = RwLock::new(Arc::new(consumers));
        self.audit = audit.map(Arc::new);
        self
    }

    /// The consumers in force.
    pub fn consumers(&self) -> Arc<consumers::Consumers> {
        self.consumers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replaces the consumers (configuration reload).
    pub fn set_consumers(&self, consumers: consumers::Consumers) {
        *self
            .consumers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(consumers);
    }

    /// Counts and audits credentials handed out (`record` says to whom, on which channel; it
    /// is built only when there is an audit log).
    pub fn handed_out(
        &self,
        record: impl FnOnce() -> crate::audit::AuditRecord,
        consumer: Option<String>,
        profile: &str,
        role_arn: &str,
        credentials: &crate::aws_credentials::Credentials,
    ) {
        let consumer_name = consumer.as_deref().unwrap_or("-");
        self.fetches
            .count(consumer_name, profile, "granted", self.clock.now());
        self.audit(|| record().handout(consumer, role_arn, credentials));
    }

    /// Appends the record `record` builds to the audit log, if there is one (and only then
    /// builds it: the handlers call this on every request).
    pub fn audit(&self, record: impl FnOnce() -> crate::audit::AuditRecord) {
        if let Some(log) = &self.audit {
            log.write(&record());
        }
    }

    /// One served profile.
    pub fn profile(&self, name: &str) -> Option<Arc<ServedProfile>> {
        self.profiles
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// All served profiles, by name.
    pub fn profiles(&self) -> BTreeMap<String, Arc<ServedProfile>> {
        self.profiles
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Registers a signing proxy listener (its metrics join the admin endpoint's).
    pub fn add_proxy(&self, listener: String, proxy: Arc<crate::proxy::Proxy>) {
        self.proxies
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((listener, proxy));
    }

    /// The registered proxies.
    pub fn proxies(&self) -> Vec<(String, Arc<crate::proxy::Proxy>)> {
        self.proxies
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replaces the served profiles (configuration reload).
    pub fn set_profiles(&self, profiles: BTreeMap<String, Arc<ServedProfile>>) {
        *self
            .profiles
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = profiles;
    }

    /// Routes a request on the credentials listener or the socket. Over TCP the Host must be
    /// a loopback or metadata address (a DNS-rebinding page cannot name one); a Unix socket
    /// has no such attack, and no IMDS.
    pub fn handle(&self, request: &Incoming) -> Reply {
        let host = request.header("host").unwrap_or_default();
        let tcp = matches!(request.peer, crate::server::Peer::Tcp(_));
        if tcp && !host_allowed(host, &self.options.extra_hosts) {
            self.requests.count("refused", 403);
            let family = refusal::Family::of_path(&request.path);
            let message = "Host header is not a loopback or metadata address";
            return refusal::refuse(family, 403, "Forbidden", message);
        }
        let (endpoint, reply) = if let (Some(options), true, true) = (
            &self.options.imds,
            tcp,
            request.path.starts_with("/latest/"),
        ) {
            ("imds", imds::handle(self, options, request))
        } else if let Some(profile) = request.path.strip_prefix("/v1/credentials/") {
            ("ecs", ecs::handle(self, profile, request))
        } else {
            let message = "not found: the ECS endpoint is /v1/credentials/<profile>";
            (
                "other",
                refusal::refuse(refusal::Family::Ecs, 404, "NotFound", message),
            )
        };
        self.requests.count(endpoint, reply.status);
        reply
    }
}

/// Serves `agent` on `service`: the credentials listener and the admin listener
/// (`loopback_only`: the admin Host must name this machine).
pub fn listen(
    agent: &Arc<Agent>,
    service: &mut crate::service::Service,
    credentials: tokio::net::TcpListener,
    admin: tokio::net::TcpListener,
    loopback_only: bool,
) {
    let credentials_agent = agent.clone();
    service.serve(credentials, move |incoming| {
        let agent = credentials_agent.clone();
        async move { agent.handle(&incoming) }
    });
    let admin_agent = agent.clone();
    service.serve(admin, move |incoming| {
        let agent = admin_agent.clone();
        async move { admin::handle(&agent, &incoming, loopback_only) }
    });
}

/// Serves `agent`'s ECS-style API on a Unix socket (`serve --socket`).
pub fn listen_socket(
    agent: &Arc<Agent>,
    service: &mut crate::service::Service,
    socket: tokio::net::UnixListener,
) {
    let agent = agent.clone();
    service.serve(socket, move |incoming| {
        let agent = agent.clone();
        async move { agent.handle(&incoming) }
    });
}

#[cfg(test)]
mod tests;
