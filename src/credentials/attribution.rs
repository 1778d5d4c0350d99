//! Names that say who a session is: role session names and source identities filled from the
//! certificate in use (`{cn}`, `{email}`, `{serial}`), so CloudTrail names the person at every
//! hop of a chain.

use std::fmt;

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::identity::Certificate;

/// The variables a template may use.
pub const VARIABLES: [&str; 3] = ["{cn}", "{email}", "{serial}"];
/// STS's longest role session name and source identity.
const MAX_LEN: usize = 64;

/// A name with `{variable}`s, checked when the profile is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameTemplate {
    text: String,
}

/// Why a template cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// A `{…}` that is not a known variable, or an unclosed brace.
    #[error("{setting} '{template}' has an unknown variable '{variable}'; use {}", VARIABLES.join(", "))]
    UnknownVariable {
        /// The setting it came from.
        setting: &'static str,
        /// The template.
        template: String,
        /// The offending text.
        variable: String,
    },
    /// The certificate lacks what a variable needs.
    #[error("{setting} '{template}' uses {variable}, but the certificate ({subject}) has none; use another variable or a literal name")]
    Missing {
        /// The setting.
        setting: &'static str,
        /// The template.
        template: String,
        /// The variable.
        variable: &'static str,
        /// The certificate's subject, to say which one.
        subject: String,
    },
    /// The filled name is too short for STS.
    #[error(
        "{setting} '{template}' gives '{filled}' for this certificate; STS needs 2–64 characters"
    )]
    TooShort {
        /// The setting.
        setting: &'static str,
        /// The template.
        template: String,
        /// What it gave.
        filled: String,
    },
}

impl NameTemplate {
    /// Checks `text` for `setting` (named in errors): every `{…}` must be a known variable.
    pub fn parse(setting: &'static str, text: &str) -> Result<Self, TemplateError> {
        let mut rest = text;
        while let Some(start) = rest.find('{') {
            let after = &rest[start..];
            let end = after.find('}').map_or(after.len(), |e| e + 1);
            let variable = &after[..end];
            if !VARIABLES.contains(&variable) {
                return Err(TemplateError::UnknownVariable {
                    setting,
                    template: text.to_owned(),
                    variable: variable.to_owned(),
                });
            }
            rest = &after[end..];
        }
        Ok(Self {
            text: text.to_owned(),
        })
    }

    /// Whether the text has variables (a literal name is sent as it is).
    pub fn has_variables(&self) -> bool {
        self.text.contains('{')
    }

    /// The name for `certificate`: variables filled, characters STS refuses replaced by `-`,
    /// cut to 64 characters.
    pub fn fill(
        &self,
        setting: &'static str,
        certificate: &Certificate,
    ) -> Result<String, TemplateError> {
        let fields = Fields::of(certificate);
        let mut filled = self.text.clone();
        for variable in VARIABLES {
            if !filled.contains(variable) {
                continue;
            }
            let value = fields.get(variable).ok_or_else(|| TemplateError::Missing {
                setting,
                template: self.text.clone(),
                variable,
                subject: certificate.subject().to_owned(),
            })?;
            filled = filled.replace(variable, value);
        }
        let name: String = filled
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "+=,.@_-".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .take(MAX_LEN)
            .collect();
        if name.len() < 2 {
            return Err(TemplateError::TooShort {
                setting,
                template: self.text.clone(),
                filled: name,
            });
        }
        Ok(name)
    }
}

/// An AssumeRole hop's role session name when the profile sets none: the certificate's CN,
/// else its serial number.
pub fn default_session_name(certificate: &Certificate) -> Result<String, TemplateError> {
    let variable = match Fields::of(certificate).cn {
        Some(_) => "{cn}",
        None => "{serial}",
    };
    NameTemplate::parse("role-session-name", variable)?.fill("role-session-name", certificate)
}

impl fmt::Display for NameTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The certificate fields templates use.
struct Fields {
    cn: Option<String>,
    email: Option<String>,
    serial: String,
}

impl Fields {
    fn of(certificate: &Certificate) -> Self {
        let mut fields = Fields {
            cn: None,
            email: None,
            serial: certificate.serial_hex(),
        };
        if let Ok((_, parsed)) = X509Certificate::from_der(certificate.der()) {
            let subject = parsed.subject();
            fields.cn = subject
                .iter_common_name()
                .find_map(|a| a.as_str().ok())
                .map(str::to_owned);
            let san_email = parsed
                .subject_alternative_name()
                .ok()
                .flatten()
                .and_then(|san| {
                    san.value.general_names.iter().find_map(|name| match name {
                        GeneralName::RFC822Name(email) => Some((*email).to_owned()),
                        _ => None,
                    })
                });
            fields.email = san_email.or_else(|| {
                subject
                    .iter_email()
                    .find_map(|a| a.as_str().ok())
                    .map(str::to_owned)
            });
        }
        fields
    }

    fn get(&self, variable: &str) -> Option<&str> {
        match variable {
            "{cn}" => self.cn.as_deref(),
            "{email}" => self.email.as_deref(),
            "{serial}" => Some(&self.serial),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(name: &str) -> Certificate {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("certs/test")
            .join(name);
        crate::identity::file::load_certificate(&crate::identity::key_ref::KeyRef::File(path))
            .unwrap()
    }

    #[test]
    fn variables_are_filled_and_unsafe_characters_replaced() {
        let leaf = certificate("leaf-p256.pem");
        let template = NameTemplate::parse("role-session-name", "tessera-{cn}").unwrap();
        assert_eq!(
            template.fill("role-session-name", &leaf).unwrap(),
            "tessera-leaf-p256"
        );
        let spaced = certificate("root.pem");
        let cn = NameTemplate::parse("x", "{cn}").unwrap();
        assert_eq!(cn.fill("x", &spaced).unwrap(), "tessera-test-root");
        let serial = NameTemplate::parse("x", "{serial}").unwrap();
        assert_eq!(serial.fill("x", &leaf).unwrap(), leaf.serial_hex());
        let long = NameTemplate::parse("x", &"{serial}".repeat(10)).unwrap();
        assert_eq!(long.fill("x", &leaf).unwrap().len(), 64);
    }

    #[test]
    fn unknown_variables_and_missing_fields_are_named() {
        let error = NameTemplate::parse("role-session-name", "{user}").unwrap_err();
        assert_eq!(
            error.to_string(),
            "role-session-name '{user}' has an unknown variable '{user}'; use {cn}, {email}, {serial}"
        );
        assert!(NameTemplate::parse("x", "a{cn").is_err());
        let leaf = certificate("leaf-p256.pem");
        let email = NameTemplate::parse("source-identity", "{email}").unwrap();
        let error = email.fill("source-identity", &leaf).unwrap_err();
        assert!(matches!(
            error,
            TemplateError::Missing {
                variable: "{email}",
                ..
            }
        ));
        let short = NameTemplate::parse("x", "a").unwrap();
        assert!(matches!(
            short.fill("x", &leaf),
            Err(TemplateError::TooShort { .. })
        ));
    }
}
