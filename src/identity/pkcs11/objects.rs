//! Token objects: finding keys and certificates, the token's chain, and listings.

use std::path::Path;

use cryptoki::error::Error as CkError;
use cryptoki::object::{Attribute, AttributeType, CertificateType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};

use super::module::Token;
use super::session::{login, obtain_pin, open_session, token_error};
use super::{Pkcs11Error, TokenAccess};
use crate::identity::pkcs11_uri::Pkcs11Uri;
use crate::identity::Certificate;

/// Objects of `class` matching the URI's id/label.
pub(super) fn find_objects(
    session: &Session,
    uri: &Pkcs11Uri,
    class: ObjectClass,
) -> Result<Vec<ObjectHandle>, CkError> {
    let mut template = vec![Attribute::Class(class)];
    if let Some(id) = &uri.id {
        template.push(Attribute::Id(id.clone()));
    }
    if let Some(label) = &uri.object {
        template.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    session.find_objects(&template)
}

pub(super) fn one_object(
    found: Vec<ObjectHandle>,
    what: &'static str,
    token: &Token,
    uri: &Pkcs11Uri,
) -> Result<ObjectHandle, Pkcs11Error> {
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(Pkcs11Error::NoObject {
            what,
            token: token.label.clone(),
            uri: uri.to_string(),
        }),
        many => Err(Pkcs11Error::AmbiguousObject {
            what,
            count: many.len(),
            token: token.label.clone(),
            uri: uri.to_string(),
        }),
    }
}

/// A certificate object's DER value and its CKA_ID/label.
pub(super) fn certificate_value(
    session: &Session,
    handle: ObjectHandle,
) -> Result<(Vec<u8>, Vec<u8>, String), CkError> {
    let attributes = session.get_attributes(
        handle,
        &[
            AttributeType::Value,
            AttributeType::Id,
            AttributeType::Label,
        ],
    )?;
    let (mut der, mut id, mut label) = (Vec::new(), Vec::new(), String::new());
    for attribute in attributes {
        match attribute {
            Attribute::Value(v) => der = v,
            Attribute::Id(v) => id = v,
            Attribute::Label(v) => label = String::from_utf8_lossy(&v).into_owned(),
            _ => {}
        }
    }
    Ok((der, id, label))
}

/// Loads the certificate a URI names (no login needed: certificates are public objects).
pub fn load_certificate(
    uri: &Pkcs11Uri,
    module_flag: Option<&Path>,
) -> Result<Certificate, Pkcs11Error> {
    let (token, session) = open_session(uri, module_flag)?;
    token_certificate(&session, &token, uri)
}

pub(super) fn token_certificate(
    session: &Session,
    token: &Token,
    uri: &Pkcs11Uri,
) -> Result<Certificate, Pkcs11Error> {
    let found = find_objects(session, uri, ObjectClass::CERTIFICATE)
        .map_err(|e| token_error("C_FindObjects", &token.label, &e))?;
    let handle = one_object(found, "certificate", token, uri)?;
    let (der, _, _) = certificate_value(session, handle)
        .map_err(|e| token_error("C_GetAttributeValue", &token.label, &e))?;
    Certificate::from_der(&der).map_err(|e| Pkcs11Error::BadCertificate {
        uri: uri.to_string(),
        reason: e.to_string(),
    })
}

/// Certificates on the token that issue `leaf` (directly or through each other), leaf excluded.
pub(super) fn token_chain(
    session: &Session,
    token: &Token,
    leaf: &Certificate,
) -> Result<Vec<Certificate>, Pkcs11Error> {
    let handles = session
        .find_objects(&[
            Attribute::Class(ObjectClass::CERTIFICATE),
            Attribute::CertificateType(CertificateType::X_509),
        ])
        .map_err(|e| token_error("C_FindObjects", &token.label, &e))?;
    let mut pool = Vec::new();
    for handle in handles {
        let (der, _, _) = certificate_value(session, handle)
            .map_err(|e| token_error("C_GetAttributeValue", &token.label, &e))?;
        if let Ok(cert) = Certificate::from_der(&der) {
            if cert.der() != leaf.der() {
                pool.push(cert);
            }
        }
    }
    let mut chain: Vec<Certificate> = Vec::new();
    let mut current = leaf.clone();
    // Follow issuers while one in the pool really signed the current certificate.
    while let Some(position) = pool
        .iter()
        .position(|c| c.is_ca() && current.is_signed_by(c))
    {
        let issuer = pool.swap_remove(position);
        if issuer.subject() == issuer.issuer() {
            break; // A root: the trust anchor holds it, it is not sent.
        }
        current = issuer.clone();
        chain.push(issuer);
    }
    Ok(chain)
}

/// One object on a token, for `read-certificate-data` listings.
#[derive(Debug, serde::Serialize)]
pub struct TokenObject {
    /// A URI selecting exactly this object.
    pub uri: String,
    /// `private`, `cert` or `public`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// CKA_LABEL.
    pub label: String,
    /// CKA_ID, hex.
    pub id: String,
    /// For certificates: the subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// Lists the keys and certificates matching a URI (no login: private keys show only if public).
pub fn list_objects(
    uri: &Pkcs11Uri,
    access: TokenAccess<'_>,
) -> Result<Vec<TokenObject>, Pkcs11Error> {
    let env_pin = access.env_pin;
    let (token, session) = open_session(uri, access.module)?;
    if token.login_required
        && (uri.pin_value.is_some() || uri.pin_source.is_some() || env_pin.is_some())
    {
        login(
            &session,
            UserType::User,
            &obtain_pin(uri, &token.label, env_pin)?,
            &token.label,
        )?;
    }
    let mut objects = Vec::new();
    for (class, kind) in [
        (ObjectClass::PRIVATE_KEY, "private"),
        (ObjectClass::CERTIFICATE, "cert"),
        (ObjectClass::PUBLIC_KEY, "public"),
    ] {
        let found = find_objects(&session, uri, class)
            .map_err(|e| token_error("C_FindObjects", &token.label, &e))?;
        for handle in found {
            let (value, id, label) = if class == ObjectClass::CERTIFICATE {
                certificate_value(&session, handle)
                    .map_err(|e| token_error("C_GetAttributeValue", &token.label, &e))?
            } else {
                let attributes = session
                    .get_attributes(handle, &[AttributeType::Id, AttributeType::Label])
                    .map_err(|e| token_error("C_GetAttributeValue", &token.label, &e))?;
                let mut id = Vec::new();
                let mut label = String::new();
                for attribute in attributes {
                    match attribute {
                        Attribute::Id(v) => id = v,
                        Attribute::Label(v) => label = String::from_utf8_lossy(&v).into_owned(),
                        _ => {}
                    }
                }
                (Vec::new(), id, label)
            };
            objects.push(TokenObject {
                uri: uri.object_uri(&token.label, &token.serial, &label, &id, kind),
                kind,
                label,
                id: hex::encode(&id),
                subject: Certificate::from_der(&value)
                    .ok()
                    .map(|c| c.subject().to_owned()),
            });
        }
    }
    Ok(objects)
}
