//! Serial numbers and subject alternative names as the local CA reads and writes them.

use rcgen::SanType;

use super::PkiError;

/// 16 random bytes with the top bit clear (a positive INTEGER) and a non-zero first byte.
pub(super) fn random_serial() -> [u8; 16] {
    let mut serial: [u8; 16] = fastrand::u128(..).to_be_bytes();
    serial[0] = (serial[0] & 0x7f) | 0x10;
    serial
}

/// A serial as `revoke` takes it (hex, with or without `0x` and colons), as even-length
/// lowercase hex without leading zero bytes.
pub(super) fn normalise_serial(serial: &str) -> Result<String, PkiError> {
    let bad = || PkiError::BadSerial(serial.to_owned());
    let cleaned: String = serial
        .trim()
        .trim_start_matches("0x")
        .replace(':', "")
        .to_ascii_lowercase();
    if cleaned.is_empty() || !cleaned.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let trimmed = cleaned.trim_start_matches('0');
    let even = if trimmed.len() % 2 == 1 {
        format!("0{trimmed}")
    } else {
        trimmed.to_owned()
    };
    Ok(if even.is_empty() { "00".into() } else { even })
}

/// A `--san` value: `dns:`, `uri:`, `email:` or `ip:` and the name.
pub(super) fn parse_san(san: &str) -> Result<SanType, PkiError> {
    let bad = || PkiError::BadSan(san.to_owned());
    let (kind, value) = san.split_once(':').ok_or_else(bad)?;
    let ia5 = |v: &str| v.to_owned().try_into().map_err(|_| bad());
    match kind {
        "dns" => Ok(SanType::DnsName(ia5(value)?)),
        "uri" => Ok(SanType::URI(ia5(value)?)),
        "email" => Ok(SanType::Rfc822Name(ia5(value)?)),
        "ip" => value.parse().map(SanType::IpAddress).map_err(|_| bad()),
        _ => Err(bad()),
    }
}
