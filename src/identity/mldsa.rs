//! ML-DSA (FIPS 204) keys: the three levels, PKCS#8 private keys in the seed, expanded and
//! both forms, hedged signing of a message with an empty context (`AWS4-X509-MLDSA` signs the
//! string to sign itself, without a pre-hash), and verification. Built on RustCrypto's
//! `ml-dsa` crate.

use std::fmt;

use ml_dsa::signature::RandomizedSigner;
use ml_dsa::{
    EncodedSignature, EncodedVerifyingKey, ExpandedSigningKey, ExpandedSigningKeyBytes, MlDsa44,
    MlDsa65, MlDsa87, MlDsaParams, Signature, VerifyingKey,
};
use pkcs8::der::asn1::{AnyRef, OctetStringRef};
use pkcs8::der::{Decode, Reader, SliceReader, Tag, TagNumber};

use super::key::KeyError;

/// The three ML-DSA parameter sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MlDsaLevel {
    /// ML-DSA-44 (NIST category 2).
    Ml44,
    /// ML-DSA-65 (category 3).
    Ml65,
    /// ML-DSA-87 (category 5).
    Ml87,
}

/// Bytes of an ML-DSA seed.
const SEED_LEN: usize = 32;

impl MlDsaLevel {
    /// Every level, weakest first.
    pub const ALL: [MlDsaLevel; 3] = [MlDsaLevel::Ml44, MlDsaLevel::Ml65, MlDsaLevel::Ml87];

    /// The level whose key (and signature) OID this is (2.16.840.1.101.3.4.3.17–19).
    pub fn from_oid(oid: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|level| level.oid() == oid)
    }

    /// Whether `oid` is in the ML-DSA arc without being one of the three levels.
    pub fn is_unknown_sibling(oid: &str) -> bool {
        oid.starts_with("2.16.840.1.101.3.4.3.") && Self::from_oid(oid).is_none() && {
            let last = oid.rsplit('.').next().and_then(|n| n.parse::<u32>().ok());
            last.is_some_and(|n| (17..=31).contains(&n))
        }
    }

    /// The key and signature algorithm OID.
    pub fn oid(self) -> &'static str {
        match self {
            MlDsaLevel::Ml44 => "2.16.840.1.101.3.4.3.17",
            MlDsaLevel::Ml65 => "2.16.840.1.101.3.4.3.18",
            MlDsaLevel::Ml87 => "2.16.840.1.101.3.4.3.19",
        }
    }

    /// The name, `ML-DSA-44` and so on.
    pub fn name(self) -> &'static str {
        match self {
            MlDsaLevel::Ml44 => "ML-DSA-44",
            MlDsaLevel::Ml65 => "ML-DSA-65",
            MlDsaLevel::Ml87 => "ML-DSA-87",
        }
    }

    /// Bytes of an encoded public key.
    pub fn public_key_len(self) -> usize {
        match self {
            MlDsaLevel::Ml44 => 1312,
            MlDsaLevel::Ml65 => 1952,
            MlDsaLevel::Ml87 => 2592,
        }
    }

    /// (ℓ, k, η): the sizes of s1 and s2 and the range of their coefficients.
    fn shape(self) -> (usize, usize, u32) {
        match self {
            MlDsaLevel::Ml44 => (4, 4, 2),
            MlDsaLevel::Ml65 => (5, 6, 4),
            MlDsaLevel::Ml87 => (7, 8, 2),
        }
    }
}

impl fmt::Display for MlDsaLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A signing key held in memory (zeroized on drop by `ml-dsa`).
pub struct MlDsaKey {
    level: MlDsaLevel,
    signer: Box<dyn HedgedSigner>,
    public_key: Vec<u8>,
}

impl fmt::Debug for MlDsaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Security: the level only, never key material.
        write!(f, "MlDsaKey({})", self.level)
    }
}

/// Signing by one level's expanded key, with fresh randomness per signature.
trait HedgedSigner: Send + Sync {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String>;
}

impl<P: MlDsaParams> HedgedSigner for ExpandedSigningKey<P> {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        let signature: Signature<P> = self
            .try_sign_with_rng(&mut getrandom::SysRng, message)
            .map_err(|e| e.to_string())?;
        Ok(signature.encode().to_vec())
    }
}

impl MlDsaKey {
    /// Reads the private key of a PKCS#8 `PrivateKeyInfo` whose algorithm is `level`: the seed
    /// (`[0] IMPLICIT OCTET STRING`), the expanded key (`OCTET STRING`), or both in a
    /// `SEQUENCE`, which must agree.
    pub fn from_pkcs8_private_key(level: MlDsaLevel, private_key: &[u8]) -> Result<Self, KeyError> {
        let form = KeyForm::parse(private_key, level)?;
        match level {
            MlDsaLevel::Ml44 => load::<MlDsa44>(level, &form),
            MlDsaLevel::Ml65 => load::<MlDsa65>(level, &form),
            MlDsaLevel::Ml87 => load::<MlDsa87>(level, &form),
        }
    }

    /// The level.
    pub fn level(&self) -> MlDsaLevel {
        self.level
    }

    /// The encoded public key, as in a certificate's SubjectPublicKeyInfo.
    pub fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    /// Signs `message` itself (no pre-hash) with an empty context, hedged.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        self.signer.sign(message)
    }
}

/// What a PKCS#8 ML-DSA private key holds.
struct KeyForm<'a> {
    seed: Option<&'a [u8]>,
    expanded: Option<&'a [u8]>,
}

