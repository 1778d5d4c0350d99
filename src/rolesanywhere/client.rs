//! CreateSession over HTTP(S): sign, send, retry what is worth retrying, and turn the answer
//! into [`Credentials`] or an error that says what the service said.

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub use super::client_error::ClientError;
use super::endpoint::host_header;
use super::model::{CreateSessionResponse, SessionParams};
use super::sign::sign_create_session;
use crate::aws_credentials::Credentials;
use crate::clock::Clock;
use crate::http::HttpsClient;
use crate::identity::Signer;
use crate::secret::SecretString;

/// Attempts per CreateSession call (first try plus retries).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// Overall time budget of one CreateSession call, retries included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest response body read.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// First backoff step; doubled per retry, with full jitter.
const BACKOFF_BASE: Duration = Duration::from_millis(200);
/// Longest single backoff.
const BACKOFF_CAP: Duration = Duration::from_secs(5);

/// A CreateSession client bound to one endpoint and region.
#[derive(Debug, Clone)]
pub struct RolesAnywhereClient {
    http: HttpsClient,
    endpoint: Uri,
    host: String,
    region: String,
    timeout: Duration,
    max_attempts: u32,
    clock: Arc<dyn Clock>,
    /// The endpoint's clock minus ours, seconds, from its `Date` headers (0 within 5 s);
    /// requests are signed with our clock plus this.
    skew_seconds: Arc<std::sync::atomic::AtomicI64>,
}

/// Skew below this is clock-reading noise (Date has 1 s resolution), not corrected.
const SKEW_NOISE_SECONDS: i64 = 5;
/// Skew above this is worth a warning.
const SKEW_WARNING_SECONDS: i64 = 60;

impl RolesAnywhereClient {
    /// A client for `endpoint`, signing for `region`.
    pub fn new(
        http: HttpsClient,
        endpoint: Uri,
        region: String,
        timeout: Duration,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let host = host_header(&endpoint);
        Self {
            http,
            endpoint,
            host,
            region,
            timeout,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            clock,
            skew_seconds: Arc::new(std::sync::atomic::AtomicI64::new(0)),
        }
    }

    /// The HTTP client (also used for the STS calls of a role chain).
    pub fn http(&self) -> &HttpsClient {
        &self.http
    }

    /// Measures the skew from a response's `Date`, and says so when it changes.
    fn observe_date(&self, headers: &http::HeaderMap) {
        let Some(date) = header_text(headers, "date")
            .and_then(|v| httpdate::parse_http_date(&v).ok())
            .map(OffsetDateTime::from)
        else {
            return;
        };
        let measured = (date - self.clock.now()).whole_seconds();
        let skew = if measured.abs() < SKEW_NOISE_SECONDS {
            0
        } else {
            measured
        };
        let previous = self
            .skew_seconds
            .swap(skew, std::sync::atomic::Ordering::Relaxed);
        if skew != previous && (skew - previous).abs() >= SKEW_NOISE_SECONDS {
            let direction = if skew >= 0 { "ahead of" } else { "behind" };
            let line = format!(
                "the clock of {} is {} s {direction} this machine's; requests are signed with its time",
                self.endpoint_text(),
                skew.abs()
            );
            if skew.abs() > SKEW_WARNING_SECONDS {
                tracing::warn!("{line}");
            } else {
                tracing::info!("{line}");
            }
        }
    }

    /// The endpoint requests go to.
    pub fn endpoint(&self) -> &Uri {
        &self.endpoint
    }

