//! The signer against an independent one: aws-sigv4 signs the same requests, and every header
//! must come out the same.

use std::time::{Duration, UNIX_EPOCH};

use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4::SigningParams;
use proptest::prelude::*;

use super::*;
use crate::secret::SecretString;

/// 2027-01-01T12:34:56Z.
const AT: i64 = 1_798_806_896;

fn credentials(token: &str) -> Credentials {
    Credentials::new(
        "ASIAEXAMPLE".into(),
        SecretString::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into()),
        SecretString::new(token.into()),
        OffsetDateTime::from_unix_timestamp(AT + 3600).expect("valid time"),
    )
}

/// aws-sigv4's headers for the same request, with the settings the proxy used it with.
fn reference(
    request: &RequestToSign<'_>,
    uri: &str,
    credentials: &Credentials,
    target: &SigningTarget,
) -> Vec<(String, String)> {
    let mut settings = SigningSettings::default();
    if target.is_s3() {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    }
    let body = match request.payload {
        Payload::Bytes(bytes) => SignableBody::Bytes(bytes),
        Payload::Unsigned => SignableBody::UnsignedPayload,
        Payload::Chunked => SignableBody::Precomputed(STREAMING_PAYLOAD.to_owned()),
    };
    let token = credentials.session_token().expose_secret();
    let identity = aws_credential_types::Credentials::new(
        credentials.access_key_id(),
        credentials.secret_access_key().expose_secret(),
        (!token.is_empty()).then(|| token.to_owned()),
        None,
        "test",
    )
    .into();
    let params = SigningParams::builder()
        .identity(&identity)
        .region(&target.region)
        .name(&target.service)
        .time(UNIX_EPOCH + Duration::from_secs(AT.unsigned_abs()))
        .settings(settings)
        .build()
        .expect("complete parameters");
    let headers = request
        .headers
        .iter()
        .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str(), v)));
    let signable =
        SignableRequest::new(request.method, uri, headers, body).expect("a signable request");
    let (instructions, _) = aws_sigv4::http_request::sign(signable, &params.into())
        .expect("aws-sigv4 signs")
        .into_parts();
    instructions
        .headers()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
}

fn ours(
    request: &RequestToSign<'_>,
    credentials: &Credentials,
    target: &SigningTarget,
    keys: &SigningKeys,
) -> Vec<(String, String)> {
    let at = OffsetDateTime::from_unix_timestamp(AT).expect("valid time");
    sign_request(request, credentials, target, at, keys)
        .expect("signs")
        .headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().expect("ASCII").to_owned()))
        .collect()
}

fn header_list(headers: &[(&str, &str)]) -> Vec<(HeaderName, HeaderValue)> {
    headers
        .iter()
        .map(|(n, v)| {
            (
                HeaderName::from_bytes(n.as_bytes()).expect("a header name"),
                HeaderValue::from_str(v).expect("a header value"),
            )
        })
        .collect()
}

/// Signs `uri` both ways and compares.
fn check(
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    payload: Payload<'_>,
    s3: bool,
    token: &str,
) {
    let parsed: http::Uri = uri.parse().expect("a URI");
    let mut headers = header_list(headers);
    let host = parsed.authority().expect("an authority").as_str();
    headers.push((
        http::header::HOST,
        HeaderValue::from_str(host).expect("host"),
    ));
    let request = RequestToSign {
        method,
        path: parsed.path(),
        query: parsed.query(),
        headers: &headers,
        payload,
    };
    let target = SigningTarget {
        service: if s3 { "s3" } else { "sqs" }.into(),
        region: "eu-west-1".into(),
    };
    let credentials = credentials(token);
    let keys = SigningKeys::default();
    let expected = reference(&request, uri, &credentials, &target);
    assert_eq!(
        ours(&request, &credentials, &target, &keys),
        expected,
        "{uri}"
    );
    // A second signing takes the kept key and must not differ.
    assert_eq!(
        ours(&request, &credentials, &target, &keys),
        expected,
        "{uri}, kept key"
    );
}

