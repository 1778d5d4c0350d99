//! `tessera console`: the AWS console from temporary credentials, through the federation
//! sign-in endpoint. A SigninToken is asked for with the session JSON
//! (`Action=getSigninToken`), then `Action=login` with `Issuer`, `Destination` and the token
//! is the URL the browser opens. That URL is a bearer credential: it is returned as a secret
//! and never logged.

mod destination;

pub use self::destination::{console_destination, DestinationError, Partition};

use http::Uri;
use serde::Deserialize;

use crate::aws_credentials::Credentials;
use crate::oidc::flow::form;
use crate::oidc::{HttpJsonError, OidcHttp};
use crate::secret::SecretString;

/// The issuer named on the sign-in URL (shown by AWS when the session ends).
pub const ISSUER: &str = "tessera";

/// Why no console URL was made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsoleError {
    /// The credentials have expired.
    #[error("the credentials expired at {0}; run the command again for fresh ones")]
    Expired(String),
    /// The endpoint refused the credentials or could not be reached.
    #[error("the federation endpoint did not issue a sign-in token")]
    Refused(#[source] HttpJsonError),
    /// The endpoint answered without a token.
    #[error("the federation endpoint answered without a SigninToken")]
    NoToken,
    /// `--federation-endpoint` is not usable.
    #[error("--federation-endpoint '{0}' must be an https:// URL (http:// only on loopback)")]
    BadEndpoint(String),
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(rename = "SigninToken")]
    signin_token: Option<SecretString>,
}

/// The federation endpoint of a partition (`regional`: the region's own sign-in host).
pub fn federation_endpoint(partition: Partition, region: &str, regional: bool) -> String {
    let host = partition.signin_host();
    if regional {
        format!("https://{region}.{host}/federation")
    } else {
        format!("https://{host}/federation")
    }
}

/// Parses `--federation-endpoint`.
pub fn parse_endpoint(url: &str) -> Result<Uri, ConsoleError> {
    crate::oidc::discovery::usable_url(url)
        .ok_or_else(|| ConsoleError::BadEndpoint(crate::text::printable(url, 200)))
}

fn with_query(endpoint: &Uri, query: &str) -> String {
    format!("{}?{query}", endpoint.to_string().trim_end_matches('?'))
}

/// A SigninToken for `credentials`. `duration` is sent as `SessionDuration`; when the endpoint
/// answers 400 (chained credentials refuse it), the request is made once more without it.
pub async fn signin_token(
    http: &OidcHttp,
    endpoint: &Uri,
    credentials: &Credentials,
    duration: Option<u32>,
    now: time::OffsetDateTime,
) -> Result<SecretString, ConsoleError> {
    if credentials.expiration() <= now {
        return Err(ConsoleError::Expired(crate::time_format::rfc3339(
            credentials.expiration(),
        )));
    }
    let session = zeroize::Zeroizing::new(
        serde_json::json!({
            "sessionId": credentials.access_key_id(),
            "sessionKey": credentials.secret_access_key().expose_secret(),
            "sessionToken": credentials.session_token().expose_secret(),
        })
        .to_string(),
    );
    let ask = |duration: Option<u32>| {
        let duration = duration.map(|d| d.to_string());
        let mut pairs = vec![("Action", "getSigninToken")];
        if let Some(duration) = duration.as_deref() {
            pairs.push(("SessionDuration", duration));
        }
        pairs.push(("Session", session.as_str()));
        zeroize::Zeroizing::new(with_query(endpoint, &form(&pairs)))
    };
    let get = |url: zeroize::Zeroizing<String>| async move {
        let uri: Uri = url
            .parse()
            .map_err(|_| ConsoleError::BadEndpoint(endpoint.to_string()))?;
        http.get_json::<TokenAnswer>(&uri)
            .await
            .map_err(ConsoleError::Refused)
    };
    let answer = match get(ask(duration)).await {
        Err(ConsoleError::Refused(HttpJsonError::Status { status: 400, .. }))
            if duration.is_some() =>
        {
            tracing::warn!("the federation endpoint refused SessionDuration (chained credentials cannot have it); asked again without it");
            get(ask(None)).await?
        }
        other => other?,
    };
    answer.signin_token.ok_or(ConsoleError::NoToken)
}

/// The `Action=login` URL the browser opens.
pub fn login_url(endpoint: &Uri, destination: &str, token: &SecretString) -> SecretString {
    SecretString::new(with_query(
        endpoint,
        &form(&[
            ("Action", "login"),
            ("Issuer", ISSUER),
            ("Destination", destination),
            ("SigninToken", token.expose_secret()),
        ]),
    ))
}