    /// Sends one `GET /` to the endpoint and returns its `Date` header, if any: proof that the
    /// endpoint is reachable (any HTTP answer counts) and a reading of its clock.
    pub async fn probe(&self) -> Result<Option<OffsetDateTime>, ClientError> {
        let request = Request::get(self.endpoint.clone())
            .body(Full::new(Bytes::new()))
            .map_err(|e| ClientError::Transport {
                endpoint: self.endpoint_text(),
                detail: e.to_string(),
            })?;
        let response = tokio::time::timeout(self.timeout, self.http.request(request))
            .await
            .map_err(|_| ClientError::Timeout {
                endpoint: self.endpoint_text(),
                seconds: self.timeout.as_secs(),
            })?
            .map_err(|e| self.transport_error(&e))?;
        Ok(response
            .headers()
            .get(http::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .map(OffsetDateTime::from))
    }

    /// Calls CreateSession, retrying transient failures with jittered exponential backoff;
    /// every attempt is signed afresh.
    pub async fn create_session(
        &self,
        params: &SessionParams,
        signer: &dyn Signer,
    ) -> Result<Credentials, ClientError> {
        let seconds = self.timeout.as_secs();
        match tokio::time::timeout(
            self.timeout,
            self.create_session_with_retries(params, signer),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(ClientError::Timeout {
                endpoint: self.endpoint_text(),
                seconds,
            }),
        }
    }

    async fn create_session_with_retries(
        &self,
        params: &SessionParams,
        signer: &dyn Signer,
    ) -> Result<Credentials, ClientError> {
        let mut attempt = 1;
        let mut resigned = false;
        loop {
            match self.attempt(params, signer).await {
                // The endpoint's Date, read from this very refusal, corrects the signing time.
                Err(e) if !resigned && e.is_signature_expired() => {
                    tracing::warn!("CreateSession was refused for the signature's time ({e}); signing again with the endpoint's clock");
                    resigned = true;
                }
                Err(e) if e.is_retryable() && attempt < self.max_attempts => {
                    let delay = backoff(attempt);
                    tracing::warn!(
                        attempt,
                        "CreateSession failed ({e}); retrying in {} ms",
                        delay.as_millis()
                    );
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn attempt(
        &self,
        params: &SessionParams,
        signer: &dyn Signer,
    ) -> Result<Credentials, ClientError> {
        let skew = self.skew_seconds.load(std::sync::atomic::Ordering::Relaxed);
        let now = self.clock.now() + time::Duration::seconds(skew);
        let signed = sign_create_session(params, &self.host, &self.region, signer, now)
            .map_err(ClientError::Sign)?;
        let base = self.endpoint.to_string();
        let url = format!("{}{}", base.trim_end_matches('/'), signed.path_and_query);
        let mut request = Request::builder().method(signed.method).uri(url);
        for (name, value) in &signed.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let request = request
            .body(Full::new(Bytes::from(signed.body)))
            .map_err(|e| ClientError::Transport {
                endpoint: self.endpoint_text(),
                detail: e.to_string(),
            })?;
        tracing::debug!(endpoint = %self.endpoint_text(), "sending CreateSession");
        let response = self
            .http
            .request(request)
            .await
            .map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        self.observe_date(response.headers());
        let error_type = header_text(response.headers(), "x-amzn-errortype");
        let request_id = header_text(response.headers(), "x-amzn-requestid");
        let body = match Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
        {
            Ok(collected) => collected.to_bytes(),
            // Not a transport fault: another attempt would get the same body.
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                return Err(ClientError::MalformedResponse {
                    endpoint: self.endpoint_text(),
                    status: status.as_u16(),
                    detail: format!(
                        "the response is larger than {} MiB",
                        MAX_RESPONSE_BYTES >> 20
                    ),
                })
            }
            Err(e) => {
                return Err(ClientError::Transport {
                    endpoint: self.endpoint_text(),
                    detail: format!("reading the response failed: {}", flatten(e.as_ref())),
                })
            }
        };
        if !status.is_success() {
            return Err(service_error(status, error_type, request_id, &body));
        }
        let provenance = crate::aws_credentials::Provenance {
            request_id: request_id.map(|id| crate::text::printable(&id, 100)),
            serial: Some(signer.certificate().serial_hex()),
        };
        Ok(self
            .parse_credentials(status, &body, now, time::Duration::seconds(skew))?
            .with_provenance(provenance))
    }

    /// The credentials in `body`, their times moved from the endpoint's clock (`now`, `skew`
    /// ahead of ours) to this machine's: every later expiry decision, and every consumer
    /// handed them, reads this machine's clock.
    fn parse_credentials(
        &self,
        status: StatusCode,
        body: &[u8],
        now: OffsetDateTime,
        skew: time::Duration,
    ) -> Result<Credentials, ClientError> {
        let malformed = |detail: String| ClientError::MalformedResponse {
            endpoint: self.endpoint_text(),
            status: status.as_u16(),
            detail,
        };
        let parsed: CreateSessionResponse = serde_json::from_slice(body).map_err(|e| {
            malformed(format!(
                "not CreateSession JSON ({})",
                crate::text::printable(&e.to_string(), 200)
            ))
        })?;
        let entry = parsed
            .credential_set
            .into_iter()
            .next()
            .ok_or_else(|| malformed("credentialSet is empty".into()))?;
        let raw = entry.credentials;
        crate::aws_credentials::check_fields(
            &raw.access_key_id,
            &raw.secret_access_key,
            &raw.session_token,
        )
        .map_err(|e| malformed(e.to_string()))?;
        let expiration_text = raw
            .expiration
            .ok_or_else(|| malformed("the credentials have no expiration".into()))?;
        let expiration = OffsetDateTime::parse(&expiration_text, &Rfc3339).map_err(|_| {
            malformed(format!(
                "expiration '{}' is not an ISO 8601 time",
                crate::text::printable(&expiration_text, 64)
            ))
        })?;
        if expiration <= now {
            return Err(malformed(format!(
                "the credentials already expired at {}",
                crate::text::printable(&expiration_text, 64)
            )));
        }
        Ok(Credentials::new(
            raw.access_key_id,
            SecretString::new(raw.secret_access_key),
            SecretString::new(raw.session_token),
            expiration - skew,
        )
        .with_issued_at(now - skew))
    }

    fn endpoint_text(&self) -> String {
        self.endpoint.to_string().trim_end_matches('/').to_owned()
    }

    fn transport_error(&self, error: &(dyn StdError + 'static)) -> ClientError {
        let detail = flatten(error);
        if is_tls_error(error) {
            ClientError::Tls {
                endpoint: self.endpoint_text(),
                detail,
            }
        } else {
            ClientError::Transport {
                endpoint: self.endpoint_text(),
                detail,
            }
        }
    }
}

/// Full-jitter exponential backoff: uniform in `[0, min(cap, base·2^(attempt-1))]`.
fn backoff(attempt: u32) -> Duration {
    let ceiling = BACKOFF_BASE
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(BACKOFF_CAP);
    let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(fastrand::u64(0..=millis))
}

fn header_text(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Builds a service error from the status, `X-Amzn-ErrorType` and the JSON body.
fn service_error(
    status: StatusCode,
    error_type: Option<String>,
    request_id: Option<String>,
    body: &[u8],
) -> ClientError {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |names: &[&str]| {
        json.as_ref().and_then(|j| {
            names
                .iter()
                .find_map(|n| j.get(*n).and_then(|v| v.as_str()).map(str::to_owned))
        })
    };
    // Security: every string below comes from the endpoint and reaches a terminal.
    let code = error_type
        .or_else(|| field(&["__type", "code", "Code"]))
        .map(|c| {
            // Forms seen: "Code:http://internal.amazon.com/…" and "namespace#Code".
            let c = c.split(':').next().unwrap_or(&c).to_owned();
            crate::text::printable(c.rsplit('#').next().unwrap_or(&c), 100)
        })
        .unwrap_or_else(|| "UnknownError".to_owned());
    let message = field(&["message", "Message"]).unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        if text.is_empty() {
            status.canonical_reason().unwrap_or("no message").to_owned()
        } else {
            text.chars().take(200).collect()
        }
    });
    ClientError::Service {
        status: status.as_u16(),
        code,
        message: crate::text::printable(&message, 300),
        request_id: request_id.map(|id| crate::text::printable(&id, 100)),
    }
}

/// The error and its sources on one line, without repeats.
fn flatten(error: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(error);
    while let Some(e) = current {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

/// Whether a rustls error is anywhere in the chain. hyper-rustls wraps it in an `io::Error`
/// inside another `io::Error`, and `io::Error::source` skips the wrapped value itself, so
/// `get_ref` is followed as well as `source`.
fn is_tls_error(error: &(dyn StdError + 'static)) -> bool {
    if error.is::<rustls::Error>() {
        return true;
    }
    let wrapped = error
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
        .is_some_and(|inner| is_tls_error(inner));
    wrapped || error.source().is_some_and(is_tls_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_errors_take_the_code_from_the_header_then_the_body() {
        let err = service_error(
            StatusCode::FORBIDDEN,
            Some("AccessDeniedException:http://internal.amazon.com/coral/".into()),
            Some("req-1".into()),
            br#"{"message":"Invalid signature"}"#,
        );
        assert_eq!(
            err.to_string(),
            "CreateSession failed: HTTP 403 AccessDeniedException: Invalid signature (request id req-1)"
        );
        assert!(!err.is_retryable());
        let err = service_error(
            StatusCode::BAD_REQUEST,
            None,
            None,
            br#"{"__type":"com.amazon#ThrottlingException","message":"Rate exceeded"}"#,
        );
        assert!(err
            .to_string()
            .contains("ThrottlingException: Rate exceeded"));
        assert!(err.is_retryable());
    }

    #[test]
    fn server_errors_and_429_are_retryable_but_other_4xx_are_not() {
        for (status, retry) in [
            (500, true),
            (503, true),
            (429, true),
            (400, false),
            (404, false),
        ] {
            let err = service_error(StatusCode::from_u16(status).unwrap(), None, None, b"");
            assert_eq!(err.is_retryable(), retry, "{status}");
        }
    }

    #[test]
    fn credentials_from_a_skewed_endpoint_are_timed_by_this_machines_clock() {
        let ours = time::macros::datetime!(2026-06-01 12:00:00 UTC);
        let options = crate::http::ClientOptions {
            ca_bundle: None,
            insecure_skip_verify: false,
            connect_timeout: Duration::from_secs(1),
            needs_tls: false,
            proxy: crate::http::ProxySettings::default(),
        };
        let client = RolesAnywhereClient::new(
            crate::http::build_client(&options).unwrap(),
            Uri::from_static("http://127.0.0.1:9"),
            "us-east-1".into(),
            Duration::from_secs(1),
            Arc::new(crate::clock::FixedClock(ours)),
        );
        // The endpoint's clock is ten minutes ahead: its one-hour session ends at 13:10 by it.
        let body = br#"{"credentialSet":[{"credentials":{"accessKeyId":"ASIAEXAMPLEEXAMPLE","secretAccessKey":"s","sessionToken":"t","expiration":"2026-06-01T13:10:00Z"}}]}"#;
        let skew = time::Duration::minutes(10);
        let credentials = client
            .parse_credentials(StatusCode::CREATED, body, ours + skew, skew)
            .unwrap();
        assert_eq!(credentials.expiration(), ours + time::Duration::hours(1));
        assert_eq!(credentials.issued_at(), Some(ours));
    }

    #[test]
    fn backoff_stays_under_the_cap() {
        for attempt in 1..40 {
            assert!(backoff(attempt) <= BACKOFF_CAP);
        }
        assert!(backoff(1) <= BACKOFF_BASE);
    }
}
