//! `tessera proxy`: a SigV4 signing reverse proxy. Requests arrive unsigned; they are forwarded
//! to AWS (or `--upstream`) signed with the agent's cached, refreshed Roles Anywhere credentials.
//! S3 bodies stream through with `UNSIGNED-PAYLOAD`; other services need the payload hash, so
//! their bodies are buffered up to a limit. Responses stream back as they arrive.

pub mod chunked;
pub mod metrics;
pub mod route;
pub mod sign;

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, HOST};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;

pub use self::metrics::ProxyMetrics;
use self::route::{derive, SigningTarget};
use self::sign::{sign_request, Payload};
use crate::clock::Clock;
use crate::credentials::refresh::CredentialCache;
use crate::credentials::Credentials;
use crate::http::{BoxError, ProxyConnector};
use crate::secret::SecretString;

/// Body type in both directions.
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;
/// The upstream client.
pub type ProxyClient = Client<HttpsConnector<ProxyConnector>, ProxyBody>;

/// Default cap on bodies that must be buffered to be hashed.
pub const DEFAULT_MAX_BUFFERED_BODY: usize = 16 * 1024 * 1024;
/// Headers never forwarded: hop-by-hop ones, and the signature the proxy replaces.
const DROPPED: [&str; 15] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
    "host",
    "authorization",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

/// How a request body travels.
enum BodyPlan {
    /// Read whole (to hash it).
    Buffered(Bytes),
    /// Streamed as is, signed `UNSIGNED-PAYLOAD`.
    Unsigned(hyper::body::Incoming),
    /// Streamed as signed aws-chunked frames.
    Chunked(hyper::body::Incoming),
}

/// Where signing credentials come from.
#[derive(Debug, Clone)]
pub enum CredentialSource {
    /// A refreshed Roles Anywhere profile.
    Cache(Arc<CredentialCache>),
    /// Fixed credentials (`--credentials env`).
    Static(Credentials),
}

/// A fixed upstream, parsed once.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// `http` or `https`.
    pub scheme: String,
    /// Its host and port.
    pub authority: crate::host::Authority,
}

/// How the proxy forwards.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    /// Send everything here instead of to the request's Host.
    pub upstream: Option<Upstream>,
    /// Service override.
    pub service: Option<String>,
    /// Region override.
    pub region: Option<String>,
    /// Cap on buffered bodies.
    pub max_buffered_body: usize,
    /// Extra headers to remove before signing.
    pub strip_headers: Vec<HeaderName>,
    /// Headers to add before signing.
    pub add_headers: Vec<(HeaderName, HeaderValue)>,
    /// Bearer token clients must present (removed before forwarding).
    pub token: Option<SecretString>,
    /// Sign S3 uploads chunk by chunk (aws-chunked) instead of `UNSIGNED-PAYLOAD`.
    pub s3_streaming_signature: bool,
    /// Longest wait for the upstream's response headers.
    pub upstream_timeout: StdDuration,
}

