//! OpenID Provider discovery (OpenID Connect Discovery §4): the provider's metadata from
//! `/.well-known/openid-configuration`, checked before anything is sent to its endpoints.

use http::Uri;
use serde::Deserialize;

use super::{HttpJsonError, OidcHttp};

/// The metadata tessera uses.
#[derive(Debug, Clone, Deserialize)]
pub struct ProviderMetadata {
    /// The issuer identifier; must equal the configured issuer.
    pub issuer: String,
    /// Where the browser is sent.
    pub authorization_endpoint: String,
    /// Where codes are exchanged.
    pub token_endpoint: String,
    /// The signing keys.
    pub jwks_uri: String,
    /// The device authorization endpoint (RFC 8628), when the provider has one.
    #[serde(default)]
    pub device_authorization_endpoint: Option<String>,
    /// PKCE methods, when the provider lists them.
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
}

/// Why discovery failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The issuer is not a URL tessera may use.
    #[error("issuer '{0}' must be an https:// URL (http:// only on loopback)")]
    BadIssuer(String),
    /// The document could not be fetched or parsed.
    #[error("cannot read the identity provider's discovery document")]
    Fetch(#[source] HttpJsonError),
    /// The document names another issuer.
    #[error("the discovery document at {url} names issuer '{found}', not '{expected}'; check the profile's oidc_issuer")]
    IssuerMismatch {
        /// The document's URL.
        url: String,
        /// The configured issuer.
        expected: String,
        /// What the document says.
        found: String,
    },
    /// An endpoint is not a usable URL.
    #[error("the discovery document's {field} '{value}' is not an https:// URL (http:// only on loopback)")]
    BadEndpoint {
        /// Which field.
        field: &'static str,
        /// Its value, printable.
        value: String,
    },
    /// The provider cannot do PKCE with S256.
    #[error("the identity provider does not support PKCE with S256, which tessera requires")]
    NoPkce,
}

/// `url` parsed, when it is https, or http to a loopback host.
pub fn usable_url(url: &str) -> Option<Uri> {
    let uri: Uri = url.parse().ok()?;
    let host = uri.host()?;
    match uri.scheme_str() {
        Some("https") => Some(uri),
        Some("http") if crate::host::is_loopback_host(host) => Some(uri),
        _ => None,
    }
}

/// The provider's endpoints, as URLs.
#[derive(Debug, Clone)]
pub struct Provider {
    /// The metadata as published.
    pub metadata: ProviderMetadata,
    /// `authorization_endpoint`.
    pub authorization: Uri,
    /// `token_endpoint`.
    pub token: Uri,
    /// `jwks_uri`.
    pub jwks: Uri,
    /// `device_authorization_endpoint`.
    pub device: Option<Uri>,
}

/// Fetches and checks `issuer`'s metadata.
pub async fn discover(http: &OidcHttp, issuer: &str) -> Result<Provider, DiscoveryError> {
    usable_url(issuer)
        .ok_or_else(|| DiscoveryError::BadIssuer(crate::text::printable(issuer, 200)))?;
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let uri: Uri = url
        .parse()
        .map_err(|_| DiscoveryError::BadIssuer(crate::text::printable(issuer, 200)))?;
    let metadata: ProviderMetadata = http.get_json(&uri).await.map_err(DiscoveryError::Fetch)?;
    if metadata.issuer != issuer {
        return Err(DiscoveryError::IssuerMismatch {
            url,
            expected: issuer.to_owned(),
            found: crate::text::printable(&metadata.issuer, 200),
        });
    }
    if let Some(methods) = &metadata.code_challenge_methods_supported {
        if !methods.iter().any(|m| m == "S256") {
            return Err(DiscoveryError::NoPkce);
        }
    }
    let endpoint = |field: &'static str, value: &str| {
        usable_url(value).ok_or_else(|| DiscoveryError::BadEndpoint {
            field,
            value: crate::text::printable(value, 200),
        })
    };
    Ok(Provider {
        authorization: endpoint("authorization_endpoint", &metadata.authorization_endpoint)?,
        token: endpoint("token_endpoint", &metadata.token_endpoint)?,
        jwks: endpoint("jwks_uri", &metadata.jwks_uri)?,
        device: metadata
            .device_authorization_endpoint
            .as_deref()
            .map(|d| endpoint("device_authorization_endpoint", d))
            .transpose()?,
        metadata,
    })
}
