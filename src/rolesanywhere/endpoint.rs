//! Which URL CreateSession goes to: an explicit override, or the regional endpoint in the
//! right partition, optionally FIPS and/or dual-stack.

use http::Uri;

use super::model::partition_of_region;

/// Endpoint variants the user can ask for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointVariant {
    /// `rolesanywhere-fips.<region>…`
    pub fips: bool,
    /// IPv4+IPv6 (`.api.aws`) endpoint.
    pub dual_stack: bool,
}

/// Why no endpoint could be determined.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndpointError {
    /// The override is not a usable URL.
    #[error("endpoint '{value}' is not a valid URL ({reason}); use e.g. https://rolesanywhere.us-east-1.amazonaws.com")]
    InvalidUrl {
        /// The value given.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// Dual-stack asked for in a partition without it.
    #[error("region {0} has no dual-stack Roles Anywhere endpoint; drop --use-dualstack-endpoint or pass --endpoint")]
    NoDualStack(String),
    /// A region whose partition is unknown.
    #[error("no Roles Anywhere endpoint is known for region '{0}'; pass --endpoint")]
    UnknownRegion(String),
}

/// The DNS suffix of a partition, for the plain and the dual-stack form.
fn dns_suffixes(partition: &str) -> (&'static str, Option<&'static str>) {
    match partition {
        "aws-cn" => ("amazonaws.com.cn", Some("api.amazonwebservices.com.cn")),
        "aws-us-gov" => ("amazonaws.com", Some("api.aws")),
        "aws-iso" => ("c2s.ic.gov", None),
        "aws-iso-b" => ("sc2s.sgov.gov", None),
        "aws-iso-e" => ("cloud.adc-e.uk", None),
        "aws-iso-f" => ("csp.hci.ic.gov", None),
        "aws-eusc" => ("amazonaws.eu", None),
        _ => ("amazonaws.com", Some("api.aws")),
    }
}

/// Resolves the endpoint URL. `explicit` (flag, then `AWS_ENDPOINT_URL_ROLESANYWHERE`) wins;
/// a value without a scheme gets `https://`.
pub fn resolve(
    explicit: Option<&str>,
    region: &str,
    variant: EndpointVariant,
) -> Result<Uri, EndpointError> {
    if let Some(value) = explicit.map(str::trim).filter(|v| !v.is_empty()) {
        let with_scheme = if value.contains("://") {
            value.to_owned()
        } else {
            format!("https://{value}")
        };
        let invalid = |reason: String| EndpointError::InvalidUrl {
            value: value.to_owned(),
            reason,
        };
        let uri: Uri = with_scheme
            .parse()
            .map_err(|e: http::uri::InvalidUri| invalid(e.to_string()))?;
        match uri.scheme_str() {
            Some("https" | "http") => {}
            _ => return Err(invalid("the scheme must be https or http".into())),
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(invalid("it has no host".into()));
        }
        return Ok(uri);
    }
    let partition = partition_of_region(region)
        .ok_or_else(|| EndpointError::UnknownRegion(region.to_owned()))?;
    let (plain, dual) = dns_suffixes(partition);
    let suffix = if variant.dual_stack {
        dual.ok_or_else(|| EndpointError::NoDualStack(region.to_owned()))?
    } else {
        plain
    };
    let service = if variant.fips {
        "rolesanywhere-fips"
    } else {
        "rolesanywhere"
    };
    format!("https://{service}.{region}.{suffix}")
        .parse()
        .map_err(|e: http::uri::InvalidUri| EndpointError::InvalidUrl {
            value: region.to_owned(),
            reason: e.to_string(),
        })
}

/// The Host header value for a URI: host, plus the port when it is not the scheme's default.
pub fn host_header(uri: &Uri) -> String {
    let host = uri.host().unwrap_or_default();
    match (uri.port_u16(), uri.scheme_str()) {
        (Some(443), Some("https")) | (Some(80), Some("http")) | (None, _) => host.to_owned(),
        (Some(port), _) => format!("{host}:{port}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(region: &str, fips: bool, dual_stack: bool) -> String {
        resolve(None, region, EndpointVariant { fips, dual_stack })
            .unwrap()
            .to_string()
    }

    #[test]
    fn regional_endpoints_follow_the_partition() {
        assert_eq!(
            url("us-east-1", false, false),
            "https://rolesanywhere.us-east-1.amazonaws.com/"
        );
        assert_eq!(
            url("cn-north-1", false, false),
            "https://rolesanywhere.cn-north-1.amazonaws.com.cn/"
        );
        assert_eq!(
            url("us-gov-west-1", true, false),
            "https://rolesanywhere-fips.us-gov-west-1.amazonaws.com/"
        );
        assert_eq!(
            url("eu-west-1", false, true),
            "https://rolesanywhere.eu-west-1.api.aws/"
        );
        assert_eq!(
            url("us-east-2", true, true),
            "https://rolesanywhere-fips.us-east-2.api.aws/"
        );
    }

    #[test]
    fn dual_stack_in_an_iso_partition_is_an_error() {
        let err = resolve(
            None,
            "us-iso-east-1",
            EndpointVariant {
                fips: false,
                dual_stack: true,
            },
        );
        assert!(matches!(err, Err(EndpointError::NoDualStack(_))));
    }

    #[test]
    fn explicit_endpoints_win_and_get_a_scheme() {
        let uri = resolve(
            Some("localhost:8443"),
            "us-east-1",
            EndpointVariant::default(),
        )
        .unwrap();
        assert_eq!(uri.to_string(), "https://localhost:8443/");
        assert_eq!(host_header(&uri), "localhost:8443");
        let uri = resolve(
            Some("http://127.0.0.1:80"),
            "us-east-1",
            EndpointVariant::default(),
        )
        .unwrap();
        assert_eq!(host_header(&uri), "127.0.0.1");
        assert!(resolve(Some("ftp://x"), "us-east-1", EndpointVariant::default()).is_err());
        assert!(resolve(Some("https://"), "us-east-1", EndpointVariant::default()).is_err());
    }
}