impl<'a> KeyForm<'a> {
    fn parse(der: &'a [u8], level: MlDsaLevel) -> Result<Self, KeyError> {
        let malformed = || KeyError::Malformed {
            format: level.name(),
        };
        let any = AnyRef::from_der(der).map_err(|_| malformed())?;
        let seed_tag = Tag::ContextSpecific {
            number: TagNumber(0),
            constructed: false,
        };
        match pkcs8::der::Tagged::tag(&any) {
            tag if tag == seed_tag => Ok(Self {
                seed: Some(any.value()),
                expanded: None,
            }),
            Tag::OctetString => Ok(Self {
                seed: None,
                expanded: Some(any.value()),
            }),
            Tag::Sequence => {
                let mut inner = SliceReader::new(any.value()).map_err(|_| malformed())?;
                let seed = <&OctetStringRef>::decode(&mut inner).map_err(|_| malformed())?;
                let expanded = <&OctetStringRef>::decode(&mut inner).map_err(|_| malformed())?;
                inner.finish().map_err(|_| malformed())?;
                Ok(Self {
                    seed: Some(seed.as_bytes()),
                    expanded: Some(expanded.as_bytes()),
                })
            }
            _ => Err(malformed()),
        }
    }
}

fn load<P: MlDsaParams + 'static>(
    level: MlDsaLevel,
    form: &KeyForm<'_>,
) -> Result<MlDsaKey, KeyError> {
    let invalid = |detail: &'static str| KeyError::Invalid {
        kind: level.name(),
        detail,
    };
    let from_seed = form
        .seed
        .map(|seed| {
            let seed: &[u8; SEED_LEN] = seed
                .try_into()
                .map_err(|_| invalid("the seed is not 32 bytes (truncated?)"))?;
            Ok::<_, KeyError>(ExpandedSigningKey::<P>::from_seed(&(*seed).into()))
        })
        .transpose()?;
    let from_expanded = form
        .expanded
        .map(|bytes| expanded_key::<P>(level, bytes))
        .transpose()?;
    let key = match (from_seed, from_expanded) {
        (Some(seeded), Some(expanded)) => {
            #[allow(deprecated)] // the expanded form is what the file holds
            let agree = seeded.to_expanded().as_slice() == expanded.to_expanded().as_slice();
            if !agree {
                return Err(invalid(
                    "its seed and its expanded key do not agree; export the key again",
                ));
            }
            seeded
        }
        (Some(key), None) | (None, Some(key)) => key,
        (None, None) => return Err(invalid("it holds neither a seed nor an expanded key")),
    };
    let public_key = key.verifying_key().encode().to_vec();
    Ok(MlDsaKey {
        level,
        signer: Box::new(key),
        public_key,
    })
}

/// The expanded key in `bytes`, checked before `ml-dsa` decodes it (its decoder trusts its
/// input): the right length, s1 and s2 coefficients within ±η, and `tr` the hash of the public
/// key the rest implies.
fn expanded_key<P: MlDsaParams>(
    level: MlDsaLevel,
    bytes: &[u8],
) -> Result<ExpandedSigningKey<P>, KeyError> {
    let invalid = |detail: &'static str| KeyError::Invalid {
        kind: level.name(),
        detail,
    };
    let encoded = ExpandedSigningKeyBytes::<P>::try_from(bytes)
        .map_err(|_| invalid("the expanded key has the wrong length (truncated?)"))?;
    let (l, k, eta) = level.shape();
    let bits = if eta == 2 { 3 } else { 4 };
    let start = 128;
    let end = start + (l + k) * 256 * bits / 8;
    if !packed_values(&bytes[start..end], bits).all(|value| value <= 2 * eta) {
        return Err(invalid(
            "the expanded key's secret vectors are out of range",
        ));
    }
    #[allow(deprecated)] // checked above, so decoding cannot fail
    let key = ExpandedSigningKey::<P>::from_expanded(&encoded);
    let public_key = key.verifying_key().encode();
    let mut tr = [0_u8; 64];
    shake256(public_key.as_slice(), &mut tr);
    if tr[..] != bytes[64..128] {
        return Err(invalid(
            "the expanded key does not match its own public key hash",
        ));
    }
    Ok(key)
}

/// The little-endian `bits`-wide values packed in `bytes`.
fn packed_values(bytes: &[u8], bits: usize) -> impl Iterator<Item = u32> + '_ {
    let count = bytes.len() * 8 / bits;
    (0..count).map(move |i| {
        let mut value = 0_u32;
        for b in 0..bits {
            let bit = i * bits + b;
            value |= u32::from((bytes[bit / 8] >> (bit % 8)) & 1) << b;
        }
        value
    })
}

fn shake256(input: &[u8], output: &mut [u8]) {
    use shake::{ExtendableOutput, Update, XofReader};
    let mut hasher = shake::Shake256::default();
    hasher.update(input);
    hasher.finalize_xof().read(output);
}

/// Whether `signature` over `message` (empty context) verifies under the encoded `public_key`
/// of `level`.
pub fn verify(level: MlDsaLevel, public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    match level {
        MlDsaLevel::Ml44 => verify_with::<MlDsa44>(public_key, message, signature),
        MlDsaLevel::Ml65 => verify_with::<MlDsa65>(public_key, message, signature),
        MlDsaLevel::Ml87 => verify_with::<MlDsa87>(public_key, message, signature),
    }
}

fn verify_with<P: MlDsaParams>(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let (Ok(public_key), Ok(signature)) = (
        EncodedVerifyingKey::<P>::try_from(public_key),
        EncodedSignature::<P>::try_from(signature),
    ) else {
        return false;
    };
    let Some(signature) = Signature::<P>::decode(&signature) else {
        return false;
    };
    VerifyingKey::<P>::decode(&public_key).verify_with_context(message, &[], &signature)
}

#[cfg(test)]
mod tests;
