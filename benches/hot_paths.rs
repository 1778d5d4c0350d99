//! In-process hot paths: request signing per key type, canonical request building, the
//! anchor's verification, the credential cache's hit path, the IMDS credential handler and
//! the proxy's SigV4 header signing.
//! Run with `cargo bench --bench hot_paths`.

use std::collections::BTreeMap;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use http::header::{HeaderName, HeaderValue};
use tessera::aws_credentials::Credentials;
use tessera::clock::{Clock, FixedClock};
use tessera::credentials::provider::{CredentialProvider, ProvideFuture};
use tessera::credentials::refresh::CredentialCache;
use tessera::identity::file::{FileIdentity, Passphrase};
use tessera::identity::key_ref::{IdentitySources, KeyRef};
use tessera::proxy::route::SigningTarget;
use tessera::proxy::sign::{sign_request, Payload, RequestToSign, SigningKeys};
use tessera::rolesanywhere::canonical::{canonical_query, canonical_request};
use tessera::rolesanywhere::model::SessionParams;
use tessera::rolesanywhere::sign::sign_create_session;
use tessera::rolesanywhere::verify::{verify, ReceivedRequest};
use tessera::secret::SecretString;
use tessera::serve::{Agent, ImdsOptions, ServeOptions, ServedProfile};
use tessera::server::Incoming;
use time::macros::datetime;
use time::OffsetDateTime;

const AT: OffsetDateTime = datetime!(2027-01-01 00:00:00 UTC);
const HOST: &str = "rolesanywhere.us-east-1.amazonaws.com";

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("certs/test")
        .join(name)
}

fn identity(cert: &str, key: &str) -> FileIdentity {
    let mut sources =
        IdentitySources::new(&fixture(cert), Some(&fixture(key))).expect("fixture paths");
    sources.intermediates = Some(KeyRef::File(fixture("intermediate.pem")));
    FileIdentity::load(&sources, &Passphrase::PromptIfTerminal, AT).expect("fixture loads")
}

fn params() -> SessionParams {
    SessionParams::new(
        "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/ta",
        "arn:aws:rolesanywhere:us-east-1:123456789012:profile/p",
        "arn:aws:iam::123456789012:role/app",
        3600,
        None,
    )
    .expect("valid parameters")
}

/// The key types benchmarked for signing and verification: name, certificate, key.
const KEY_FIXTURES: [(&str, &str, &str); 8] = [
    ("rsa2048", "leaf-rsa.pem", "leaf-rsa.key"),
    ("rsa4096", "leaf-rsa4096.pem", "leaf-rsa4096.key"),
    ("rsa8192", "leaf-rsa8192.pem", "leaf-rsa8192.key"),
    ("p256", "leaf-p256.pem", "leaf-p256.key"),
    ("p384", "leaf-p384.pem", "leaf-p384.key"),
    ("mldsa44", "leaf-mldsa44.pem", "leaf-mldsa44.key"),
    ("mldsa65", "leaf-mldsa65.pem", "leaf-mldsa65.key"),
    ("mldsa87", "leaf-mldsa87.pem", "leaf-mldsa87.key"),
];

fn signing(c: &mut Criterion) {
    let params = params();
    let mut group = c.benchmark_group("sign_create_session");
    // RSA-8192 signs in tens of milliseconds; fewer samples keep the run short.
    group.sample_size(20);
    for (name, cert, key) in KEY_FIXTURES {
        let id = identity(cert, key);
        group.bench_function(name, |b| {
            b.iter(|| sign_create_session(&params, HOST, "us-east-1", &id, AT).expect("signs"))
        });
    }
    group.finish();
}

fn canonical(c: &mut Criterion) {
    let headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        ("host".to_owned(), HOST.to_owned()),
        ("x-amz-date".to_owned(), "20270101T000000Z".to_owned()),
        ("x-amz-x509".to_owned(), "MIIB".repeat(200)),
    ];
    c.bench_function("canonical_request", |b| {
        b.iter(|| {
            let query = canonical_query(&[
                (
                    "profileArn",
                    "arn:aws:rolesanywhere:us-east-1:123456789012:profile/p",
                ),
                ("roleArn", "arn:aws:iam::123456789012:role/app"),
            ]);
            canonical_request(
                "POST",
                "/sessions",
                &query,
                &headers,
                "content-type;host;x-amz-date;x-amz-x509",
                b"{\"durationSeconds\":3600}",
            )
        })
    });
}

fn verification(c: &mut Criterion) {
    let mut group = c.benchmark_group("anchor_verify");
    // The large RSA keys add nothing here: verification is cheap for every RSA size.
    let verified = ["rsa2048", "p256", "mldsa44", "mldsa65", "mldsa87"];
    for (name, cert, key) in KEY_FIXTURES
        .into_iter()
        .filter(|(name, _, _)| verified.contains(name))
    {
        let id = identity(cert, key);
        let request = sign_create_session(&params(), HOST, "us-east-1", &id, AT).expect("signs");
        let (path, query) = request.path_and_query.split_once('?').expect("has a query");
        group.bench_function(name, |b| {
            b.iter(|| {
                verify(&ReceivedRequest {
                    method: "POST",
                    path,
                    query,
                    headers: &request.headers,
                    body: &request.body,
                })
                .expect("verifies")
            })
        });
    }
    group.finish();
}

