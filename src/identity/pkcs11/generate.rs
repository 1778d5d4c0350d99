//! New keys on a token, for `tessera login --key pkcs11:…`: an ECDSA P-256 pair generated on
//! the token (sensitive, never extractable), the signing of its CSR, and its removal on
//! logout. The private key never leaves the token.

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};

use super::module::{find_token, load_module, module_path};
use super::objects::find_objects;
use super::session::{login, obtain_pin, token_error};
use super::{Pkcs11Error, TokenAccess};
use crate::identity::pkcs11_uri::Pkcs11Uri;

/// DER of the named curve prime256v1 (the CKA_EC_PARAMS value).
const P256_PARAMS: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// A P-256 key just generated on a token, with a logged-in session to sign its CSR.
#[derive(Debug)]
pub struct TokenKey {
    session: Session,
    key: ObjectHandle,
    point: Vec<u8>,
    token: String,
}

/// Opens a read-write session on the URI's token and logs in.
fn rw_session(uri: &Pkcs11Uri, access: TokenAccess<'_>) -> Result<(Session, String), Pkcs11Error> {
    let context = load_module(&module_path(uri, access.module)?)?;
    let token = find_token(&context, uri)?;
    let session = context
        .open_rw_session(token.slot)
        .map_err(|e| token_error("C_OpenSession", &token.label, &e))?;
    if token.login_required {
        let pin = obtain_pin(uri, &token.label, access.env_pin)?;
        login(&session, UserType::User, &pin, &token.label)?;
    }
    Ok((session, token.label))
}

/// Generates a P-256 pair labelled and identified as `uri` says (`object=` is required), and
/// refuses to touch a token that already holds a key by that name.
pub fn generate_p256(uri: &Pkcs11Uri, access: TokenAccess<'_>) -> Result<TokenKey, Pkcs11Error> {
    let (session, token) = rw_session(uri, access)?;
    let label = uri.object.clone().ok_or_else(|| Pkcs11Error::Token {
        operation: "C_GenerateKeyPair",
        token: token.clone(),
        reason: "the key URI needs object= to name the new key".into(),
    })?;
    let existing = find_objects(&session, uri, ObjectClass::PRIVATE_KEY)
        .map_err(|e| token_error("C_FindObjects", &token, &e))?;
    if !existing.is_empty() {
        return Err(Pkcs11Error::Token {
            operation: "C_GenerateKeyPair",
            token,
            reason: format!("a private key named '{label}' is already on the token; run 'tessera logout' or name another object="),
        });
    }
    let id = uri.id.clone().unwrap_or_else(|| label.as_bytes().to_vec());
    let common = [
        Attribute::Token(true),
        Attribute::Label(label.into_bytes()),
        Attribute::Id(id),
    ];
    let public = [
        &common[..],
        &[
            Attribute::Verify(true),
            Attribute::EcParams(P256_PARAMS.to_vec()),
        ],
    ]
    .concat();
    let private = [
        &common[..],
        &[
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
        ],
    ]
    .concat();
    let (public_key, key) = session
        .generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private)
        .map_err(|e| token_error("C_GenerateKeyPair", &token, &e))?;
    let point = match session.get_attributes(public_key, &[AttributeType::EcPoint]) {
        Ok(attributes) => match attributes.as_slice() {
            [Attribute::EcPoint(der)] => unwrap_octet_string(der),
            _ => None,
        },
        Err(_) => None,
    }
    .ok_or_else(|| Pkcs11Error::Token {
        operation: "C_GetAttributeValue",
        token: token.clone(),
        reason: "the new public key has no readable CKA_EC_POINT".into(),
    })?;
    Ok(TokenKey {
        session,
        key,
        point,
        token,
    })
}

/// The 65-byte uncompressed point from CKA_EC_POINT (a DER OCTET STRING, or the bare point
/// some modules return).
fn unwrap_octet_string(value: &[u8]) -> Option<Vec<u8>> {
    match value {
        [0x04, 65, rest @ ..] if rest.len() == 65 => Some(rest.to_vec()),
        [0x04, ..] if value.len() == 65 => Some(value.to_vec()),
        _ => None,
    }
}

impl TokenKey {
    /// The public key: the uncompressed P-256 point.
    pub fn public_point(&self) -> &[u8] {
        &self.point
    }

    /// An ECDSA P-256 SHA-256 signature of `message`, ASN.1 DER.
    pub fn sign_p256_sha256(&self, message: &[u8]) -> Result<Vec<u8>, Pkcs11Error> {
        let digest = ring::digest::digest(&ring::digest::SHA256, message);
        let raw = self
            .session
            .sign(&Mechanism::Ecdsa, self.key, digest.as_ref())
            .map_err(|e| token_error("C_Sign", &self.token, &e))?;
        p256::ecdsa::Signature::from_slice(&raw)
            .map(|s| s.to_der().as_bytes().to_vec())
            .map_err(|_| Pkcs11Error::Token {
                operation: "C_Sign",
                token: self.token.clone(),
                reason: "the token's ECDSA signature is not 64 bytes".into(),
            })
    }
}

/// Destroys the key pair `uri` names (logout); returns how many objects went.
pub fn delete_key(uri: &Pkcs11Uri, access: TokenAccess<'_>) -> Result<usize, Pkcs11Error> {
    let (session, token) = rw_session(uri, access)?;
    let mut removed = 0;
    for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
        for handle in find_objects(&session, uri, class)
            .map_err(|e| token_error("C_FindObjects", &token, &e))?
        {
            session
                .destroy_object(handle)
                .map_err(|e| token_error("C_DestroyObject", &token, &e))?;
            removed += 1;
        }
    }
    Ok(removed)
}
