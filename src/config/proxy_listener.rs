//! A signing proxy listener's settings: `tessera proxy`'s flags, or a `[[proxies]]` table of the
//! config file.

use serde::Deserialize;

fn default_max_buffered_body() -> usize {
    crate::proxy::DEFAULT_MAX_BUFFERED_BODY
}

fn default_upstream_timeout() -> u64 {
    900
}

/// A signing proxy listener, from `tessera proxy`'s flags or a `[[proxies]]` table.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ProxyListenerConfig {
    /// Address to listen on.
    pub listen: std::net::SocketAddr,
    /// The profile whose credentials sign (in `serve`).
    #[serde(default)]
    pub profile: Option<String>,
    /// Forward everything here.
    #[serde(default)]
    pub upstream: Option<String>,
    /// Service override.
    #[serde(default)]
    pub service: Option<String>,
    /// Region override.
    #[serde(default)]
    pub signing_region: Option<String>,
    /// Cap on buffered bodies, bytes.
    #[serde(default = "default_max_buffered_body")]
    pub max_buffered_body: usize,
    /// aws-chunked signing of S3 uploads.
    #[serde(default)]
    pub s3_streaming_signature: bool,
    /// Wait for response headers, seconds.
    #[serde(default = "default_upstream_timeout")]
    pub upstream_timeout: u64,
    /// Headers removed before signing.
    #[serde(default)]
    pub strip_headers: Vec<String>,
    /// Headers (`Name: value`) added before signing.
    #[serde(default)]
    pub add_headers: Vec<String>,
    /// Bearer token clients must present.
    #[serde(default)]
    pub require_token: Option<String>,
    /// Allow a non-loopback address (with a token).
    #[serde(default)]
    pub allow_remote: bool,
    /// IP TTL / IPv6 hop limit of responses; 1 keeps them on this host.
    #[serde(default = "default_hop_limit")]
    pub hop_limit: u8,
}

fn default_hop_limit() -> u8 {
    1
}
