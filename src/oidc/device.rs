//! The device authorization grant (RFC 8628) for machines without a browser: ask for a code,
//! show the person where to enter it, then poll the token endpoint at the provider's
//! `interval`, slowing by 5 s on `slow_down`, until the person approves, refuses, or the code
//! expires.

use std::time::Duration;

use serde::Deserialize;

use super::discovery::Provider;
use super::flow::{form, ClientRegistration, TokenResponse};
use super::{HttpJsonError, OidcHttp};
use crate::secret::SecretString;

/// The grant type of the polling requests.
pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The interval when the provider names none (RFC 8628 §3.2).
const DEFAULT_INTERVAL_SECONDS: u64 = 5;

/// The device authorization response (RFC 8628 §3.2).
#[derive(Debug, Deserialize)]
pub struct DeviceAuthorization {
    /// The code the client polls with.
    pub device_code: SecretString,
    /// The code the person types.
    pub user_code: String,
    /// Where the person goes.
    pub verification_uri: String,
    /// The same with the code filled in.
    #[serde(default)]
    pub verification_uri_complete: Option<String>,
    /// Lifetime of the codes, in seconds.
    pub expires_in: u64,
    /// Polling interval, in seconds.
    #[serde(default)]
    pub interval: Option<u64>,
}

/// Why the device flow failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// The provider has no device endpoint.
    #[error("the identity provider does not offer the device flow (no device_authorization_endpoint); sign in with the browser instead")]
    Unsupported,
    /// The request for a code failed.
    #[error("cannot start the device sign-in")]
    Start(#[source] HttpJsonError),
    /// The code expired before the person approved.
    #[error("the device code expired before the sign-in was approved; run 'tessera login --device' again")]
    Expired,
    /// The person refused.
    #[error("the sign-in was denied at the identity provider")]
    Denied,
    /// Polling failed for another reason.
    #[error("the device sign-in failed")]
    Poll(#[source] HttpJsonError),
    /// The answer had no ID token.
    #[error("the identity provider answered without an ID token; the client must be allowed the 'openid' scope")]
    NoIdToken,
}

/// Asks for a device and user code.
pub async fn start(
    http: &OidcHttp,
    provider: &Provider,
    client: &ClientRegistration,
) -> Result<DeviceAuthorization, DeviceError> {
    let endpoint = provider.device.as_ref().ok_or(DeviceError::Unsupported)?;
    let body = form(&[("client_id", &client.client_id), ("scope", &client.scopes)]);
    http.post_form(endpoint, body)
        .await
        .map_err(DeviceError::Start)
}

/// Polls until the person decides or the code expires; returns the ID token.
pub async fn poll(
    http: &OidcHttp,
    provider: &Provider,
    client: &ClientRegistration,
    authorization: &DeviceAuthorization,
) -> Result<SecretString, DeviceError> {
    let mut interval = Duration::from_secs(
        authorization
            .interval
            .unwrap_or(DEFAULT_INTERVAL_SECONDS)
            .max(1),
    );
    let deadline = crate::clock::monotonic_now() + Duration::from_secs(authorization.expires_in);
    let body = form(&[
        ("grant_type", DEVICE_GRANT),
        ("device_code", authorization.device_code.expose_secret()),
        ("client_id", &client.client_id),
    ]);
    loop {
        tokio::time::sleep(interval).await;
        if crate::clock::monotonic_now() >= deadline {
            return Err(DeviceError::Expired);
        }
        match http
            .post_form::<TokenResponse>(&provider.token, body.clone())
            .await
        {
            Ok(response) => return response.id_token.ok_or(DeviceError::NoIdToken),
            Err(e) => match e.oauth_code() {
                Some("authorization_pending") => {}
                Some("slow_down") => interval += Duration::from_secs(5),
                Some("expired_token") => return Err(DeviceError::Expired),
                Some("access_denied") => return Err(DeviceError::Denied),
                _ => return Err(DeviceError::Poll(e)),
            },
        }
    }
}
