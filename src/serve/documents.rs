//! The credential documents a profile hands out, built once per set of credentials instead of
//! on every request: the JSON and its RFC 3339 times were most of a request's own work. Every
//! input of a document is either part of the credentials (the key is the set itself, not an
//! equal copy) or fixed for the served profile this cache belongs to (a reload that changes
//! the profile builds a new one).

use std::sync::Mutex;

use bytes::Bytes;
use zeroize::Zeroizing;

use crate::aws_credentials::Credentials;
use crate::server::wiped_bytes;

/// Which document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Document {
    /// IMDS `security-credentials/ROLE`.
    Imds,
    /// IMDS `security-credentials-extended/ROLE` (with `AccountId`).
    ImdsExtended,
    /// The ECS endpoint's document.
    Ecs,
}

/// The documents built for one set of credentials, wiped when dropped.
type Built = (Credentials, [Option<Bytes>; 3]);

/// A served profile's documents for the credentials its cache handed out last.
#[derive(Debug, Default)]
pub struct Documents {
    // A sync mutex: held to look up or build one document, never across an await.
    built: Mutex<Option<Built>>,
}

impl Documents {
    /// The `kind` document of `credentials`: built by `build` the first time it is asked for
    /// this set of credentials, then shared.
    pub fn get(
        &self,
        credentials: &Credentials,
        kind: Document,
        build: impl FnOnce() -> Zeroizing<String>,
    ) -> Bytes {
        let mut built = self
            .built
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let current = match built.take() {
            Some(same) if same.0.is_same(credentials) => same,
            _ => (credentials.clone(), [None, None, None]),
        };
        let (_, documents) = built.insert(current);
        documents[kind as usize]
            .get_or_insert_with(|| wiped_bytes(build()))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretString;

    fn credentials(key: &str) -> Credentials {
        Credentials::new(
            key.into(),
            SecretString::new("secret".into()),
            SecretString::new("token".into()),
            time::macros::datetime!(2026-12-02 12:00:00 UTC),
        )
    }

    #[test]
    fn a_document_is_built_once_per_set_of_credentials_and_kind() {
        let documents = Documents::default();
        let first = credentials("ASIAFIRST");
        let mut builds = 0;
        let mut get = |c: &Credentials, kind| {
            documents.get(c, kind, || {
                builds += 1;
                Zeroizing::new(format!("{}-{kind:?}", c.access_key_id()))
            })
        };
        assert_eq!(get(&first, Document::Imds), "ASIAFIRST-Imds");
        assert_eq!(get(&first.clone(), Document::Imds), "ASIAFIRST-Imds");
        assert_eq!(get(&first, Document::Ecs), "ASIAFIRST-Ecs");
        // Equal values are not the same set: a refresh that returned the same key is rebuilt.
        let again = credentials("ASIAFIRST");
        assert_eq!(get(&again, Document::Imds), "ASIAFIRST-Imds");
        assert_eq!(
            get(&credentials("ASIASECOND"), Document::Imds),
            "ASIASECOND-Imds"
        );
        assert_eq!(builds, 4);
    }
}
