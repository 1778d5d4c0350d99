//! RFC 7512 `pkcs11:` URIs: which token and object a key or certificate is, and how to log in.
//!
//! `pkcs11:token=My%20Token;object=workload;id=%01?pin-source=file:/run/pin&module-path=/usr/lib/p.so`

use std::fmt;
use std::path::PathBuf;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::key_ref::KeyRefError;
use crate::secret::SecretString;

/// The environment variable the CLI reads a token PIN from, for URIs without one (named here
/// so that messages can say it).
pub const PIN_ENV: &str = "TESSERA_PKCS11_PIN";

/// Characters left unescaped when an attribute value is printed (RFC 7512 `pchar` subset).
const PRINTABLE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'&')
    .remove(b'+')
    .remove(b':')
    .remove(b'@');

/// A parsed `pkcs11:` URI. Path attributes select; query attributes say how to use them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// `token=`: the token label.
    pub token: Option<String>,
    /// `manufacturer=`: the token manufacturer.
    pub manufacturer: Option<String>,
    /// `model=`: the token model.
    pub model: Option<String>,
    /// `serial=`: the token serial number.
    pub serial: Option<String>,
    /// `slot-id=`: the slot number.
    pub slot_id: Option<u64>,
    /// `object=`: the object label (CKA_LABEL).
    pub object: Option<String>,
    /// `id=`: the object id (CKA_ID), raw bytes.
    pub id: Option<Vec<u8>>,
    /// `type=`: private, cert, public, … (informational; tessera picks by role).
    pub object_type: Option<String>,
    /// `pin-value=`: the PIN itself (discouraged: it ends up in config files and `ps`).
    pub pin_value: Option<SecretString>,
    /// `pin-source=`: a file holding the PIN (`file:` URI or a path).
    pub pin_source: Option<PathBuf>,
    /// `module-path=`: the PKCS#11 module to load.
    pub module_path: Option<PathBuf>,
}

/// A refusal of `uri`, PIN removed from the message.
fn bad(uri: &str, reason: String) -> KeyRefError {
    KeyRefError::Pkcs11 {
        uri: Pkcs11Uri::redacted(uri),
        reason,
    }
}

fn decode(uri: &str, attribute: &str, value: &str) -> Result<Vec<u8>, KeyRefError> {
    if value.bytes().any(|b| b == b'%') {
        let malformed = value.match_indices('%').any(|(i, _)| {
            !value
                .get(i + 1..i + 3)
                .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
        });
        if malformed {
            return Err(bad(uri, format!("{attribute}= has a malformed %-escape")));
        }
    }
    Ok(percent_decode_str(value).collect())
}

fn text(uri: &str, attribute: &str, value: &str) -> Result<String, KeyRefError> {
    String::from_utf8(decode(uri, attribute, value)?)
        .map_err(|_| bad(uri, format!("{attribute}= is not UTF-8")))
}

impl Pkcs11Uri {
    /// The URI without anything that may be a PIN: the query, and path attributes that are
    /// not `name=value` or name a PIN. For error messages.
    pub fn redacted(uri: &str) -> String {
        let path = uri.split('?').next().unwrap_or(uri);
        let body = path.strip_prefix("pkcs11:").unwrap_or(path);
        let kept: Vec<&str> = body
            .split(';')
            .filter(|a| {
                a.split_once('=')
                    .is_some_and(|(name, _)| !name.starts_with("pin"))
            })
            .collect();
        format!("pkcs11:{}", kept.join(";"))
    }