#[test]
fn plain_requests_match_aws_sigv4() {
    let headers = [
        ("user-agent", "curl/8"),
        ("accept", "*/*"),
        ("x-amz-meta-a", "  two  words "),
    ];
    for s3 in [true, false] {
        for token in ["", "session-token"] {
            check(
                "GET",
                "https://h.example.com/key",
                &headers,
                Payload::Unsigned,
                s3,
                token,
            );
            check(
                "PUT",
                "https://h.example.com/a/b?x=1&a=2",
                &headers,
                Payload::Bytes(b"body"),
                s3,
                token,
            );
            check(
                "PUT",
                "https://h.example.com/",
                &headers,
                Payload::Chunked,
                s3,
                token,
            );
        }
    }
}

#[test]
fn paths_queries_and_repeated_headers_match_aws_sigv4() {
    let repeated = [
        ("x-r", "1"),
        ("accept", "a"),
        ("x-r", "2 "),
        ("x-amzn-trace-id", "t"),
    ];
    for uri in [
        "https://h.example.com/a/./b/../c//d/",
        "https://h.example.com/%7Euser/file%20name.txt",
        "https://h.example.com/..",
        "https://h.example.com/a/.",
        "https://h.example.com/x?list-type=2&prefix=a%2Fb&acl",
        "https://h.example.com/x?b=2&a=3&a=1&c=a+b&d=%2B",
        "https://h.example.com:8443/x?&&",
    ] {
        for s3 in [true, false] {
            check("GET", uri, &repeated, Payload::Unsigned, s3, "t");
        }
    }
}

#[test]
fn the_kept_key_is_the_derived_one_and_follows_its_inputs() {
    let keys = SigningKeys::default();
    let target = SigningTarget {
        service: "s3".into(),
        region: "us-east-1".into(),
    };
    let first = credentials("");
    let derived = aws_sigv4::sign::v4::generate_signing_key(
        first.secret_access_key().expose_secret(),
        UNIX_EPOCH + Duration::from_secs(AT.unsigned_abs()),
        "us-east-1",
        "s3",
    );
    assert_eq!(
        keys.key(&first, "20270101", &target).as_ref(),
        derived.as_ref()
    );
    let other_secret = Credentials::new(
        "ASIAEXAMPLE".into(),
        SecretString::new("another secret".into()),
        SecretString::new(String::new()),
        first.expiration(),
    );
    let other_region = SigningTarget {
        region: "eu-west-1".into(),
        ..target.clone()
    };
    let kept = keys.key(&first, "20270101", &target);
    assert_ne!(keys.key(&other_secret, "20270101", &target), kept);
    assert_ne!(keys.key(&first, "20270102", &target), kept);
    assert_ne!(keys.key(&first, "20270101", &other_region), kept);
    assert_eq!(keys.key(&first, "20270101", &target), kept);
    assert!(!format!("{keys:?}").contains(&hex::encode(kept.as_ref())));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn random_requests_match_aws_sigv4(
        segments in prop::collection::vec("(\\.|\\.\\.|[a-zA-Z0-9._~%!$&'()*+,;=:@-]{0,6})", 0..6),
        trailing_slash in any::<bool>(),
        query in prop::option::of(prop::collection::vec("[a-zA-Z0-9%+=._~/-]{0,6}", 0..5)),
        headers in prop::collection::vec(
            (prop::sample::select(vec!["x-amz-meta-a", "x-b", "content-type", "user-agent", "range", "x-amz-date"]),
             "[ -~\\t]{0,10}"),
            0..5,
        ),
        s3 in any::<bool>(),
        token in prop::sample::select(vec!["", "tok"]),
        body in prop::option::of(prop::collection::vec(any::<u8>(), 0..64)),
    ) {
        let mut uri = format!("https://h.example.com/{}", segments.join("/"));
        if trailing_slash {
            uri.push('/');
        }
        if let Some(query) = &query {
            uri.push('?');
            uri.push_str(&query.join("&"));
        }
        prop_assume!(uri.parse::<http::Uri>().is_ok());
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .filter(|(_, v)| HeaderValue::from_str(v).is_ok())
            .map(|(n, v)| (*n, v.as_str()))
            .collect();
        let payload = body.as_deref().map_or(Payload::Unsigned, Payload::Bytes);
        check("POST", &uri, &headers, payload, s3, token);
    }
}
