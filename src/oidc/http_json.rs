//! The identity provider's HTTP side: GET a JSON document, POST a form and read JSON back,
//! with a size cap and a deadline, through the one outbound stack.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use serde::de::DeserializeOwned;

use crate::http::HttpsClient;

/// Largest JSON document read from an identity provider or CA.
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Why an HTTP exchange with the identity provider or CA failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpJsonError {
    /// Could not connect, or the connection failed.
    #[error("cannot reach {url}: {detail}; check the address and that the server is running")]
    Unreachable {
        /// The URL.
        url: String,
        /// What happened.
        detail: String,
    },
    /// No answer in time.
    #[error("{url} did not answer within {} s", REQUEST_TIMEOUT.as_secs())]
    Timeout {
        /// The URL.
        url: String,
    },
    /// A status other than 2xx, with the OAuth `error` when the body had one.
    #[error("{url} answered HTTP {status}{}", error.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
        /// `error` (and `error_description`) from an OAuth error body, printable.
        error: Option<String>,
        /// The OAuth `error` code alone, for callers that act on it.
        code: Option<String>,
    },
    /// The body is not the JSON expected.
    #[error("{url} answered with a document that is not the expected JSON: {detail}")]
    BadJson {
        /// The URL.
        url: String,
        /// The parser's words.
        detail: String,
    },
}

impl HttpJsonError {
    /// The OAuth error code of a refusal (`authorization_pending`, `slow_down`, …).
    pub fn oauth_code(&self) -> Option<&str> {
        match self {
            Self::Status { code, .. } => code.as_deref(),
            _ => None,
        }
    }
}

/// An HTTP client for JSON exchanges.
#[derive(Debug, Clone)]
pub struct OidcHttp {
    client: HttpsClient,
}

impl OidcHttp {
    /// Wraps the outbound client.
    pub fn new(client: HttpsClient) -> Self {
        Self { client }
    }

    /// GETs `url` and parses its JSON body.
    pub async fn get_json<T: DeserializeOwned>(&self, url: &Uri) -> Result<T, HttpJsonError> {
        let request = Request::get(url.clone())
            .header("accept", "application/json")
            .body(Full::new(Bytes::new()));
        self.exchange(url, request).await
    }

    /// POSTs `form` (already url-encoded) to `url` and parses the JSON answer.
    pub async fn post_form<T: DeserializeOwned>(
        &self,
        url: &Uri,
        form: String,
    ) -> Result<T, HttpJsonError> {
        let request = Request::post(url.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(Full::new(Bytes::from(form)));
        self.exchange(url, request).await
    }

    /// POSTs a JSON body, with an optional bearer token, and parses the JSON answer.
    pub async fn post_json<T: DeserializeOwned>(
        &self,
        url: &Uri,
        body: &serde_json::Value,
        bearer: Option<&str>,
    ) -> Result<T, HttpJsonError> {
        let mut request = Request::post(url.clone())
            .header("content-type", "application/json")
            .header("accept", "application/json");
        if let Some(token) = bearer {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request.body(Full::new(Bytes::from(body.to_string())));
        self.exchange(url, request).await
    }

    async fn exchange<T: DeserializeOwned>(
        &self,
        url: &Uri,
        request: Result<Request<Full<Bytes>>, http::Error>,
    ) -> Result<T, HttpJsonError> {
        let name = url_for_messages(url);
        let unreachable = |detail: String| HttpJsonError::Unreachable {
            url: name.clone(),
            detail,
        };
        let request = request.map_err(|e| unreachable(e.to_string()))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| unreachable(crate::text::with_causes(&e)))?;
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
                .collect()
                .await
                .map_err(|e| unreachable(e.to_string()))?
                .to_bytes();
            Ok::<_, HttpJsonError>((status, body))
        };
        let (status, body) = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| HttpJsonError::Timeout { url: name.clone() })??;
        if !(200..300).contains(&status) {
            let (error, code) = oauth_error(&body);
            return Err(HttpJsonError::Status {
                url: name,
                status,
                error,
                code,
            });
        }
        serde_json::from_slice(&body).map_err(|e| HttpJsonError::BadJson {
            url: name,
            detail: e.to_string(),
        })
    }
}

/// The URL without its query, which may carry codes or tokens.
fn url_for_messages(url: &Uri) -> String {
    let mut text = format!(
        "{}://{}{}",
        url.scheme_str().unwrap_or("http"),
        url.authority().map(|a| a.as_str()).unwrap_or(""),
        url.path()
    );
    text.truncate(300);
    text
}

/// `error: error_description` from an OAuth error body (RFC 6749 §5.2) or a step-ca
/// `{"message"}` body, made printable.
fn oauth_error(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) else {
        return (None, None);
    };
    let text = |key: &str| {
        map.get(key)
            .and_then(|v| v.as_str())
            .map(|s| crate::text::printable(s, 200))
    };
    let code = text("error");
    let words = match (&code, text("error_description").or_else(|| text("message"))) {
        (Some(code), Some(description)) => Some(format!("{code}: {description}")),
        (Some(code), None) => Some(code.clone()),
        (None, description) => description,
    };
    (words, code)
}