    /// Parses a URI; the error names the attribute at fault (and never holds a PIN).
    pub fn parse(uri: &str) -> Result<Self, KeyRefError> {
        let rest = uri
            .strip_prefix("pkcs11:")
            .ok_or_else(|| bad(uri, "a PKCS#11 URI starts with 'pkcs11:'".to_owned()))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut parsed = Pkcs11Uri::default();
        for attribute in path.split(';').filter(|a| !a.is_empty()) {
            let (name, value) = attribute
                .split_once('=')
                .ok_or_else(|| bad(uri, not_name_value(attribute)))?;
            parsed.set_path_attribute(uri, name, value)?;
        }
        for attribute in query.split('&').filter(|a| !a.is_empty()) {
            let (name, value) = attribute
                .split_once('=')
                .ok_or_else(|| bad(uri, not_name_value(attribute)))?;
            parsed.set_query_attribute(uri, name, value)?;
        }
        if parsed.pin_value.is_some() && parsed.pin_source.is_some() {
            return Err(bad(
                uri,
                "give pin-value or pin-source, not both".to_owned(),
            ));
        }
        Ok(parsed)
    }

    /// One `name=value` of the path part (what selects the token and object).
    fn set_path_attribute(
        &mut self,
        uri: &str,
        name: &str,
        value: &str,
    ) -> Result<(), KeyRefError> {
        let text = |value| text(uri, name, value);
        match name {
            // Security: the message must not echo the PIN.
            "pin-value" | "pin-source" => {
                return Err(bad(
                    uri,
                    format!("{name} belongs in the query part: pkcs11:…?{name}=…"),
                ))
            }
            "token" => self.token = Some(text(value)?),
            "manufacturer" => self.manufacturer = Some(text(value)?),
            "model" => self.model = Some(text(value)?),
            "serial" => self.serial = Some(text(value)?),
            "object" => self.object = Some(text(value)?),
            "id" => self.id = Some(decode(uri, name, value)?),
            "type" => self.object_type = Some(text(value)?),
            "slot-id" => {
                let number = text(value)?.parse();
                let number =
                    number.map_err(|_| bad(uri, format!("slot-id={value} is not a number")))?;
                self.slot_id = Some(number);
            }
            // Library and slot descriptions select nothing tessera needs; accepted, ignored.
            "library-manufacturer"
            | "library-description"
            | "library-version"
            | "slot-description"
            | "slot-manufacturer" => {}
            other => return Err(bad(uri, format!("unknown path attribute '{other}'"))),
        }
        Ok(())
    }

    /// One `name=value` of the query part (how to log in and which module to load).
    fn set_query_attribute(
        &mut self,
        uri: &str,
        name: &str,
        value: &str,
    ) -> Result<(), KeyRefError> {
        match name {
            "pin-value" => self.pin_value = Some(SecretString::new(text(uri, name, value)?)),
            "pin-source" => {
                let source = text(uri, name, value)?;
                let path = source
                    .strip_prefix("file://")
                    .or(source.strip_prefix("file:"))
                    .unwrap_or(&source);
                self.pin_source = Some(PathBuf::from(path));
            }
            "module-path" => self.module_path = Some(PathBuf::from(text(uri, name, value)?)),
            "module-name" => {}
            other => return Err(bad(uri, format!("unknown query attribute '{other}'"))),
        }
        Ok(())
    }

    /// What selects the object and how it is reached, for cache keys: the selecting
    /// attributes, the PIN file and the module; never a PIN value.
    pub fn identity_text(&self) -> String {
        format!(
            "{self}?pin-source={:?}&module-path={:?}",
            self.pin_source, self.module_path
        )
    }

    /// A URI naming one object on the token this URI selected (for listings).
    pub fn object_uri(
        &self,
        token: &str,
        serial: &str,
        label: &str,
        id: &[u8],
        kind: &str,
    ) -> String {
        let mut uri = format!(
            "pkcs11:token={};serial={}",
            utf8_percent_encode(token, PRINTABLE),
            utf8_percent_encode(serial, PRINTABLE)
        );
        if !label.is_empty() {
            uri.push_str(&format!(
                ";object={}",
                utf8_percent_encode(label, PRINTABLE)
            ));
        }
        if !id.is_empty() {
            uri.push_str(";id=");
            for byte in id {
                uri.push_str(&format!("%{byte:02X}"));
            }
        }
        uri.push_str(&format!(";type={kind}"));
        uri
    }
}

