//! Where a proxied request goes and what it is signed for. With `--upstream` every request goes
//! to the same place, so its scheme, authority, Host header and signing target are worked out
//! once, when the proxy starts ([`Routes::new`]); without, the request's Host names the AWS
//! endpoint and is checked on every request. Security: a request goes exactly where the
//! signature and the checks say — the URI is assembled from the checked authority and the
//! request's path, so no path can change the host.

use std::sync::Arc;

use http::header::{HeaderValue, HOST};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::Uri;

use super::route::{derive, SigningTarget};
use super::{ProxySettings, Refusal};
use crate::host;

/// Where one request goes and what it is signed for.
pub(super) struct Destination {
    /// The full upstream URI.
    pub(super) uri: Uri,
    /// Service and region.
    pub(super) target: Arc<SigningTarget>,
    /// The Host header: the authority, without the scheme's default port.
    pub(super) host: HeaderValue,
}

impl Destination {
    /// `scheme://authority`, for messages.
    pub(super) fn upstream(&self) -> String {
        let scheme = self.uri.scheme_str().unwrap_or("https");
        let authority = self.uri.authority().map_or("", Authority::as_str);
        format!("{scheme}://{authority}")
    }
}

/// How destinations are found: fixed (`--upstream`), or from each request's Host.
#[derive(Debug)]
pub(super) struct Routes {
    /// With `--upstream`: the fixed parts, or the refusal every request gets.
    fixed: Option<Result<FixedUpstream, String>>,
}

/// The parts of every destination that `--upstream` fixes.
#[derive(Debug)]
struct FixedUpstream {
    scheme: Scheme,
    authority: Authority,
    host: HeaderValue,
    target: Arc<SigningTarget>,
}

impl Routes {
    /// The routes for `settings`; with an upstream, its destination parts are computed here.
    pub(super) fn new(settings: &ProxySettings) -> Self {
        let fixed = settings.upstream.as_ref().map(|upstream| {
            let scheme = Scheme::try_from(upstream.scheme.as_str())
                .map_err(|_| format!("invalid upstream scheme {}", upstream.scheme))?;
            let host = &upstream.authority.host;
            let target = signing_target(settings, host, derive(host))?;
            let (authority, host) = authority_and_host(&scheme, &upstream.authority)?;
            Ok(FixedUpstream {
                scheme,
                authority,
                host,
                target: Arc::new(target),
            })
        });
        Self { fixed }
    }

    /// Where `parts` goes and what it is signed for.
    pub(super) fn destination(
        &self,
        settings: &ProxySettings,
        parts: &http::request::Parts,
    ) -> Result<Destination, Refusal> {
        let bad = |reason: String| Refusal::new(400, reason);
        let path = path_and_query(&parts.uri)?;
        let (scheme, authority, host, target) = match &self.fixed {
            Some(Ok(fixed)) => (
                fixed.scheme.clone(),
                fixed.authority.clone(),
                fixed.host.clone(),
                fixed.target.clone(),
            ),
            Some(Err(reason)) => return Err(bad(reason.clone())),
            None => {
                let (named, derived) = named_endpoint(parts)?;
                let target = signing_target(settings, &named.host, Some(derived)).map_err(bad)?;
                let (authority, host) = authority_and_host(&Scheme::HTTPS, &named).map_err(bad)?;
                (Scheme::HTTPS, authority, host, Arc::new(target))
            }
        };
        let mut uri = http::uri::Parts::default();
        uri.scheme = Some(scheme);
        uri.authority = Some(authority);
        uri.path_and_query = Some(path);
        let uri = Uri::from_parts(uri).map_err(|_| bad("invalid upstream URI".into()))?;
        Ok(Destination { uri, target, host })
    }
}

/// The request's path and query, which must be a path (origin form); `/` when it has none.
fn path_and_query(uri: &Uri) -> Result<PathAndQuery, Refusal> {
    match uri.path_and_query() {
        None => Ok(PathAndQuery::from_static("/")),
        Some(path) if path.as_str().starts_with('/') => Ok(path.clone()),
        Some(_) => Err(Refusal::new(
            400,
            "the request path would change the upstream host".into(),
        )),
    }
}

/// Without `--upstream`: the AWS endpoint the request's Host (or absolute URI) names, and what
/// its name says it is. It must be one that derivation recognises even when `--service` and
/// `--signing-region` are given (otherwise any Host would be signed for and sent to).
fn named_endpoint(
    parts: &http::request::Parts,
) -> Result<(host::Authority, SigningTarget), Refusal> {
    let bad = |reason: &str| Refusal::new(400, reason.into());
    let value = parts
        .headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or(parts.uri.authority().map(|a| a.as_str()))
        .ok_or_else(|| bad("no Host header: without --upstream the Host names the AWS endpoint"))?;
    let authority = host::Authority::parse(value)
        .ok_or_else(|| bad("the Host header is not a host name with an optional port"))?;
    match derive(&authority.host) {
        Some(derived) => Ok((authority, derived)),
        None => Err(Refusal::new(400, format!(
            "{} is not an AWS endpoint; without --upstream the Host must name one (for example sqs.us-east-1.amazonaws.com)",
            authority.host
        ))),
    }
}

