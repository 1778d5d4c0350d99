use super::*;
use crate::identity::key::PrivateKey;

/// A DER TLV with a definite length.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match content.len() {
        n if n < 0x80 => out.push(n as u8),
        n if n < 0x100 => out.extend([0x81, n as u8]),
        n => out.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(content);
    out
}

/// A PKCS#8 PrivateKeyInfo for `oid` (its DER contents, without tag and length).
fn pkcs8(oid_contents: &[u8], private_key: &[u8]) -> Vec<u8> {
    let version = tlv(0x02, &[0]);
    let algorithm = tlv(0x30, &tlv(0x06, oid_contents));
    let key = tlv(0x04, private_key);
    tlv(0x30, &[version, algorithm, key].concat())
}

/// 2.16.840.1.101.3.4.3.<last>.
fn oid(last: u8) -> Vec<u8> {
    vec![0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, last]
}

fn last_arc(level: MlDsaLevel) -> u8 {
    match level {
        MlDsaLevel::Ml44 => 17,
        MlDsaLevel::Ml65 => 18,
        MlDsaLevel::Ml87 => 19,
    }
}

fn expanded_of(level: MlDsaLevel, seed: &[u8; 32]) -> Vec<u8> {
    #[allow(deprecated)]
    match level {
        MlDsaLevel::Ml44 => ExpandedSigningKey::<MlDsa44>::from_seed(&(*seed).into())
            .to_expanded()
            .to_vec(),
        MlDsaLevel::Ml65 => ExpandedSigningKey::<MlDsa65>::from_seed(&(*seed).into())
            .to_expanded()
            .to_vec(),
        MlDsaLevel::Ml87 => ExpandedSigningKey::<MlDsa87>::from_seed(&(*seed).into())
            .to_expanded()
            .to_vec(),
    }
}

fn load(level: MlDsaLevel, private_key: &[u8]) -> Result<PrivateKey, KeyError> {
    PrivateKey::from_pkcs8_der(&pkcs8(&oid(last_arc(level)), private_key))
}

#[test]
fn seed_expanded_and_both_forms_load_to_one_key_that_signs_verifiably() {
    for level in MlDsaLevel::ALL {
        let seed = [7_u8; 32];
        let expanded = expanded_of(level, &seed);
        let seed_form = tlv(0x80, &seed);
        let expanded_form = tlv(0x04, &expanded);
        let both = tlv(0x30, &[tlv(0x04, &seed), expanded_form.clone()].concat());
        let keys: Vec<PrivateKey> = [seed_form, expanded_form, both]
            .iter()
            .map(|form| load(level, form).unwrap())
            .collect();
        let public_key = keys[0].public_key();
        assert_eq!(public_key.len(), level.public_key_len());
        for key in &keys {
            assert_eq!(key.public_key(), public_key, "{level}");
            assert_eq!(key.kind(), KeyKind::MlDsa(level));
            let message = b"AWS4-X509-MLDSA\n20260101T000000Z\nscope\nhash";
            let signature = key.sign(message, crate::identity::Digest::Sha256).unwrap();
            assert!(verify(level, &public_key, message, &signature));
            assert!(!verify(level, &public_key, b"another message", &signature));
        }
    }
}

#[test]
fn hedged_signatures_differ_and_both_verify() {
    let key = load(MlDsaLevel::Ml65, &tlv(0x80, &[1; 32])).unwrap();
    let first = key.sign(b"m", crate::identity::Digest::Sha256).unwrap();
    let second = key.sign(b"m", crate::identity::Digest::Sha256).unwrap();
    assert_ne!(first, second);
    for signature in [first, second] {
        assert!(verify(
            MlDsaLevel::Ml65,
            &key.public_key(),
            b"m",
            &signature
        ));
    }
}

use crate::identity::cert::KeyKind;

#[test]
fn bad_keys_are_refused_with_a_reason_and_never_panic() {
    let level = MlDsaLevel::Ml44;
    let seed = [9_u8; 32];
    let expanded = expanded_of(level, &seed);
    let invalid = |form: &[u8]| match load(level, form) {
        Err(KeyError::Invalid { detail, .. }) => detail,
        other => panic!("{other:?}"),
    };
    assert!(invalid(&tlv(0x80, &seed[..31])).contains("32 bytes"));
    assert!(invalid(&tlv(0x04, &expanded[..2000])).contains("wrong length"));
    let other_seed = tlv(0x30, &[tlv(0x04, &[3; 32]), tlv(0x04, &expanded)].concat());
    assert!(invalid(&other_seed).contains("do not agree"));
    let mut out_of_range = expanded.clone();
    out_of_range[128..160].fill(0xff);
    assert!(invalid(&tlv(0x04, &out_of_range)).contains("out of range"));
    let mut wrong_hash = expanded.clone();
    wrong_hash[70] ^= 1;
    assert!(invalid(&tlv(0x04, &wrong_hash)).contains("public key hash"));
    assert!(matches!(
        load(level, &tlv(0x05, &[])),
        Err(KeyError::Malformed { .. })
    ));
    let unknown = PrivateKey::from_pkcs8_der(&pkcs8(&oid(20), &tlv(0x80, &seed)));
    assert!(
        matches!(&unknown, Err(KeyError::UnknownMlDsa { oid }) if oid == "2.16.840.1.101.3.4.3.20"),
        "{unknown:?}"
    );
}

#[test]
fn verification_refuses_wrong_sizes_and_levels() {
    let key = load(MlDsaLevel::Ml44, &tlv(0x80, &[5; 32])).unwrap();
    let signature = key.sign(b"m", crate::identity::Digest::Sha256).unwrap();
    assert!(!verify(
        MlDsaLevel::Ml65,
        &key.public_key(),
        b"m",
        &signature
    ));
    assert!(!verify(
        MlDsaLevel::Ml44,
        &key.public_key()[1..],
        b"m",
        &signature
    ));
    assert!(!verify(
        MlDsaLevel::Ml44,
        &key.public_key(),
        b"m",
        &signature[1..]
    ));
    assert_eq!(
        MlDsaLevel::from_oid("2.16.840.1.101.3.4.3.18"),
        Some(MlDsaLevel::Ml65)
    );
    assert!(MlDsaLevel::is_unknown_sibling("2.16.840.1.101.3.4.3.20"));
    assert!(!MlDsaLevel::is_unknown_sibling("2.16.840.1.101.3.4.3.2"));
}
