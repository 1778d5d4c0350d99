//! The IMDS and ECS endpoints' request handling (routing, token checks, Host checks) on an agent
//! holding credentials. Input as in create_session_request: `METHOD PATH?QUERY`, headers, body.
//! Beyond not panicking: credentials are answered only to the holder of the ECS token.
#![no_main]

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use tessera::clock::{Clock, FixedClock};
use tessera::credentials::provider::{CredentialProvider, ProvideFuture};
use tessera::credentials::refresh::CredentialCache;
use tessera::aws_credentials::Credentials;
use tessera::secret::SecretString;
use tessera::serve::{Agent, ImdsOptions, ServeOptions, ServedProfile};
use tessera::server::Incoming;
use time::macros::datetime;

#[derive(Debug)]
struct Fixed(Credentials);

impl CredentialProvider for Fixed {
    fn provide(&self) -> ProvideFuture<'_> {
        let credentials = self.0.clone();
        Box::pin(async move { Ok(credentials) })
    }
    fn session_duration(&self) -> time::Duration {
        time::Duration::hours(1)
    }
}

/// An agent with one profile whose cache holds credentials, built once.
fn agent() -> &'static Agent {
    static AGENT: OnceLock<(Agent, tokio::runtime::Runtime)> = OnceLock::new();
    &AGENT
        .get_or_init(|| {
            let at = datetime!(2027-01-01 00:00:00 UTC);
            let clock: Arc<dyn Clock> = Arc::new(FixedClock(at));
            let credentials = Credentials::new(
                "ASIAFUZZ".into(),
                SecretString::new("secret".into()),
                SecretString::new("token".into()),
                at + time::Duration::hours(1),
            )
            .with_issued_at(at);
            let cache = CredentialCache::new(Arc::new(Fixed(credentials)), clock.clone());
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            let (stop, stopped) = tokio::sync::watch::channel(false);
            runtime.block_on(async {
                let mut updates = cache.subscribe();
                tokio::spawn(cache.clone().run("fuzz".into(), stopped));
                let _ = updates.wait_for(|s| s.credentials.is_some()).await;
            });
            std::mem::forget(stop);
            let profile = ServedProfile {
                cache,
                role_arn: "arn:aws:iam::123456789012:role/app".into(),
                ecs_token: SecretString::new("ecs-token-0123456789".into()),
                region: "us-east-1".into(),
                documents: Default::default(),
            };
            let options = ServeOptions {
                imds: Some(ImdsOptions {
                    profile: "default".into(),
                    v1: false,
                }),
                extra_hosts: Vec::new(),
            };
            let agent = Agent::new(BTreeMap::from([("default".to_owned(), Arc::new(profile))]), options, clock);
            (agent, runtime)
        })
        .0
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let start = lines.next().unwrap_or_default();
    let (method, target) = start.split_once(' ').unwrap_or(("GET", start));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let Ok(method) = http::Method::from_bytes(method.as_bytes()) else { return };
    let request = Incoming {
        method,
        path: path.to_owned(),
        query: query.to_owned(),
        headers: lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect(),
        body: bytes::Bytes::from(body.as_bytes().to_vec()),
        peer: tessera::server::Peer::Tcp("127.0.0.1:40000".parse().expect("address")),
    };
    let reply = agent().handle(&request);
    // The property: the secret leaves only for a request that proved itself, with the ECS
    // token (no IMDS session token can be guessed, and IMDSv1 is off).
    if reply.text().contains("\"SecretAccessKey\"") {
        assert_eq!(reply.status, 200);
        assert_eq!(request.header("authorization"), Some("ecs-token-0123456789"));
    }
});
