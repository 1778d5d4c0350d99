//! TSS2 key files (`-----BEGIN TSS2 PRIVATE KEY-----`), parsed into a loadable public and
//! private area.

use std::path::Path;

use tss_esapi::structures::{Private, Public};
use tss_esapi::traits::UnMarshall;

use super::{TpmError, TSS2_PEM_LABEL};

/// OID of a loadable TSS2 key (2.23.133.10.1.3), DER-encoded.
const LOADABLE_KEY_OID: [u8; 6] = [0x67, 0x81, 0x05, 0x0a, 0x01, 0x03];
/// The owner hierarchy, as a TSS2 key file's parent.
const OWNER_PARENT: u32 = 0x4000_0001;

/// Where the key lives.
#[derive(Debug)]
pub(super) enum KeySource {
    Persistent(u32),
    File { public: Public, private: Private },
}

/// One DER TLV: (tag, contents, rest).
fn tlv(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = bytes.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let length = rest[..count]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (length, &rest[count..])
    };
    (rest.len() >= length).then(|| (tag, &rest[..length], &rest[length..]))
}

/// Parses a TSS2 key file: `TPMKey ::= SEQUENCE { type OID, emptyAuth [0] BOOLEAN OPTIONAL,
/// parent INTEGER, pubkey OCTET STRING, privkey OCTET STRING }`.
pub(super) fn parse_key_file(path: &Path, pem_text: &[u8]) -> Result<KeySource, TpmError> {
    let bad = |reason: &str| TpmError::BadKey {
        key: path.display().to_string(),
        reason: reason.to_owned(),
    };
    let block = pem::parse(pem_text).map_err(|e| bad(&format!("not PEM ({e})")))?;
    if block.tag() != TSS2_PEM_LABEL {
        return Err(bad("not a TSS2 PRIVATE KEY"));
    }
    let malformed = || {
        bad("malformed TSS2 key (expected SEQUENCE { type, emptyAuth, parent, pubkey, privkey })")
    };
    let (0x30, body, _) = tlv(block.contents()).ok_or_else(malformed)? else {
        return Err(malformed());
    };
    let (0x06, oid, mut rest) = tlv(body).ok_or_else(malformed)? else {
        return Err(malformed());
    };
    if oid != LOADABLE_KEY_OID {
        return Err(bad(
            "only loadable keys (2.23.133.10.1.3) are supported, not importable or sealed ones",
        ));
    }
    // emptyAuth is skipped: writers disagree on its sense (tpm2_encodeobject 5.4 writes TRUE
    // for a key *with* a password), so the password is used exactly when one is given.
    if rest.first() == Some(&0xa0) {
        rest = tlv(rest).ok_or_else(malformed)?.2;
    }
    let (0x02, parent, rest) = tlv(rest).ok_or_else(malformed)? else {
        return Err(malformed());
    };
    let parent = parent
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    if parent != u64::from(OWNER_PARENT) {
        return Err(bad(&format!(
            "its parent is 0x{parent:x}; only keys under the owner hierarchy's primary (0x40000001) are supported"
        )));
    }
    let (0x04, public, rest) = tlv(rest).ok_or_else(malformed)? else {
        return Err(malformed());
    };
    let (0x04, private, _) = tlv(rest).ok_or_else(malformed)? else {
        return Err(malformed());
    };
    // Both are TPM2B structures: a 2-byte size, then the contents.
    let public = public
        .get(2..)
        .and_then(|p| Public::unmarshall(p).ok())
        .ok_or_else(|| bad("its public area does not parse"))?;
    let private = private
        .get(2..)
        .and_then(|p| Private::try_from(p.to_vec()).ok())
        .ok_or_else(|| bad("its private area does not parse"))?;
    Ok(KeySource::File { public, private })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_short_and_long() {
        assert_eq!(
            tlv(&[0x04, 0x02, 0xaa, 0xbb, 0xcc]),
            Some((0x04, &[0xaa, 0xbb][..], &[0xcc][..]))
        );
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend([7u8; 0x80]);
        assert_eq!(tlv(&long).map(|(_, v, _)| v.len()), Some(0x80));
        assert_eq!(tlv(&[0x04, 0x05, 0x00]), None);
    }
}