#[derive(Debug)]
struct StaticProvider(Credentials);

impl CredentialProvider for StaticProvider {
    fn provide(&self) -> ProvideFuture<'_> {
        let credentials = self.0.clone();
        Box::pin(async move { Ok(credentials) })
    }
    fn session_duration(&self) -> time::Duration {
        time::Duration::hours(1)
    }
}

fn serving(c: &mut Criterion) {
    let clock: Arc<dyn Clock> = Arc::new(FixedClock(AT));
    let credentials = Credentials::new(
        "ASIABENCH".into(),
        SecretString::new("secret".into()),
        SecretString::new("token".into()),
        AT + time::Duration::hours(1),
    )
    .with_issued_at(AT);
    let cache = CredentialCache::new(Arc::new(StaticProvider(credentials)), clock.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    runtime.block_on(async {
        let mut updates = cache.subscribe();
        tokio::spawn(cache.clone().run("bench".into(), stopped));
        let _ = updates.wait_for(|s| s.credentials.is_some()).await;
    });
    c.bench_function("credential_cache_hit", |b| {
        b.iter(|| cache.current().expect("fresh"))
    });
    let profile = ServedProfile {
        cache,
        role_arn: "arn:aws:iam::123456789012:role/app".into(),
        ecs_token: SecretString::new("t".into()),
        region: "us-east-1".into(),
        documents: Default::default(),
    };
    let options = ServeOptions {
        imds: Some(ImdsOptions {
            profile: "bench".into(),
            v1: true,
        }),
        extra_hosts: Vec::new(),
    };
    let agent = Agent::new(
        BTreeMap::from([("bench".to_owned(), Arc::new(profile))]),
        options,
        clock,
    );
    let request = Incoming {
        method: http::Method::GET,
        path: "/latest/meta-data/iam/security-credentials/app".into(),
        query: String::new(),
        headers: vec![("host".into(), "127.0.0.1:9911".into())],
        body: bytes::Bytes::new(),
        peer: tessera::server::Peer::Tcp("127.0.0.1:40000".parse().expect("address")),
    };
    c.bench_function("imds_credentials_handler", |b| {
        b.iter(|| agent.handle(&request))
    });
}

fn proxy_signing(c: &mut Criterion) {
    let credentials = Credentials::new(
        "ASIABENCH".into(),
        SecretString::new("secret".into()),
        SecretString::new("token".into()),
        AT + time::Duration::hours(1),
    );
    let headers = [
        ("host", "bucket.s3.us-east-1.amazonaws.com"),
        ("user-agent", "curl/8.5.0"),
        ("accept", "*/*"),
    ]
    .map(|(n, v)| (HeaderName::from_static(n), HeaderValue::from_static(v)));
    let keys = SigningKeys::default();
    let mut group = c.benchmark_group("proxy_sign_request");
    for (name, service, payload) in [
        ("s3_get_unsigned_payload", "s3", Payload::Unsigned),
        ("sqs_post_1kib_body", "sqs", Payload::Bytes(&[b'x'; 1024])),
    ] {
        let target = SigningTarget {
            service: service.into(),
            region: "us-east-1".into(),
        };
        let request = RequestToSign {
            method: "GET",
            path: "/key",
            query: Some("list-type=2"),
            headers: &headers,
            payload,
        };
        group.bench_function(name, |b| {
            b.iter(|| sign_request(&request, &credentials, &target, AT, &keys).expect("signs"))
        });
    }
    // The baseline: aws-sigv4 signing the same S3 GET, as the proxy did before it signed itself.
    let identity = aws_credential_types::Credentials::new(
        "ASIABENCH",
        "secret",
        Some("token".into()),
        None,
        "bench",
    )
    .into();
    let mut settings = aws_sigv4::http_request::SigningSettings::default();
    settings.payload_checksum_kind = aws_sigv4::http_request::PayloadChecksumKind::XAmzSha256;
    settings.percent_encoding_mode = aws_sigv4::http_request::PercentEncodingMode::Single;
    settings.uri_path_normalization_mode =
        aws_sigv4::http_request::UriPathNormalizationMode::Disabled;
    let at =
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(AT.unix_timestamp().unsigned_abs());
    group.bench_function("aws_sigv4_s3_get_unsigned_payload", |b| {
        b.iter(|| {
            let params = aws_sigv4::sign::v4::SigningParams::builder()
                .identity(&identity)
                .region("us-east-1")
                .name("s3")
                .time(at)
                .settings(settings.clone())
                .build()
                .expect("complete parameters");
            let text = headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.to_str().expect("ASCII")));
            let signable = aws_sigv4::http_request::SignableRequest::new(
                "GET",
                "https://bucket.s3.us-east-1.amazonaws.com/key?list-type=2",
                text,
                aws_sigv4::http_request::SignableBody::UnsignedPayload,
            )
            .expect("signable");
            aws_sigv4::http_request::sign(signable, &params.into()).expect("signs")
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    signing,
    canonical,
    verification,
    serving,
    proxy_signing
);
criterion_main!(benches);
