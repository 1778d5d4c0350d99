//! `tessera login`'s work: sign a person in at their identity provider (the browser with
//! PKCE, or the device grant), verify the ID token, enrol a new key at the enrolment CA
//! (step-ca's `/1.0/sign` shape) and keep the key, certificate and chain where the profile's
//! credentials come from. `store.rs` writes those files and the profile lines; `enrol.rs`
//! talks to the CA.

pub mod enrol;
pub mod new_key;
pub mod prove;
pub mod renew;
pub mod store;

use std::time::Duration;

use serde::Deserialize;

use crate::oidc::device::{self, DeviceAuthorization, DeviceError};
use crate::oidc::discovery::{self, DiscoveryError, Provider};
use crate::oidc::flow::{self, ClientRegistration, FlowError, DEFAULT_SCOPES};
use crate::oidc::id_token::{self, Claims, Expectations, TokenError};
use crate::oidc::jwks::KeyCache;
use crate::oidc::loopback::{LoopbackError, RedirectListener};
use crate::oidc::pkce::SignInSecrets;
use crate::oidc::OidcHttp;
use crate::secret::{RandomError, SecretString};

/// The `[profiles.NAME.login]` table: where a person signs in and enrols.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct LoginSettings {
    /// The identity provider's issuer.
    pub issuer: Option<String>,
    /// The OAuth client id (a public client).
    pub client_id: Option<String>,
    /// The enrolment CA's base URL (`/1.0/sign` and `/1.0/renew` under it).
    pub enrol_url: Option<String>,
    /// Scopes (default: `openid email profile groups`).
    pub scopes: Option<String>,
    /// Loopback port for the redirect (default: an ephemeral one).
    pub redirect_port: Option<u16>,
    /// Where the key is generated: `file` (default), `keyring:SERVICE/NAME` or
    /// `pkcs11:…;object=NAME`.
    pub key: Option<String>,
}

/// The settings with every required value present.
#[derive(Debug, Clone)]
pub struct LoginTarget {
    /// The issuer.
    pub issuer: String,
    /// The client.
    pub client: ClientRegistration,
    /// The enrolment CA.
    pub enrol_url: http::Uri,
    /// The redirect port.
    pub redirect_port: u16,
}

impl LoginSettings {
    /// `self`'s values, falling back to `base`'s.
    pub fn over(self, base: LoginSettings) -> LoginSettings {
        LoginSettings {
            issuer: self.issuer.or(base.issuer),
            client_id: self.client_id.or(base.client_id),
            enrol_url: self.enrol_url.or(base.enrol_url),
            scopes: self.scopes.or(base.scopes),
            redirect_port: self.redirect_port.or(base.redirect_port),
            key: self.key.or(base.key),
        }
    }

    /// The target, or which setting is missing or malformed.
    pub fn target(&self, profile: &str) -> Result<LoginTarget, LoginError> {
        let missing = |flag: &'static str| LoginError::Missing {
            flag,
            profile: profile.to_owned(),
        };
        let issuer = self.issuer.clone().ok_or_else(|| missing("--issuer"))?;
        if discovery::usable_url(&issuer).is_none() {
            return Err(LoginError::Discovery(DiscoveryError::BadIssuer(
                crate::text::printable(&issuer, 200),
            )));
        }
        let client_id = self
            .client_id
            .clone()
            .ok_or_else(|| missing("--client-id"))?;
        let enrol = self
            .enrol_url
            .clone()
            .ok_or_else(|| missing("--enrol-url"))?;
        let enrol_url = discovery::usable_url(enrol.trim_end_matches('/'))
            .ok_or(LoginError::BadEnrolUrl(crate::text::printable(&enrol, 200)))?;
        Ok(LoginTarget {
            issuer,
            client: ClientRegistration {
                client_id,
                scopes: self
                    .scopes
                    .clone()
                    .unwrap_or_else(|| DEFAULT_SCOPES.to_owned()),
            },
            enrol_url,
            redirect_port: self.redirect_port.unwrap_or(0),
        })
    }
}

