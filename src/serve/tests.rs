//! Unit tests of serve's routing: the Host rule, and the IMDS and ECS endpoints as tables of
//! requests and answers, on an agent whose profile holds known credentials.

use std::time::Duration as StdDuration;

use super::*;
use crate::aws_credentials::Credentials;
use crate::clock::ManualClock;
use crate::credentials::provider::{CredentialProvider, ProvideFuture};
use crate::credentials::refresh::CredentialCache;

const START: time::OffsetDateTime = time::macros::datetime!(2026-06-01 00:00:00 UTC);
const TOKEN: &str = "0123456789abcdef0123456789abcdef";

/// A provider that always issues the same one-hour credentials.
#[derive(Debug)]
struct Issuing(Arc<ManualClock>);

impl CredentialProvider for Issuing {
    fn provide(&self) -> ProvideFuture<'_> {
        let expiration = self.0.now() + time::Duration::hours(1);
        Box::pin(async move {
            Ok(Credentials::new(
                "ASIAEXAMPLEEXAMPLE00".into(),
                SecretString::new("the-secret".into()),
                SecretString::new("the-token".into()),
                expiration,
            ))
        })
    }

    fn session_duration(&self) -> time::Duration {
        time::Duration::hours(1)
    }
}

/// An agent with profile `dev` (role `arn:aws:iam::123456789012:role/dev`) holding
/// credentials, IMDS on for it, and whether IMDSv1 is allowed.
async fn test_agent(v1: bool) -> Agent {
    let clock = Arc::new(ManualClock::new(START));
    let cache = CredentialCache::new(Arc::new(Issuing(clock.clone())), clock.clone());
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(cache.clone().run("dev".into(), stopped));
    tokio::time::sleep(StdDuration::from_millis(10)).await;
    assert!(cache.current().is_ok());
    let profile = ServedProfile {
        cache,
        role_arn: "arn:aws:iam::123456789012:role/dev".into(),
        ecs_token: SecretString::new(TOKEN.into()),
        region: "eu-west-1".into(),
        documents: Default::default(),
    };
    let options = ServeOptions {
        imds: Some(ImdsOptions {
            profile: "dev".into(),
            v1,
        }),
        extra_hosts: Vec::new(),
    };
    Agent::new(
        BTreeMap::from([("dev".into(), Arc::new(profile))]),
        options,
        clock,
    )
}

fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> Incoming {
    let mut all = vec![("host".to_owned(), "127.0.0.1:9911".to_owned())];
    all.extend(
        headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
    );
    Incoming {
        method: method.parse().unwrap(),
        path: path.into(),
        query: String::new(),
        headers: all,
        body: bytes::Bytes::new(),
        peer: crate::server::Peer::Tcp(std::net::SocketAddr::from(([127, 0, 0, 1], 40000))),
    }
}

/// Sends each request and checks the status and a fragment of the body.
fn check(agent: &Agent, cases: &[(Incoming, u16, &str)]) {
    for (request, status, fragment) in cases {
        let reply = agent.handle(request);
        let what = format!("{} {}", request.method, request.path);
        assert_eq!(reply.status, *status, "{what}: {}", reply.text());
        assert!(reply.text().contains(fragment), "{what}: {}", reply.text());
    }
}

#[tokio::test(start_paused = true)]
async fn ecs_answers_the_token_holder_only() {
    let agent = test_agent(false).await;
    // Method, path, Authorization, status, a fragment of the body.
    let rows = [
        (
            "GET",
            "/v1/credentials/dev",
            TOKEN,
            200,
            "\"Token\":\"the-token\"",
        ),
        ("GET", "/v1/credentials/dev", TOKEN, 200, ":role/dev\""),
        (
            "GET",
            "/v1/credentials/dev",
            "",
            401,
            "\"code\":\"Unauthorized\"",
        ),
        ("GET", "/v1/credentials/dev", "wrong", 401, "Unauthorized"),
        // An unknown profile is the same 401: names cannot be enumerated.
        ("GET", "/v1/credentials/other", TOKEN, 401, "Unauthorized"),
        (
            "POST",
            "/v1/credentials/dev",
            TOKEN,
            405,
            "MethodNotAllowed",
        ),
        ("GET", "/v2/anything", TOKEN, 404, "\"code\":\"NotFound\""),
    ];
    let cases: Vec<(Incoming, u16, &str)> = rows
        .iter()
        .map(|&(method, path, token, status, fragment)| {
            let headers: &[(&str, &str)] = if token.is_empty() {
                &[]
            } else {
                &[("authorization", token)]
            };
            (request(method, path, headers), status, fragment)
        })
        .collect();
    check(&agent, &cases);
}

