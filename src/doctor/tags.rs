//! `tessera doctor tags`: the principal tags Roles Anywhere derives from a certificate under
//! an attribute mapping (the service's defaults, or an anchor profile's), the source identity,
//! the pitfalls of the mapping, and a trust-policy condition that pins the person. It computes
//! them with the anchor's own mapping code, so what it prints is what the anchor sets.

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::anchor::config::AttributeMapping;
use crate::anchor::tags::{invalid_tags, session_tags, source_identity, Tag};

/// Why no report could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TagsError {
    /// Not a certificate.
    #[error("{0} is not an X.509 certificate (PEM or DER)")]
    NotACertificate(String),
    /// The subject is empty: no subject tags, and a serial as the source identity.
    #[error("{0} has an empty subject: Roles Anywhere maps no x509Subject tags and the source identity becomes the serial number; issue it with a CN that names the person or workload")]
    NoSubject(String),
}

/// What Roles Anywhere makes of one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagReport {
    /// The principal tags, in mapping order.
    pub tags: Vec<Tag>,
    /// The session's source identity.
    pub source_identity: String,
    /// Pitfalls: SANs that are not mapped, tags STS would refuse.
    pub warnings: Vec<String>,
    /// A trust-policy `Condition` pinning the identifying tags.
    pub condition: serde_json::Value,
}

/// The report for the DER certificate `der` (named `name` in messages).
pub fn tag_report(
    name: &str,
    der: &[u8],
    mappings: &[AttributeMapping],
) -> Result<TagReport, TagsError> {
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|_| TagsError::NotACertificate(name.to_owned()))?;
    if cert.subject().iter_rdn().next().is_none() {
        return Err(TagsError::NoSubject(name.to_owned()));
    }
    let tags = session_tags(der, mappings);
    let common_name = cert
        .subject()
        .iter_common_name()
        .find_map(|a| a.as_str().ok());
    let serial = hex::encode(cert.raw_serial());
    let mut warnings = san_warnings(&cert);
    for bad in invalid_tags(&tags) {
        warnings.push(format!("CreateSession will fail: STS refuses the tag {bad} (values may hold letters, digits, spaces and _.:/=+-@, at most 256)"));
    }
    Ok(TagReport {
        condition: condition(&tags),
        source_identity: source_identity(common_name, &serial),
        tags,
        warnings,
    })
}

/// SANs the mapping does not carry: every DNS and URI SAN after the first, and email SANs.
fn san_warnings(cert: &X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    let (mut dns, mut uris, mut emails) = (Vec::new(), Vec::new(), Vec::new());
    for name in &san.value.general_names {
        match name {
            GeneralName::DNSName(v) => dns.push(*v),
            GeneralName::URI(v) => uris.push(*v),
            GeneralName::RFC822Name(v) => emails.push(*v),
            _ => {}
        }
    }
    let mut warnings = Vec::new();
    for (kind, values) in [("DNS", &dns), ("URI", &uris)] {
        if values.len() > 1 {
            warnings.push(format!(
                "only the first {kind} SAN ({}) becomes x509SAN/{kind}; {} ignored",
                values[0],
                values[1..].join(", ")
            ));
        }
    }
    if !emails.is_empty() {
        warnings.push(format!(
            "email SANs are not mapped ({}); put the email in the subject CN to see it in tags and CloudTrail",
            emails.join(", ")
        ));
    }
    warnings
}

/// `StringEquals` on the tags that identify the subject: the CN and the first URI SAN when
/// there are any, else every subject tag.
fn condition(tags: &[Tag]) -> serde_json::Value {
    let identifying: Vec<&Tag> = tags
        .iter()
        .filter(|(k, _)| k == "x509Subject/CN" || k == "x509SAN/URI")
        .collect();
    let chosen: Vec<&Tag> = if identifying.is_empty() {
        tags.iter()
            .filter(|(k, _)| k.starts_with("x509Subject/"))
            .collect()
    } else {
        identifying
    };
    let equals: serde_json::Map<String, serde_json::Value> = chosen
        .into_iter()
        .map(|(k, v)| {
            (
                format!("aws:PrincipalTag/{k}"),
                serde_json::Value::String(v.clone()),
            )
        })
        .collect();
    serde_json::json!({"Condition": {"StringEquals": equals}})
}
