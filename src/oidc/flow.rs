//! The authorization-code flow with PKCE (RFC 6749 §4.1, RFC 7636): the URL the browser is
//! sent to, and the exchange of the returned code for tokens. [`super::device`] is the other
//! way in. Both end with a [`TokenResponse`] whose ID token the caller verifies.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Deserialize;

use super::discovery::Provider;
use super::loopback::Redirect;
use super::pkce::SignInSecrets;
use super::{HttpJsonError, OidcHttp};
use crate::secret::SecretString;

/// Characters left as they are in a form value (RFC 3986 unreserved).
const FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The scopes asked for: the person's identity, email and groups.
pub const DEFAULT_SCOPES: &str = "openid email profile groups";

/// The client's registration at the provider.
#[derive(Debug, Clone)]
pub struct ClientRegistration {
    /// The client id (a public client: no secret).
    pub client_id: String,
    /// Space-separated scopes.
    pub scopes: String,
}

/// What the token endpoint returned.
#[derive(Debug, Deserialize)]
pub struct TokenResponse {
    /// The ID token (a JWS).
    pub id_token: Option<SecretString>,
}

/// Why the flow failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FlowError {
    /// The provider redirected back with an error (the user denied consent, …).
    #[error("the identity provider refused the sign-in: {0}")]
    Refused(String),
    /// The redirect's `state` is not this sign-in's (CSRF, or a stale tab).
    #[error("the sign-in redirect carries a different 'state' than tessera sent (a stale browser tab, or a forged redirect); run 'tessera login' again")]
    StateMismatch,
    /// The redirect has no code.
    #[error("the sign-in redirect carries no authorization code")]
    NoCode,
    /// The token endpoint refused or failed.
    #[error("cannot exchange the authorization code for tokens")]
    Token(#[source] HttpJsonError),
    /// The answer had no ID token (the `openid` scope was dropped).
    #[error("the identity provider answered without an ID token; the client must be allowed the 'openid' scope")]
    NoIdToken,
}

/// Form-encodes name/value pairs.
pub fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(n, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(n, FORM),
                utf8_percent_encode(v, FORM)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The URL the browser opens: response_type=code, S256 PKCE, state and nonce.
pub fn authorization_url(
    provider: &Provider,
    client: &ClientRegistration,
    secrets: &SignInSecrets,
    redirect_uri: &str,
) -> SecretString {
    let challenge = secrets.code_challenge();
    let query = form(&[
        ("response_type", "code"),
        ("client_id", &client.client_id),
        ("redirect_uri", redirect_uri),
        ("scope", &client.scopes),
        ("state", secrets.state.expose_secret()),
        ("nonce", secrets.nonce.expose_secret()),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let base = provider.metadata.authorization_endpoint.as_str();
    let separator = if base.contains('?') { '&' } else { '?' };
    SecretString::new(format!("{base}{separator}{query}"))
}

/// Checks the redirect (error, state) and exchanges its code at the token endpoint.
pub async fn exchange_redirect(
    http: &OidcHttp,
    provider: &Provider,
    client: &ClientRegistration,
    secrets: &SignInSecrets,
    redirect_uri: &str,
    redirect: &Redirect,
) -> Result<SecretString, FlowError> {
    if let Some(error) = redirect.get("error") {
        let description = redirect.get("error_description").unwrap_or_default();
        return Err(FlowError::Refused(crate::text::printable(
            &format!(
                "{error}{}{description}",
                if description.is_empty() { "" } else { ": " }
            ),
            300,
        )));
    }
    let state = redirect.get("state").unwrap_or_default();
    if !crate::secret::constant_time_eq(state.as_bytes(), secrets.state.expose_secret().as_bytes())
    {
        return Err(FlowError::StateMismatch);
    }
    let code = redirect.get("code").ok_or(FlowError::NoCode)?;
    let body = form(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("client_id", &client.client_id),
        ("code_verifier", secrets.code_verifier.expose_secret()),
    ]);
    let response: TokenResponse = http
        .post_form(&provider.token, body)
        .await
        .map_err(FlowError::Token)?;
    response.id_token.ok_or(FlowError::NoIdToken)
}