/// A session token from `PUT /latest/api/token`.
fn imds_token(agent: &Agent, ttl: &str) -> String {
    let put = request(
        "PUT",
        "/latest/api/token",
        &[("x-aws-ec2-metadata-token-ttl-seconds", ttl)],
    );
    agent.handle(&put).text().to_string()
}

const CREDS: &str = "/latest/meta-data/iam/security-credentials/";

#[tokio::test(start_paused = true)]
async fn imds_v2_answers_a_session_token_holder() {
    let agent = test_agent(false).await;
    let token = imds_token(&agent, "60");
    let with = [("x-aws-ec2-metadata-token", token.as_str())];
    let extended = "/latest/meta-data/iam/security-credentials-extended/dev";
    check(
        &agent,
        &[
            (request("GET", CREDS, &with), 200, "dev"),
            (
                request("GET", &format!("{CREDS}dev"), &with),
                200,
                "\"SecretAccessKey\":\"the-secret\"",
            ),
            (
                request("GET", extended, &with),
                200,
                "\"AccountId\":\"123456789012\"",
            ),
            (
                request("GET", &format!("{CREDS}other"), &with),
                404,
                "Not Found",
            ),
            (
                request("GET", "/latest/meta-data/placement/region", &with),
                200,
                "eu-west-1",
            ),
        ],
    );
}

#[tokio::test(start_paused = true)]
async fn imds_refuses_missing_or_forged_tokens_and_bad_token_requests() {
    let agent = test_agent(false).await;
    let ttl = "x-aws-ec2-metadata-token-ttl-seconds";
    check(
        &agent,
        &[
            (
                request("GET", &format!("{CREDS}dev"), &[]),
                401,
                "Unauthorized",
            ),
            (
                request(
                    "GET",
                    &format!("{CREDS}dev"),
                    &[("x-aws-ec2-metadata-token", "forged")],
                ),
                401,
                "Unauthorized",
            ),
            (
                request("PUT", "/latest/api/token", &[]),
                400,
                "must be 1–21600",
            ),
            (
                request("PUT", "/latest/api/token", &[(ttl, "21601")]),
                400,
                "must be 1–21600",
            ),
            (
                request(
                    "PUT",
                    "/latest/api/token",
                    &[(ttl, "60"), ("x-forwarded-for", "1.2.3.4")],
                ),
                400,
                "X-Forwarded-For",
            ),
        ],
    );
    assert_eq!(
        agent_v1_answers(&test_agent(true).await, CREDS),
        200,
        "with --imds-v1"
    );
}

/// The status of a token-less credentials request.
fn agent_v1_answers(agent: &Agent, creds: &str) -> u16 {
    agent
        .handle(&request("GET", &format!("{creds}dev"), &[]))
        .status
}

#[tokio::test(start_paused = true)]
async fn an_imds_token_expires_by_its_ttl() {
    let agent = test_agent(false).await;
    let put = request(
        "PUT",
        "/latest/api/token",
        &[("x-aws-ec2-metadata-token-ttl-seconds", "2")],
    );
    let token = agent.handle(&put).text().to_string();
    let get = request(
        "GET",
        "/latest/meta-data/placement/region",
        &[("x-aws-ec2-metadata-token", &token)],
    );
    assert_eq!(agent.handle(&get).status, 200, "the token works at first");
    tokio::time::sleep(StdDuration::from_secs(3)).await;
    assert_eq!(agent.handle(&get).status, 401, "and not after its TTL");
}

#[tokio::test(start_paused = true)]
async fn foreign_hosts_get_the_familys_refusal() {
    let agent = test_agent(false).await;
    let mut ecs = request("GET", "/v1/credentials/dev", &[("authorization", TOKEN)]);
    ecs.headers[0].1 = "evil.example".into();
    let mut imds = request("GET", "/latest/meta-data/placement/region", &[]);
    imds.headers[0].1 = "evil.example".into();
    let (ecs, imds) = (agent.handle(&ecs), agent.handle(&imds));
    assert_eq!((ecs.status, imds.status), (403, 403));
    assert!(
        ecs.text().contains("\"code\":\"Forbidden\""),
        "{}",
        ecs.text()
    );
    assert_eq!(imds.content_type, "text/plain");
}

#[test]
fn only_loopback_and_metadata_hosts_are_allowed() {
    for host in [
        "localhost",
        "localhost:9911",
        "127.0.0.1:80",
        "127.3.4.5",
        "[::1]:9911",
        "169.254.169.254",
        "169.254.170.2",
    ] {
        assert!(host_allowed(host, &[]), "{host}");
    }
    for host in [
        "evil.example",
        "evil.example:9911",
        "10.0.0.1",
        "",
        "127.0.0.1.evil.example",
    ] {
        assert!(!host_allowed(host, &[]), "{host}");
    }
    assert!(host_allowed("10.0.0.1:9911", &["10.0.0.1".to_owned()]));
}