/// Prints the URI without its PIN value, for messages.
impl fmt::Display for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("pkcs11:")?;
        let mut parts = Vec::new();
        for (name, value) in [
            ("token", &self.token),
            ("manufacturer", &self.manufacturer),
            ("model", &self.model),
            ("serial", &self.serial),
            ("object", &self.object),
        ] {
            if let Some(value) = value {
                parts.push(format!("{name}={}", utf8_percent_encode(value, PRINTABLE)));
            }
        }
        if let Some(slot) = self.slot_id {
            parts.push(format!("slot-id={slot}"));
        }
        if let Some(id) = &self.id {
            parts.push(format!(
                "id={}",
                id.iter().map(|b| format!("%{b:02X}")).collect::<String>()
            ));
        }
        f.write_str(&parts.join(";"))
    }
}

/// The error for an attribute without `=`; echoes it only when it is a plain word (a bare
/// value, such as a misplaced PIN, is not repeated).
fn not_name_value(attribute: &str) -> String {
    if !attribute.is_empty()
        && attribute
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'-')
    {
        format!("'{attribute}' is not name=value")
    } else {
        "an attribute is not name=value".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_path_and_query_attributes() {
        let uri = Pkcs11Uri::parse(
            "pkcs11:token=My%20Token;object=workload;id=%01%a0;slot-id=3;type=private?pin-source=file:/run/pin&module-path=/usr/lib/softhsm/libsofthsm2.so",
        )
        .unwrap();
        assert_eq!(uri.token.as_deref(), Some("My Token"));
        assert_eq!(uri.object.as_deref(), Some("workload"));
        assert_eq!(uri.id.as_deref(), Some(&[0x01, 0xa0][..]));
        assert_eq!(uri.slot_id, Some(3));
        assert_eq!(uri.pin_source, Some(PathBuf::from("/run/pin")));
        assert_eq!(
            uri.module_path,
            Some(PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"))
        );
        assert_eq!(
            uri.to_string(),
            "pkcs11:token=My%20Token;object=workload;slot-id=3;id=%01%A0"
        );
    }

    #[test]
    fn the_pin_never_reaches_display_or_debug() {
        let uri = Pkcs11Uri::parse("pkcs11:token=t?pin-value=123456").unwrap();
        assert_eq!(
            uri.pin_value.as_ref().map(|p| p.expose_secret().to_owned()),
            Some("123456".into())
        );
        assert!(!uri.to_string().contains("123456"));
        assert!(!format!("{uri:?}").contains("123456"));
    }

    #[test]
    fn rejects_what_it_cannot_mean() {
        for (uri, fragment) in [
            ("pkcs11:token", "'token' is not name=value"),
            ("pkcs11:colour=red", "unknown path attribute 'colour'"),
            ("pkcs11:id=%zz", "id= has a malformed %-escape"),
            ("pkcs11:slot-id=x", "slot-id=x is not a number"),
            ("pkcs11:token=t?pin-value=1&pin-source=/p", "not both"),
            ("pkcs11:token=t?frobnicate=1", "unknown query attribute"),
            (
                "pkcs11:token=t;pin-value=987654",
                "pin-value belongs in the query part",
            ),
            ("pkcs11:token=t;987654", "an attribute is not name=value"),
        ] {
            let error = Pkcs11Uri::parse(uri).unwrap_err().to_string();
            assert!(error.contains(fragment), "{uri}: {error}");
            assert!(!error.contains("987654"), "{uri}: {error}");
        }
    }

    #[test]
    fn the_redacted_uri_holds_no_pin_wherever_it_was_put() {
        for uri in [
            "pkcs11:token=t;pin-value=987654",
            "pkcs11:token=t;987654;object=k",
            "pkcs11:token=t?pin-value=987654",
        ] {
            let redacted = Pkcs11Uri::redacted(uri);
            assert!(!redacted.contains("987654"), "{uri}: {redacted}");
            assert!(redacted.starts_with("pkcs11:token=t"), "{uri}: {redacted}");
        }
    }
}
