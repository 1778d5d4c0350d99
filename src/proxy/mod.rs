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
mod destination;
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
use self::destination::{Destination, Routes};
pub use self::metrics::ProxyMetrics;
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

/// Headers only browsers send (with `Origin`), checked on every request.
const SEC_FETCH_SITE: http::HeaderName = http::HeaderName::from_static("sec-fetch-site");
const SEC_FETCH_MODE: http::HeaderName = http::HeaderName::from_static("sec-fetch-mode");

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
    /// Where requests go; with --upstream, worked out once.
    routes: Routes,
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

impl Proxy {
    /// A proxy sending to `upstreams`.
    pub fn new(
        settings: ProxySettings,
        credentials: CredentialSource,
        upstreams: Upstreams,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            routes: Routes::new(&settings),
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
            let matches = presented.strip_prefix(b"Bearer ").is_some_and(|presented| {
                crate::secret::constant_time_eq(presented, token.expose_secret().as_bytes())
            });
            if !matches {
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
            || headers.contains_key(&SEC_FETCH_SITE)
            || headers.contains_key(&SEC_FETCH_MODE)
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
        let destination = self.routes.destination(&self.settings, &parts)?;
        let credentials = self.credentials()?;
        let mut headers =
            headers::forwarded(&parts.headers, &self.settings, destination.host.clone());
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
        let mut upstream_request = Request::new(plan.into_body(signed.chain, &destination.target));
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
        let started = crate::clock::monotonic_now();
        let sent = tokio::time::timeout(
            self.settings.upstream_timeout,
            self.upstreams.send(request, own),
        );
        let outcome = sent.await.map_err(|_| {
            self.metrics
                .record(service, 504, started.elapsed(), bytes_in, 0);
            Refusal::new(
                504,
                format!(
                    "upstream {} sent no response within {} s",
                    destination.upstream(),
                    self.settings.upstream_timeout.as_secs()
                ),
            )
        })?;
        let response = outcome.map_err(|e| {
            self.metrics
                .record(service, 502, started.elapsed(), bytes_in, 0);
            Refusal::new(
                502,
                format!("upstream {} failed: {e}", destination.upstream()),
            )
        })?;
        let status = response.status().as_u16();
        let bytes_out = headers::length(response.headers(), http::header::CONTENT_LENGTH);
        self.metrics
            .record(service, status, started.elapsed(), bytes_in, bytes_out);
        tracing::debug!(%service, status, version = ?response.version(), "upstream answered");
        let (mut parts, body) = response.into_parts();
        headers::strip_response(&mut parts.headers);
        Ok(Response::from_parts(
            parts,
            body.map_err(|e| -> BoxError { Box::new(e) }).boxed_unsync(),
        ))
    }
}