/// Why signing in failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoginError {
    /// A required setting is missing.
    #[error(
        "{flag} is required for profile '{profile}' (pass it once; login keeps it in the profile)"
    )]
    Missing {
        /// The flag.
        flag: &'static str,
        /// The profile.
        profile: String,
    },
    /// The enrolment URL is unusable.
    #[error("--enrol-url '{0}' must be an https:// URL (http:// only on loopback)")]
    BadEnrolUrl(String),
    /// Discovery failed.
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    /// The redirect listener failed or timed out.
    #[error(transparent)]
    Loopback(#[from] LoopbackError),
    /// The code flow failed.
    #[error(transparent)]
    Flow(#[from] FlowError),
    /// The device flow failed.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// The ID token was refused.
    #[error("the identity provider's ID token is not acceptable")]
    Token(#[source] TokenError),
    /// The redirect names another issuer (RFC 9207 mix-up defence).
    #[error("the sign-in redirect came from issuer '{0}', not from the profile's issuer")]
    IssuerMixUp(String),
    /// No randomness.
    #[error(transparent)]
    Random(#[from] RandomError),
    /// Enrolment failed.
    #[error(transparent)]
    Enrol(#[from] enrol::EnrolError),
    /// Storing the result failed.
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

/// What the person is asked to do, reported as the sign-in goes.
#[derive(Debug)]
pub enum Prompt<'a> {
    /// Open this URL in a browser (it holds the sign-in's state; never log it).
    OpenUrl(&'a SecretString),
    /// Go to `uri` (or `complete`) and enter `code`.
    DeviceCode {
        /// Where.
        uri: &'a str,
        /// The same with the code filled in.
        complete: Option<&'a str>,
        /// The code.
        code: &'a str,
    },
}

/// How the person signs in.
#[derive(Debug, Clone, Copy)]
pub enum Method {
    /// The browser, with the redirect taken on loopback within the timeout.
    Browser(Duration),
    /// The device grant.
    Device,
}

/// An ID token and its verified claims.
#[derive(Debug)]
pub struct SignedIn {
    /// The token, to show the enrolment CA.
    pub id_token: SecretString,
    /// Its claims.
    pub claims: Claims,
}

/// Signs the person in and verifies the ID token.
pub async fn sign_in(
    http: &OidcHttp,
    target: &LoginTarget,
    method: Method,
    prompt: &mut dyn FnMut(Prompt<'_>),
    now: impl Fn() -> time::OffsetDateTime,
) -> Result<SignedIn, LoginError> {
    let provider = discovery::discover(http, &target.issuer).await?;
    let (token, nonce) = match method {
        Method::Browser(timeout) => browser(http, &provider, target, timeout, prompt).await?,
        Method::Device => {
            let authorization: DeviceAuthorization =
                device::start(http, &provider, &target.client).await?;
            prompt(Prompt::DeviceCode {
                uri: &authorization.verification_uri,
                complete: authorization.verification_uri_complete.as_deref(),
                code: &authorization.user_code,
            });
            (
                device::poll(http, &provider, &target.client, &authorization).await?,
                None,
            )
        }
    };
    let keys = KeyCache::new(provider.jwks.clone());
    let audiences = [target.client.client_id.clone()];
    let expect = Expectations {
        issuer: &target.issuer,
        audiences: &audiences,
        nonce: nonce.as_ref().map(|n| n.expose_secret()),
        now: now(),
    };
    let claims = id_token::verify(http, &keys, token.expose_secret(), &expect)
        .await
        .map_err(LoginError::Token)?;
    Ok(SignedIn {
        id_token: token,
        claims,
    })
}

async fn browser(
    http: &OidcHttp,
    provider: &Provider,
    target: &LoginTarget,
    timeout: Duration,
    prompt: &mut dyn FnMut(Prompt<'_>),
) -> Result<(SecretString, Option<SecretString>), LoginError> {
    let listener = RedirectListener::bind(target.redirect_port).await?;
    let redirect_uri = listener.redirect_uri();
    let secrets = SignInSecrets::generate()?;
    let url = flow::authorization_url(provider, &target.client, &secrets, &redirect_uri);
    prompt(Prompt::OpenUrl(&url));
    let redirect = listener.wait(timeout).await?;
    if let Some(iss) = redirect
        .get("iss")
        .filter(|iss| *iss != provider.metadata.issuer)
    {
        return Err(LoginError::IssuerMixUp(crate::text::printable(iss, 200)));
    }
    let token = flow::exchange_redirect(
        http,
        provider,
        &target.client,
        &secrets,
        &redirect_uri,
        &redirect,
    )
    .await?;
    Ok((token, Some(secrets.nonce)))
}
