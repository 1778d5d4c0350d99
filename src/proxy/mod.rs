//! `tessera proxy`: a SigV4 signing reverse proxy. Requests arrive unsigned; they are forwarded
//! to AWS (or `--upstream`) signed with the agent's cached, refreshed Roles Anywhere credentials.
//! S3 bodies stream through with `UNSIGNED-PAYLOAD`; other services need the payload hash, so
//! their bodies are buffered up to a limit. Responses stream back as they arrive.
//!
//! [`Proxy::handle`] runs in stages: authorize the caller, find the destination, plan the body
//! (`body.rs`), sign (`sign.rs`), forward. Header hygiene is in `headers.rs`, validated settings
//! in `settings.rs`, counters in `metrics.rs`, the admin listener in `admin.rs`.

pub mod admin;
mod body;
pub mod chunked;
mod headers;
pub mod metrics;
pub mod route;
pub mod settings;
pub mod sign;
pub mod upstream;

use bytes::Bytes;
use http::header::{HeaderValue, HOST};
use http::{Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use std::sync::Arc;

use self::body::BodyPlan;
pub use self::metrics::ProxyMetrics;
use self::route::{derive, SigningTarget};
pub use self::settings::{ProxySettings, SettingsError, Upstream};
use self::sign::{sign_request, RequestToSign, SigningKeys};
use self::upstream::OwnUpstream;
pub use self::upstream::Upstreams;
use crate::aws_credentials::Credentials;
use crate::clock::Clock;
use crate::credentials::refresh::CredentialCache;
use crate::http::{BoxError, ProxyConnector};

/// Body type in both directions.
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;
/// The upstream client.
pub type ProxyClient = Client<HttpsConnector<ProxyConnector>, ProxyBody>;

/// Default cap on bodies that must be buffered to be hashed.
pub const DEFAULT_MAX_BUFFERED_BODY: usize = 16 * 1024 * 1024;

/// Where signing credentials come from.
#[derive(Debug, Clone)]
pub enum CredentialSource {
    /// A refreshed Roles Anywhere profile.
    Cache(Arc<CredentialCache>),
    /// Fixed credentials (`--credentials env`).
    Static(Credentials),
}

/// The proxy.
#[derive(Debug)]
pub struct Proxy {
    settings: ProxySettings,
    credentials: CredentialSource,
    upstreams: Upstreams,
    clock: Arc<dyn Clock>,
    /// Derived SigV4 keys, kept per credentials, day, region and service.
    keys: SigningKeys,
    /// Counters.
    pub metrics: ProxyMetrics,
    /// Where refusals are audited (the proxy hands out no credentials, so they are its lines).
    audit: Option<Arc<crate::audit::AuditLog>>,
}

/// A request the proxy answers itself: the status and the reason (a JSON `message`).
#[derive(Debug)]
pub(crate) struct Refusal {
    status: u16,
    message: String,
}

impl Refusal {
    fn new(status: u16, message: String) -> Self {
        Self { status, message }
    }

    fn response(&self) -> Response<ProxyBody> {
        let body = serde_json::json!({ "message": self.message }).to_string();
        let mut response = Response::new(
            Full::new(Bytes::from(body))
                .map_err(|never| match never {})
                .boxed_unsync(),
        );
        *response.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_GATEWAY);
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

/// Where one request goes and what it is signed for.
struct Destination {
    /// `http` or `https`.
    scheme: String,
    /// The upstream host and port.
    authority: crate::host::Authority,
    /// Service and region.
    target: SigningTarget,
    /// The full upstream URI.
    uri: http::Uri,
}

impl Destination {
    /// The Host header: the authority, without the scheme's default port.
    fn host_header(&self) -> Result<HeaderValue, Refusal> {
        let host = match (self.authority.port, self.scheme.as_str()) {
            (Some(443), "https") | (Some(80), "http") => crate::host::Authority {
                port: None,
                ..self.authority.clone()
            }
            .to_string(),
            _ => self.authority.to_string(),
        };
        HeaderValue::from_str(&host).map_err(|_| Refusal::new(400, "invalid upstream host".into()))
    }
}

impl Proxy {
    /// A proxy sending to `upstreams`.
    pub fn new(
        settings: ProxySettings,
        credentials: CredentialSource,
        upstreams: Upstreams,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            settings,
            credentials,
            upstreams,
            clock,
            keys: SigningKeys::default(),
            metrics: ProxyMetrics::default(),
            audit: None,
        }
    }

    /// Serves the proxy on `listener`; each client connection has its own upstream connection
    /// ([`upstream`]).
    pub fn serve_on(
        self: &Arc<Self>,
        service: &mut crate::service::Service,
        listener: tokio::net::TcpListener,
    ) {
        let proxy = self.clone();
        service.serve_streaming(listener, move |peer| {
            let (proxy, own) = (proxy.clone(), Arc::new(OwnUpstream::default()));
            move |request| {
                let (proxy, own) = (proxy.clone(), own.clone());
                async move {
                    Ok::<_, std::convert::Infallible>(proxy.handle(request, peer, &own).await)
                }
            }
        });
    }

    /// The same proxy, auditing its refusals to `log`.
    pub fn with_audit(mut self, log: Option<Arc<crate::audit::AuditLog>>) -> Self {
        self.audit = log;
        self
    }

    /// The credentials to sign with, or why there are none.
    fn credentials(&self) -> Result<Credentials, Refusal> {
        let current = match &self.credentials {
            CredentialSource::Cache(cache) => cache.current().map_err(|e| e.0),
            CredentialSource::Static(credentials) => Ok(credentials.clone()),
        };
        current.map_err(|reason| {
            self.metrics.signing_failure();
            Refusal::new(503, format!("no credentials to sign with: {reason}"))
        })
    }

    /// Stage 1: the bearer token (with `require-token`), the caller checks, no CONNECT.
    fn authorize(&self, request: &Request<hyper::body::Incoming>) -> Result<(), Refusal> {
        if let Some(token) = &self.settings.token {
            let presented = request
                .headers()
                .get(http::header::AUTHORIZATION)
                .map(HeaderValue::as_bytes)
                .unwrap_or_default();
            let expected = format!("Bearer {}", token.expose_secret());
            if !crate::secret::constant_time_eq(presented, expected.as_bytes()) {
                return Err(Refusal::new(
                    401,
                    "this proxy requires 'Authorization: Bearer <token>'".into(),
                ));
            }
        }
        self.check_caller(request.headers())
            .map_err(|reason| Refusal::new(403, reason.into()))?;
        if request.method() == http::Method::CONNECT {
            return Err(Refusal::new(
                405,
                "CONNECT is not supported: this proxy signs and forwards HTTP requests".into(),
            ));
        }
        Ok(())
    }

    /// Without a token, anything that can reach the loopback port gets requests signed, web
    /// pages included: a cross-site form or image request, or a DNS-rebinding page that names its
    /// own host. Requests carrying a browser's Origin or Sec-Fetch-* headers are refused, and
    /// with --upstream the Host must be a loopback name. CLIs and SDKs send neither.
    fn check_caller(&self, headers: &http::HeaderMap) -> Result<(), &'static str> {
        if self.settings.token.is_some() {
            return Ok(());
        }
        if headers.contains_key(http::header::ORIGIN)
            || headers.contains_key("sec-fetch-site")
            || headers.contains_key("sec-fetch-mode")
        {
            return Err(
                "requests from web browsers are refused; a browser app needs require-token",
            );
        }
        let host = headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        if self.settings.upstream.is_some() && !crate::host::is_loopback_host(host) {
            return Err(
                "with an upstream, the Host must name this machine (localhost, 127.0.0.1 or [::1])",
            );
        }
        Ok(())
    }

    /// Where a request goes and what it is signed for. With --upstream, there, signed for the
    /// overrides or the upstream's host; without, to the AWS endpoint its Host names, which must
    /// be a well-formed authority that derivation recognises even when --service and
    /// --signing-region are given (otherwise any Host would be signed for and sent to).
    fn signing_target(
        &self,
        parts: &http::request::Parts,
    ) -> Result<(String, crate::host::Authority, SigningTarget), Refusal> {
        let bad = |reason: String| Refusal::new(400, reason);
        let (scheme, authority) = match &self.settings.upstream {
            Some(upstream) => (upstream.scheme.clone(), upstream.authority.clone()),
            None => {
                let value =
                    parts
                        .headers
                        .get(HOST)
                        .and_then(|h| h.to_str().ok())
                        .or(parts.uri.authority().map(|a| a.as_str()))
                        .ok_or_else(|| {
                            bad("no Host header: without --upstream the Host names the AWS endpoint"
                            .into())
                        })?;
                let authority = crate::host::Authority::parse(value).ok_or_else(|| {
                    bad("the Host header is not a host name with an optional port".into())
                })?;
                ("https".to_owned(), authority)
            }
        };
        let derived = derive(&authority.host);
        if self.settings.upstream.is_none() && derived.is_none() {
            return Err(bad(format!(
                "{} is not an AWS endpoint; without --upstream the Host must name one (for example sqs.us-east-1.amazonaws.com)",
                authority.host
            )));
        }
        let target = match (&self.settings.service, &self.settings.region, derived) {
            (Some(service), Some(region), _) => SigningTarget {
                service: service.clone(),
                region: region.clone(),
            },
            (service, region, Some(derived)) => SigningTarget {
                service: service.clone().unwrap_or(derived.service),
                region: region.clone().unwrap_or(derived.region),
            },
            _ => {
                return Err(bad(format!(
                    "cannot tell which AWS service and region {} is; pass --service and --signing-region",
                    authority.host
                )))
            }
        };
        Ok((scheme, authority, target))
    }

    /// Stage 2: the destination, and the URI it is sent to. Security: the request goes
    /// exactly where the signature and the checks say.
    fn destination(&self, parts: &http::request::Parts) -> Result<Destination, Refusal> {
        let (scheme, authority, target) = self.signing_target(parts)?;
        let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let changed_host = || {
            Refusal::new(
                400,
                "the request path would change the upstream host".into(),
            )
        };
        let uri = format!("{scheme}://{authority}{path_and_query}")
            .parse::<http::Uri>()
            .map_err(|_| changed_host())?;
        if uri.host().map(|h| h.trim_matches(['[', ']'])) != Some(authority.host.as_str()) {
            return Err(changed_host());
        }
        Ok(Destination {
            scheme,
            authority,
            target,
            uri,
        })
    }

    /// Forwards one request from `peer`, on its connection's upstream `own` when it can; a
    /// refusal is audited.
    pub async fn handle(
        &self,
        request: Request<hyper::body::Incoming>,
        peer: crate::server::Peer,
        own: &OwnUpstream,
    ) -> Response<ProxyBody> {
        match self.try_handle(request, own).await {
            Ok(response) => response,
            Err(refusal) => {
                if let Some(log) = &self.audit {
                    let caller = crate::serve::consumers::Caller::of(peer);
                    let mut record = crate::audit::AuditRecord::request(
                        self.clock.now(),
                        crate::audit::Event::Refused,
                        "proxy",
                        &caller,
                    );
                    record.reason = Some(refusal.message.clone());
                    log.write(&record);
                }
                refusal.response()
            }
        }
    }

    async fn try_handle(
        &self,
        request: Request<hyper::body::Incoming>,
        own: &OwnUpstream,
    ) -> Result<Response<ProxyBody>, Refusal> {
        self.authorize(&request)?;
        let (parts, body) = request.into_parts();
        let destination = self.destination(&parts)?;
        let credentials = self.credentials()?;
        let mut headers =
            headers::forwarded(&parts.headers, &self.settings, destination.host_header()?);
        let plan = BodyPlan::choose(
            body,
            &parts.headers,
            &mut headers,
            &self.settings,
            &destination.target,
        )
        .await?;
        // Stage 4: sign.
        let to_sign = RequestToSign {
            method: parts.method.as_str(),
            path: destination.uri.path(),
            query: destination.uri.query(),
            headers: &headers,
            payload: plan.payload(),
        };
        let signed = sign_request(
            &to_sign,
            &credentials,
            &destination.target,
            self.clock.now(),
            &self.keys,
        )
        .map_err(|reason| {
            self.metrics.signing_failure();
            Refusal::new(400, format!("cannot sign the request: {reason}"))
        })?;
        let mut upstream_headers =
            http::HeaderMap::with_capacity(headers.len() + signed.headers.len());
        for (name, value) in headers {
            upstream_headers.append(name, value);
        }
        for (name, value) in signed.headers {
            upstream_headers.insert(name, value);
        }
        let mut upstream_request = Request::new(plan.into_body(signed.chain));
        *upstream_request.method_mut() = parts.method.clone();
        *upstream_request.uri_mut() = destination.uri.clone();
        *upstream_request.headers_mut() = upstream_headers;
        let bytes_in = headers::length(&parts.headers, http::header::CONTENT_LENGTH);
        self.forward(upstream_request, &destination, bytes_in, own)
            .await
    }

    /// Stage 5: send, wait at most `--upstream-timeout` for the answer, count it, and stream
    /// it back without hop-by-hop headers.
    async fn forward(
        &self,
        request: Request<ProxyBody>,
        destination: &Destination,
        bytes_in: u64,
        own: &OwnUpstream,
    ) -> Result<Response<ProxyBody>, Refusal> {
        let service = &destination.target.service;
        let upstream = || format!("{}://{}", destination.scheme, destination.authority);
        let started = crate::clock::monotonic_now();
        let sent = tokio::time::timeout(
            self.settings.upstream_timeout,
            self.upstreams.send(request, own),
        );
        let outcome = sent.await.map_err(|_| {
            self.metrics
                .record(service, 504, started.elapsed(), bytes_in);
            Refusal::new(
                504,
                format!(
                    "upstream {} sent no response within {} s",
                    upstream(),
                    self.settings.upstream_timeout.as_secs()
                ),
            )
        })?;
        let response = outcome.map_err(|e| {
            self.metrics
                .record(service, 502, started.elapsed(), bytes_in);
            Refusal::new(502, format!("upstream {} failed: {e}", upstream()))
        })?;
        let status = response.status().as_u16();
        self.metrics
            .record(service, status, started.elapsed(), bytes_in);
        self.metrics.response_bytes(headers::length(
            response.headers(),
            http::header::CONTENT_LENGTH,
        ));
        tracing::debug!(%service, status, version = ?response.version(), "upstream answered");
        let (mut parts, body) = response.into_parts();
        headers::strip_response(&mut parts.headers);
        Ok(Response::from_parts(
            parts,
            body.map_err(|e| -> BoxError { Box::new(e) }).boxed_unsync(),
        ))
    }
}
