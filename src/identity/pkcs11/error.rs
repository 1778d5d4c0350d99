//! What went wrong with a token, in words a user can act on.

use std::path::PathBuf;

use crate::identity::pkcs11_uri::PIN_ENV;

/// What went wrong with a token, in words a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum Pkcs11Error {
    /// No module to load.
    #[error("no PKCS#11 module: pass --pkcs11-lib (e.g. /usr/lib/softhsm/libsofthsm2.so) or add module-path= to the URI")]
    NoModule,
    /// The module failed to load or initialise.
    #[error("cannot load PKCS#11 module {}: {reason}", path.display())]
    Module {
        /// The module path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// No token matched the URI.
    #[error("no PKCS#11 token matches {uri} (tokens present: {present}); check token=/serial=/slot-id= or insert the token")]
    NoToken {
        /// The URI.
        uri: String,
        /// Labels of the tokens that are there.
        present: String,
    },
    /// More than one token matched.
    #[error("{count} PKCS#11 tokens match {uri}; add token= or serial= to choose one")]
    AmbiguousToken {
        /// The URI.
        uri: String,
        /// How many matched.
        count: usize,
    },
    /// No object matched.
    #[error("no {what} on token '{token}' matches {uri}; list the token's objects with `tessera read-certificate-data --certificate 'pkcs11:token={token}'`")]
    NoObject {
        /// "private key" or "certificate".
        what: &'static str,
        /// The token label.
        token: String,
        /// The URI.
        uri: String,
    },
    /// More than one object matched.
    #[error("{count} {what}s on token '{token}' match {uri}; add object= or id= to choose one")]
    AmbiguousObject {
        /// "private key" or "certificate".
        what: &'static str,
        /// How many matched.
        count: usize,
        /// The token label.
        token: String,
        /// The URI.
        uri: String,
    },
    /// The PIN was refused.
    #[error("the PIN for token '{token}' was refused ({reason}); check pin-value/pin-source or {PIN_ENV}")]
    BadPin {
        /// The token label.
        token: String,
        /// The token's answer.
        reason: String,
    },
    /// A PIN is needed and none was given.
    #[error("token '{token}' needs a PIN: add pin-source=file:/path to the URI, set {PIN_ENV}, or run on a terminal to be asked")]
    PinRequired {
        /// The token label.
        token: String,
    },
    /// The PIN file could not be read.
    #[error("cannot read the PIN file {}: {reason}", path.display())]
    PinFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The token's key cannot sign Roles Anywhere requests.
    #[error("the key on token '{token}' is {kind}; a token key must be RSA or ECDSA P-256/P-384")]
    UnsupportedKey {
        /// The token label.
        token: String,
        /// The key type.
        kind: String,
    },
    /// The key does not belong to the certificate.
    #[error("the private key {uri} does not match the certificate (a test signature did not verify); point --certificate at this key's certificate")]
    KeyMismatch {
        /// The key URI.
        uri: String,
    },
    /// The certificate object holds something unparseable.
    #[error("certificate {uri} on the token cannot be parsed: {reason}")]
    BadCertificate {
        /// The URI.
        uri: String,
        /// Why.
        reason: String,
    },
    /// Another PKCS#11 failure.
    #[error("PKCS#11 {operation} failed on token '{token}': {reason}")]
    Token {
        /// What was being done.
        operation: &'static str,
        /// The token label.
        token: String,
        /// The module's answer.
        reason: String,
    },
}
