//! The proxy's settings, validated once from a `[[proxies]]` entry or `tessera proxy` flags;
//! every error names the setting at fault.

use std::net::SocketAddr;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use http::Uri;

use crate::config::ProxyListenerConfig;
use crate::host::Authority;
use crate::secret::SecretString;

/// A setting that does not validate.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A non-loopback listener without both remote access and a token.
    #[error("proxy listen address {listen} is not loopback; serving other hosts needs allow-remote and require-token")]
    RemoteListen {
        /// The listen address.
        listen: SocketAddr,
    },
    /// An upstream that is not an http(s) URL with a host.
    #[error("proxy upstream '{0}' is not an http:// or https:// URL with a host")]
    Upstream(String),
    /// A header to strip that is not a header name.
    #[error("strip-header '{0}' is not a header name")]
    StripHeader(String),
    /// A header to add that is not `Name: value`.
    #[error("add-header '{header}' {problem}")]
    AddHeader {
        /// The value as given.
        header: String,
        /// What is wrong with it.
        problem: &'static str,
    },
}

/// A fixed upstream, parsed once.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// `http` or `https`.
    pub scheme: String,
    /// Its host and port.
    pub authority: Authority,
}

/// How the proxy forwards.
#[derive(Debug, Clone, Default)]
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
    pub upstream_timeout: Duration,
}

impl ProxySettings {
    /// Validated settings for a listener configuration.
    pub fn from_config(config: &ProxyListenerConfig) -> Result<Self, SettingsError> {
        let remote_allowed = config.allow_remote && config.require_token.is_some();
        if !(config.listen.ip().is_loopback() || remote_allowed) {
            return Err(SettingsError::RemoteListen {
                listen: config.listen,
            });
        }
        let upstream = config.upstream.as_deref().map(parse_upstream).transpose()?;
        let strip_headers = config
            .strip_headers
            .iter()
            .map(|h| header_name(h).ok_or_else(|| SettingsError::StripHeader(h.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        let add_headers = config
            .add_headers
            .iter()
            .map(|h| parse_added_header(h))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            upstream,
            service: config.service.clone(),
            region: config.signing_region.clone(),
            max_buffered_body: config.max_buffered_body,
            strip_headers,
            add_headers,
            token: config.require_token.clone().map(SecretString::new),
            s3_streaming_signature: config.s3_streaming_signature,
            upstream_timeout: Duration::from_secs(config.upstream_timeout),
        })
    }
}

/// `http(s)://host[:port]`, anything after the authority ignored.
fn parse_upstream(value: &str) -> Result<Upstream, SettingsError> {
    let uri = value.parse::<Uri>().ok();
    let scheme = uri
        .as_ref()
        .and_then(Uri::scheme_str)
        .filter(|s| matches!(*s, "http" | "https"));
    let authority = uri
        .as_ref()
        .and_then(Uri::authority)
        .and_then(|a| Authority::parse(a.as_str()));
    match (scheme, authority) {
        (Some(scheme), Some(authority)) => Ok(Upstream {
            scheme: scheme.to_owned(),
            authority,
        }),
        _ => Err(SettingsError::Upstream(value.to_owned())),
    }
}

/// A header name, lowercased.
fn header_name(value: &str) -> Option<HeaderName> {
    HeaderName::from_bytes(value.trim().to_ascii_lowercase().as_bytes()).ok()
}

/// `Name: value`.
fn parse_added_header(header: &str) -> Result<(HeaderName, HeaderValue), SettingsError> {
    let bad = |problem| SettingsError::AddHeader {
        header: header.to_owned(),
        problem,
    };
    let (name, value) = header
        .split_once(':')
        .ok_or_else(|| bad("must be 'Name: value'"))?;
    let name = header_name(name).ok_or_else(|| bad("has a bad name"))?;
    let value = HeaderValue::from_str(value.trim()).map_err(|_| bad("has a bad value"))?;
    Ok((name, value))
}
