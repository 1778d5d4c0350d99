//! The canonical request of SigV4, written in one buffer by the published rules, with S3's
//! exceptions: single percent-encoding, no path normalisation.

use std::borrow::Cow;

use super::{RequestToSign, UNSIGNED_HEADERS};
use crate::proxy::route::SigningTarget;
use crate::rolesanywhere::canonical::{canonical_query, canonical_uri};

/// The canonical request, and where in it the signed-headers list is. `added` are the signing
/// headers, which replace any of the same name.
pub(super) fn canonical_request(
    request: &RequestToSign<'_>,
    target: &SigningTarget,
    added: &[(&str, &str)],
    payload_hash: &str,
) -> (String, std::ops::Range<usize>) {
    let mut headers: Vec<(&str, &str)> = request
        .headers
        .iter()
        .filter(|(name, _)| {
            let name = name.as_str();
            !UNSIGNED_HEADERS.contains(&name) && !added.iter().any(|(a, _)| *a == name)
        })
        .filter_map(|(name, value)| value.to_str().ok().map(|v| (name.as_str(), v)))
        .chain(added.iter().copied())
        .collect();
    // Stable: repeated names keep their order, and their values are joined in it.
    headers.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::with_capacity(
        256 + headers
            .iter()
            .map(|(n, v)| n.len() + v.len() + 2)
            .sum::<usize>(),
    );
    out.push_str(request.method);
    out.push('\n');
    if target.is_s3() {
        out.push_str(if request.path.is_empty() {
            "/"
        } else {
            request.path
        });
    } else {
        out.push_str(&canonical_uri(&normalize_path(request.path)));
    }
    out.push('\n');
    if let Some(query) = request.query.filter(|q| !q.is_empty()) {
        let pairs: Vec<_> = form_urlencoded::parse(query.as_bytes()).collect();
        out.push_str(&canonical_query(&pairs));
    }
    out.push('\n');
    let mut previous: Option<&str> = None;
    for (name, value) in &headers {
        if previous == Some(*name) {
            out.push(',');
        } else {
            if previous.is_some() {
                out.push('\n');
            }
            out.push_str(name);
            out.push(':');
            previous = Some(name);
        }
        push_folded(&mut out, value);
    }
    out.push_str("\n\n");
    let signed_start = out.len();
    let mut previous: Option<&str> = None;
    for (name, _) in &headers {
        if previous != Some(*name) {
            if previous.is_some() {
                out.push(';');
            }
            out.push_str(name);
            previous = Some(name);
        }
    }
    let signed = signed_start..out.len();
    out.push('\n');
    out.push_str(payload_hash);
    (out, signed)
}

/// Appends a header value trimmed of spaces, with each inner run of spaces folded to one (only
/// spaces: S3 keeps other whitespace).
fn push_folded(out: &mut String, value: &str) {
    let mut words = value.split(' ').filter(|word| !word.is_empty());
    if let Some(first) = words.next() {
        out.push_str(first);
    }
    for word in words {
        out.push(' ');
        out.push_str(word);
    }
}

/// The path with dot segments and empty segments removed (RFC 3986 section 5.2.4, as SigV4
/// normalises it for every service but S3); a trailing slash stays.
fn normalize_path(path: &str) -> Cow<'_, str> {
    if path.is_empty() {
        return Cow::Borrowed("/");
    }
    if path.starts_with('/') && !path.contains('.') && !path.contains("//") {
        return Cow::Borrowed(path);
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            kept => segments.push(kept),
        }
    }
    let mut normalized = String::with_capacity(path.len() + 1);
    for segment in &segments {
        normalized.push('/');
        normalized.push_str(segment);
    }
    let ends_in_directory = ["/", "/.", "/./", "/..", "/../"]
        .iter()
        .any(|end| path.ends_with(end))
        || matches!(path, "." | "..");
    if normalized.is_empty() || (ends_in_directory && !normalized.ends_with('/')) {
        normalized.push('/');
    }
    Cow::Owned(normalized)
}
