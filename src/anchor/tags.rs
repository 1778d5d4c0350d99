//! Certificate attributes → session tags, as Roles Anywhere maps them (attribute mappings),
//! plus the STS tag rules they must satisfy, the source identity, and trust-policy conditions
//! with their glob matcher (shared by CreateSession and AssumeRole).

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};

use super::config::{AttributeMapping, Condition, ConditionTest};

/// STS: at most this many session tags.
const MAX_TAGS: usize = 50;

/// A session tag.
pub type Tag = (String, String);

/// RDN values of a name as (short name, value) in certificate order.
fn rdns(name: &X509Name<'_>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for rdn in name.iter_rdn() {
        for attr in rdn.iter() {
            let oid = attr.attr_type();
            let short = x509_parser::objects::oid2abbrev(oid, x509_parser::objects::oid_registry())
                .map(str::to_owned)
                .unwrap_or_else(|_| oid.to_id_string());
            if let Ok(value) = attr.as_str() {
                out.push((short, value.to_owned()));
            }
        }
    }
    out
}

/// Joins repeated RDNs with '/' in certificate order, then keeps those `specifier` selects.
fn name_tags(prefix: &str, rdns: &[(String, String)], specifier: &str, out: &mut Vec<Tag>) {
    let mut keys: Vec<&str> = Vec::new();
    for (k, _) in rdns {
        if !keys.contains(&k.as_str()) {
            keys.push(k);
        }
    }
    for key in keys {
        if specifier == "*" || specifier == key {
            let joined = rdns
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
                .join("/");
            push_unique(out, format!("{prefix}/{key}"), joined);
        }
    }
}

fn push_unique(out: &mut Vec<Tag>, key: String, value: String) {
    if !out.iter().any(|(k, _)| *k == key) {
        out.push((key, value));
    }
}

/// The session tags for a leaf certificate under `mappings`.
pub fn session_tags(leaf_der: &[u8], mappings: &[AttributeMapping]) -> Vec<Tag> {
    let Ok((_, cert)) = X509Certificate::from_der(leaf_der) else {
        return Vec::new();
    };
    let subject = rdns(cert.subject());
    let issuer = rdns(cert.issuer());
    let (mut dns, mut uri, mut dir) = (None, None, None);
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(v) if dns.is_none() => dns = Some((*v).to_owned()),
                GeneralName::URI(v) if uri.is_none() => uri = Some((*v).to_owned()),
                GeneralName::DirectoryName(n) if dir.is_none() => dir = Some(rdns(n)),
                _ => {}
            }
        }
    }
    let mut tags = Vec::new();
    for mapping in mappings {
        for rule in &mapping.mapping_rules {
            let spec = rule.specifier.as_str();
            match mapping.certificate_field.as_str() {
                "x509Subject" => name_tags("x509Subject", &subject, spec, &mut tags),
                "x509Issuer" => name_tags("x509Issuer", &issuer, spec, &mut tags),
                "x509SAN" => match spec {
                    "DNS" => {
                        if let Some(v) = &dns {
                            push_unique(&mut tags, "x509SAN/DNS".into(), v.clone());
                        }
                    }
                    "URI" => {
                        if let Some(v) = &uri {
                            push_unique(&mut tags, "x509SAN/URI".into(), v.clone());
                        }
                    }
                    _ => {
                        if let (Some(rest), Some(rdns)) = (spec.strip_prefix("Name"), &dir) {
                            let inner = rest.trim_start_matches('/');
                            let inner = if inner.is_empty() { "*" } else { inner };
                            name_tags("x509SAN/Name", rdns, inner, &mut tags);
                        }
                    }
                },
                _ => {}
            }
        }
    }
    tags
}

/// Checks tags against STS's limits; returns the offending tags' descriptions.
pub fn invalid_tags(tags: &[Tag]) -> Vec<String> {
    let allowed = |c: char| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c);
    let mut bad: Vec<String> = tags
        .iter()
        .filter(|(k, v)| {
            k.is_empty()
                || k.chars().count() > 128
                || v.chars().count() > 256
                || !k.chars().all(allowed)
                || !v.chars().all(allowed)
        })
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if tags.len() > MAX_TAGS {
        bad.push(format!("{} tags (at most {MAX_TAGS})", tags.len()));
    }
    bad
}

/// The source identity: `CN=<cn>` (CN ≤ 61 chars), the bare CN (62–64), or `ID=<hex serial>`.
pub fn source_identity(common_name: Option<&str>, serial_hex: &str) -> String {
    match common_name {
        Some(cn) if cn.chars().count() <= 61 => format!("CN={cn}"),
        Some(cn) if cn.chars().count() <= 64 => cn.to_owned(),
        _ => format!("ID={serial_hex}"),
    }
}

/// Whether a trust-policy condition holds; `value_of` gives the request's value for a key
/// (`None`: the key is absent, which only the negated operator accepts).
pub fn condition_holds<'a>(
    condition: &Condition,
    value_of: impl Fn(&str) -> Option<&'a str>,
) -> bool {
    match (condition.test, value_of(&condition.key)) {
        (ConditionTest::StringNotEquals, None) => true,
        (_, None) => false,
        (ConditionTest::StringEquals | ConditionTest::ArnEquals, Some(v)) => {
            condition.values.iter().any(|c| c == v)
        }
        (ConditionTest::StringNotEquals, Some(v)) => !condition.values.iter().any(|c| c == v),
        (ConditionTest::StringLike | ConditionTest::ArnLike, Some(v)) => {
            condition.values.iter().any(|c| glob_match(c, v))
        }
    }
}

/// IAM-style glob: `*` any run, `?` one character.
pub fn glob_match(pattern: &str, value: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    let (mut pi, mut vi, mut star, mut mark) = (0, 0, None, 0);
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = vi;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            vi = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_identity_follows_the_service_rules() {
        assert_eq!(source_identity(Some("demo"), "0123"), "CN=demo");
        assert_eq!(source_identity(Some(&"a".repeat(62)), "01"), "a".repeat(62));
        assert_eq!(source_identity(Some(&"a".repeat(65)), "01"), "ID=01");
        assert_eq!(source_identity(None, "0123"), "ID=0123");
    }

    #[test]
    fn globs_match_like_iam() {
        assert!(glob_match("spiffe://example/*", "spiffe://example/a/b"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("abc", "abcd"));
    }

    #[test]
    fn bad_tag_values_are_reported() {
        assert!(invalid_tags(&[("x509Subject/CN".into(), "ok value-1".into())]).is_empty());
        assert_eq!(
            invalid_tags(&[("x509Subject/CN".into(), "bad (value)".into())]).len(),
            1
        );
    }
}