impl ProxySettings {
    /// Validated settings for a listener configuration.
    pub fn from_config(config: &crate::config::ProxyListenerConfig) -> Result<Self, String> {
        let remote_allowed = config.allow_remote && config.require_token.is_some();
        if !(config.listen.ip().is_loopback() || remote_allowed) {
            return Err(format!(
                "proxy listen address {} is not loopback; serving other hosts needs allow-remote and require-token",
                config.listen
            ));
        }
        let upstream = config
            .upstream
            .as_deref()
            .map(|u| {
                let uri = u.parse::<Uri>().ok();
                let scheme = uri
                    .as_ref()
                    .and_then(Uri::scheme_str)
                    .filter(|s| matches!(*s, "http" | "https"));
                let authority = uri
                    .as_ref()
                    .and_then(Uri::authority)
                    .and_then(|a| crate::host::Authority::parse(a.as_str()));
                match (scheme, authority) {
                    (Some(scheme), Some(authority)) => Ok(Upstream {
                        scheme: scheme.to_owned(),
                        authority,
                    }),
                    _ => Err(format!(
                        "proxy upstream '{u}' is not an http:// or https:// URL with a host"
                    )),
                }
            })
            .transpose()?;
        let strip_headers = config
            .strip_headers
            .iter()
            .map(|h| {
                HeaderName::from_bytes(h.trim().to_ascii_lowercase().as_bytes())
                    .map_err(|_| format!("strip-header '{h}' is not a header name"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let add_headers = config
            .add_headers
            .iter()
            .map(|h| {
                let (name, value) = h
                    .split_once(':')
                    .ok_or_else(|| format!("add-header '{h}' must be 'Name: value'"))?;
                let name = HeaderName::from_bytes(name.trim().to_ascii_lowercase().as_bytes())
                    .map_err(|_| format!("add-header '{h}': bad name"))?;
                let value = HeaderValue::from_str(value.trim())
                    .map_err(|_| format!("add-header '{h}': bad value"))?;
                Ok((name, value))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self {
            upstream,
            service: config.service.clone(),
            region: config.signing_region.clone(),
            max_buffered_body: config.max_buffered_body,
            strip_headers,
            add_headers,
            token: config.require_token.clone().map(SecretString::new),
            s3_streaming_signature: config.s3_streaming_signature,
            upstream_timeout: StdDuration::from_secs(config.upstream_timeout),
        })
    }
}

/// The proxy.
#[derive(Debug)]
pub struct Proxy {
    settings: ProxySettings,
    credentials: CredentialSource,
    client: ProxyClient,
    clock: Arc<dyn Clock>,
    /// Counters.
    pub metrics: ProxyMetrics,
}

fn error(status: u16, message: &str) -> Response<ProxyBody> {
    let body = serde_json::json!({ "message": message }).to_string();
    let mut response = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

impl Proxy {
    /// A proxy with its upstream client.
    pub fn new(
        settings: ProxySettings,
        credentials: CredentialSource,
        client: ProxyClient,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            settings,
            credentials,
            client,
            clock,
            metrics: ProxyMetrics::default(),
        }
    }

    fn credentials(&self) -> Result<Credentials, String> {
        match &self.credentials {
            CredentialSource::Cache(cache) => cache.current().map_err(|e| e.0),
            CredentialSource::Static(credentials) => Ok(credentials.clone()),
        }
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
    fn destination(
        &self,
        parts: &http::request::Parts,
    ) -> Result<(String, crate::host::Authority, SigningTarget), String> {
        let (scheme, authority) = match &self.settings.upstream {
            Some(upstream) => (upstream.scheme.clone(), upstream.authority.clone()),
            None => {
                let value = parts
                    .headers
                    .get(HOST)
                    .and_then(|h| h.to_str().ok())
                    .or(parts.uri.authority().map(|a| a.as_str()))
                    .ok_or("no Host header: without --upstream the Host names the AWS endpoint")?;
                let authority = crate::host::Authority::parse(value)
                    .ok_or("the Host header is not a host name with an optional port")?;
                ("https".to_owned(), authority)
            }
        };
        let derived = derive(&authority.host);
        if self.settings.upstream.is_none() && derived.is_none() {
            return Err(format!(
                "{} is not an AWS endpoint; without --upstream the Host must name one (for example sqs.us-east-1.amazonaws.com)",
                authority.host
            ));
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
                return Err(format!(
                    "cannot tell which AWS service and region {} is; pass --service and --signing-region",
                    authority.host
                ))
            }
        };
        Ok((scheme, authority, target))
    }

    /// Forwards one request.
    pub async fn handle(&self, request: Request<hyper::body::Incoming>) -> Response<ProxyBody> {
        if let Some(token) = &self.settings.token {
            let presented = request
                .headers()
                .get(http::header::AUTHORIZATION)
                .map(HeaderValue::as_bytes)
                .unwrap_or_default();
            let expected = format!("Bearer {}", token.expose_secret());
            if !crate::secret::constant_time_eq(presented, expected.as_bytes()) {
                return error(401, "this proxy requires 'Authorization: Bearer <token>'");
            }
        }
        if let Err(reason) = self.check_caller(request.headers()) {
            return error(403, reason);
        }
        if request.method() == http::Method::CONNECT {
            return error(
                405,
                "CONNECT is not supported: this proxy signs and forwards HTTP requests",
            );
        }
        let (parts, body) = request.into_parts();
        let path_and_query = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let (scheme, authority, target) = match self.destination(&parts) {
            Ok(destination) => destination,
            Err(reason) => return error(400, &reason),
        };
        let credentials = match self.credentials() {
            Ok(c) => c,
            Err(reason) => {
                self.metrics.signing_failure();
                return error(503, &format!("no credentials to sign with: {reason}"));
            }
        };
        let uri = format!("{scheme}://{authority}{path_and_query}");
        // Security: the request goes exactly where the signature and the checks say.
        let sent_to = uri.parse::<http::Uri>().ok();
        if sent_to
            .as_ref()
            .and_then(|u| u.host())
            .map(|h| h.trim_matches(['[', ']']))
            != Some(authority.host.as_str())
        {
            return error(400, "the request path would change the upstream host");
        }
        let host = match (authority.port, scheme.as_str()) {
            (Some(443), "https") | (Some(80), "http") => crate::host::Authority {
                port: None,
                ..authority.clone()
            }
            .to_string(),
            _ => authority.to_string(),
        };
        let connection_listed: Vec<String> = parts
            .headers
            .get_all(http::header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(',').map(|s| s.trim().to_ascii_lowercase()))
            .collect();
        let mut headers: Vec<(HeaderName, HeaderValue)> = parts
            .headers
            .iter()
            .filter(|(name, _)| {
                let name = name.as_str();
                !DROPPED.contains(&name)
                    && !connection_listed.iter().any(|c| c == name)
                    && !self.settings.strip_headers.iter().any(|s| s == name)
            })
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        headers.extend(self.settings.add_headers.iter().cloned());
        let Ok(host_value) = HeaderValue::from_str(&host) else {
            return error(400, "invalid upstream host");
        };
        headers.push((HOST, host_value));
        let bytes_in = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);

        let streaming = target.is_s3();
        let plan = if !streaming {
            match Limited::new(body, self.settings.max_buffered_body).collect().await {
                Ok(collected) => BodyPlan::Buffered(collected.to_bytes()),
                Err(_) => {
                    return error(
                        413,
                        &format!(
                            "request body over --max-buffered-body ({} bytes): {} needs the payload hash to sign, so bodies are buffered",
                            self.settings.max_buffered_body, target.service
                        ),
                    )
                }
            }
        } else if self.settings.s3_streaming_signature && bytes_in > 0 {
            headers.retain(|(name, _)| {
                name != http::header::CONTENT_LENGTH && name != http::header::CONTENT_ENCODING
            });
            let encodings = parts
                .headers
                .get(http::header::CONTENT_ENCODING)
                .and_then(|v| v.to_str().ok());
            let encoding =
                encodings.map_or_else(|| "aws-chunked".to_owned(), |e| format!("aws-chunked,{e}"));
            for (name, value) in [
                (
                    "content-length",
                    chunked::encoded_length(bytes_in).to_string(),
                ),
                ("x-amz-decoded-content-length", bytes_in.to_string()),
                ("content-encoding", encoding),
            ] {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    headers.push((HeaderName::from_static(name), value));
                }
            }
            BodyPlan::Chunked(body)
        } else if self.settings.s3_streaming_signature
            && parts.headers.contains_key(http::header::TRANSFER_ENCODING)
        {
            return error(
                411,
                "--s3-streaming-signature needs the request's Content-Length",
            );
        } else {
            BodyPlan::Unsigned(body)
        };
        let payload = match &plan {
            BodyPlan::Buffered(bytes) => Payload::Bytes(bytes),
            BodyPlan::Unsigned(_) => Payload::Unsigned,
            BodyPlan::Chunked(_) => Payload::Chunked,
        };
        let now = self.clock.now();
        let signing_time = UNIX_EPOCH
            + StdDuration::from_secs(u64::try_from(now.unix_timestamp()).unwrap_or_default());
        let signed = sign_request(
            parts.method.as_str(),
            &uri,
            &headers,
            payload,
            &credentials,
            &target,
            signing_time,
        );
        let (instructions, seed_signature) = match signed {
            Ok(output) => output,
            Err(reason) => {
                self.metrics.signing_failure();
                return error(400, &format!("cannot sign the request: {reason}"));
            }
        };
        let body: ProxyBody = match plan {
            BodyPlan::Buffered(bytes) => Full::new(bytes)
                .map_err(|never| match never {})
                .boxed_unsync(),
            BodyPlan::Unsigned(body) => {
                body.map_err(|e| -> BoxError { Box::new(e) }).boxed_unsync()
            }
            BodyPlan::Chunked(body) => {
                let amz_date = crate::rolesanywhere::sign::amz_date(now);
                let scope = format!(
                    "{}/{}/{}/aws4_request",
                    &amz_date[..8],
                    target.region,
                    target.service
                );
                let key = aws_sigv4::sign::v4::generate_signing_key(
                    credentials.secret_access_key().expose_secret(),
                    signing_time,
                    &target.region,
                    &target.service,
                );
                let signer =
                    chunked::ChunkSigner::new(key.as_ref(), amz_date, scope, seed_signature);
                chunked::encode(body, signer).boxed_unsync()
            }
        };
        let mut builder = Request::builder().method(parts.method.clone()).uri(&uri);
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        let Ok(mut upstream_request) = builder.body(body) else {
            return error(400, "cannot build the upstream request");
        };
        instructions.apply_to_request_http1x(&mut upstream_request);
        let started = Instant::now();
        let outcome = match tokio::time::timeout(
            self.settings.upstream_timeout,
            self.client.request(upstream_request),
        )
        .await
        {
            Ok(outcome) => outcome,
            Err(_) => {
                self.metrics
                    .record(&target.service, 504, started.elapsed(), bytes_in);
                return error(
                    504,
                    &format!(
                        "upstream {scheme}://{authority} sent no response within {} s",
                        self.settings.upstream_timeout.as_secs()
                    ),
                );
            }
        };
        match outcome {
            Ok(response) => {
                self.metrics.record(
                    &target.service,
                    response.status().as_u16(),
                    started.elapsed(),
                    bytes_in,
                );
                let declared = response
                    .headers()
                    .get(http::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                self.metrics.response_bytes(declared);
                tracing::debug!(
                    service = %target.service,
                    status = response.status().as_u16(),
                    version = ?response.version(),
                    "upstream answered"
                );
                let (mut parts, body) = response.into_parts();
                for name in [
                    "connection",
                    "keep-alive",
                    "transfer-encoding",
                    "upgrade",
                    "proxy-connection",
                    "trailer",
                ] {
                    parts.headers.remove(name);
                }
                Response::from_parts(
                    parts,
                    body.map_err(|e| -> BoxError { Box::new(e) }).boxed_unsync(),
                )
            }
            Err(e) => {
                self.metrics
                    .record(&target.service, 502, started.elapsed(), bytes_in);
                error(502, &format!("upstream {scheme}://{authority} failed: {e}"))
            }
        }
    }
}