/// What a request to `host` is signed for: `--service` and `--signing-region`, each falling
/// back to what the host name says (`derived`).
fn signing_target(
    settings: &ProxySettings,
    host: &str,
    derived: Option<SigningTarget>,
) -> Result<SigningTarget, String> {
    match (&settings.service, &settings.region, derived) {
        (Some(service), Some(region), _) => Ok(SigningTarget {
            service: service.clone(),
            region: region.clone(),
        }),
        (service, region, Some(derived)) => Ok(SigningTarget {
            service: service.clone().unwrap_or(derived.service),
            region: region.clone().unwrap_or(derived.region),
        }),
        _ => Err(format!(
            "cannot tell which AWS service and region {host} is; pass --service and --signing-region"
        )),
    }
}

/// The URI authority, and the Host header: the authority without the scheme's default port.
fn authority_and_host(
    scheme: &Scheme,
    authority: &host::Authority,
) -> Result<(Authority, HeaderValue), String> {
    let invalid = || "invalid upstream host".to_owned();
    let full = authority.to_string();
    let uri_authority = Authority::try_from(full.as_str()).map_err(|_| invalid())?;
    let default_port = matches!(
        (authority.port, scheme.as_str()),
        (Some(443), "https") | (Some(80), "http")
    );
    // With a port, `full` ends in `:<port>` (an IPv6 address is in brackets before it).
    let host = match (default_port, full.rsplit_once(':')) {
        (true, Some((without_port, _))) => HeaderValue::from_str(without_port),
        _ => HeaderValue::from_str(&full),
    };
    Ok((uri_authority, host.map_err(|_| invalid())?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::Upstream;

    fn parts(uri: &str, host: Option<&str>) -> http::request::Parts {
        let mut request = http::Request::builder().uri(uri);
        if let Some(host) = host {
            request = request.header(HOST, host);
        }
        request.body(()).expect("a request").into_parts().0
    }

    fn with_upstream(scheme: &str, host: &str, port: Option<u16>) -> ProxySettings {
        ProxySettings {
            upstream: Some(Upstream {
                scheme: scheme.into(),
                authority: host::Authority {
                    host: host.into(),
                    port,
                },
            }),
            service: Some("s3".into()),
            region: Some("us-east-1".into()),
            ..ProxySettings::default()
        }
    }

    #[test]
    fn an_upstream_fixes_the_authority_whatever_the_request_names() {
        let settings = with_upstream("http", "127.0.0.1", Some(9000));
        let routes = Routes::new(&settings);
        for (uri, host) in [
            ("/bucket/key?x=1", "localhost:8080"),
            ("http://evil.example/bucket/key?x=1", "evil.example"),
            ("//evil.example/bucket/key?x=1", "localhost"),
        ] {
            let destination = routes
                .destination(&settings, &parts(uri, Some(host)))
                .unwrap_or_else(|r| panic!("{uri}: {}", r.message));
            assert_eq!(
                destination.uri.authority().map(|a| a.as_str()),
                Some("127.0.0.1:9000")
            );
            assert_eq!(destination.host, "127.0.0.1:9000");
            assert_eq!(destination.target.service, "s3");
            assert_eq!(destination.upstream(), "http://127.0.0.1:9000");
        }
    }

    #[test]
    fn the_default_port_is_left_out_of_the_host_header() {
        let settings = with_upstream("https", "s3.example", Some(443));
        let destination = Routes::new(&settings)
            .destination(&settings, &parts("/k", None))
            .unwrap_or_else(|r| panic!("{}", r.message));
        assert_eq!(destination.host, "s3.example");
        assert_eq!(destination.uri.to_string(), "https://s3.example:443/k");
        let settings = with_upstream("http", "::1", Some(80));
        let destination = Routes::new(&settings)
            .destination(&settings, &parts("/k", None))
            .unwrap_or_else(|r| panic!("{}", r.message));
        assert_eq!(destination.host, "[::1]");
    }

    #[test]
    fn an_asterisk_target_is_refused() {
        let settings = with_upstream("http", "127.0.0.1", Some(9000));
        let refused = Routes::new(&settings).destination(&settings, &parts("*", None));
        assert!(refused.is_err_and(|r| r.message.contains("would change the upstream host")));
    }

    #[test]
    fn without_an_upstream_the_host_must_be_an_aws_endpoint() {
        let settings = ProxySettings {
            service: Some("s3".into()),
            region: Some("us-east-1".into()),
            ..ProxySettings::default()
        };
        let routes = Routes::new(&settings);
        let refused = routes.destination(&settings, &parts("/", Some("evil.example")));
        assert!(refused.is_err_and(|r| r.message.contains("is not an AWS endpoint")));
        let destination = routes
            .destination(&settings, &parts("/q", Some("sqs.eu-west-1.amazonaws.com")))
            .unwrap_or_else(|r| panic!("{}", r.message));
        assert_eq!(
            destination.uri.to_string(),
            "https://sqs.eu-west-1.amazonaws.com/q"
        );
        assert_eq!(destination.target.region, "us-east-1");
    }

    #[test]
    fn an_upstream_with_no_derivable_target_refuses_every_request() {
        let settings = ProxySettings {
            service: None,
            ..with_upstream("http", "127.0.0.1", Some(9000))
        };
        let refused = Routes::new(&settings).destination(&settings, &parts("/", None));
        assert!(refused.is_err_and(|r| r.message.contains("pass --service and --signing-region")));
    }
}
