//! How the anchor's STS checks a SigV4 request, as strictly as AWS: the Authorization header,
//! the scope (`sts` in the anchor's region), the headers AWS insists on signing, the date and
//! its skew, and the signature (aws-sigv4's key derivation and HMAC, compared in constant time).

use std::time::{Duration, UNIX_EPOCH};

use time::{OffsetDateTime, PrimitiveDateTime};

use super::sts::{sts_error, StsError};
use crate::rolesanywhere::canonical::{canonical_query, canonical_request, canonical_uri};
use crate::rolesanywhere::verify::{
    decode_path, header_value, parse_authorization, parse_query, ReceivedRequest,
};
use crate::secret::SecretString;
use crate::time_format::AMZ_DATE_FORMAT;

/// The answer to any request whose signature cannot be the right one.
fn mismatch() -> StsError {
    sts_error(
        403,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
    )
}

/// What an STS request's Authorization header says, its scope checked.
#[derive(Debug)]
pub(super) struct SignedRequest {
    /// The access key id in the scope.
    pub access_key_id: String,
    date: String,
    region: String,
    service: String,
    signed_headers: String,
    signature: String,
}

impl SignedRequest {
    /// Parses the Authorization header and checks its scope and signed headers.
    pub(super) fn parse(
        headers: &[(String, String)],
        anchor_region: &str,
    ) -> Result<Self, StsError> {
        let authorization = header_value(headers, "authorization").ok_or_else(|| {
            sts_error(
                403,
                "MissingAuthenticationToken",
                "Request is missing Authentication Token",
            )
        })?;
        let auth = parse_authorization(&authorization).map_err(|_| mismatch())?;
        if auth.algorithm != "AWS4-HMAC-SHA256" {
            return Err(mismatch());
        }
        let scope: Vec<&str> = auth.credential.split('/').collect();
        let [access_key_id, date, region, service, "aws4_request"] = scope[..] else {
            return Err(mismatch());
        };
        check_scope_and_headers(auth.signed_headers, headers, region, service, anchor_region)?;
        Ok(Self {
            access_key_id: access_key_id.to_owned(),
            date: date.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
            signed_headers: auth.signed_headers.to_owned(),
            signature: auth.signature.to_owned(),
        })
    }

    /// Checks the date (the scope's day, within [`MAX_STS_SKEW`] of `now`) and the signature
    /// made with `secret`.
    pub(super) fn verify(
        &self,
        request: &ReceivedRequest<'_>,
        secret: &SecretString,
        now: OffsetDateTime,
    ) -> Result<(), StsError> {
        let headers = request.headers;
        let amz_date = header_value(headers, "x-amz-date").ok_or_else(mismatch)?;
        let signed_at = PrimitiveDateTime::parse(&amz_date, AMZ_DATE_FORMAT)
            .map_err(|_| mismatch())?
            .assume_utc();
        if amz_date.get(..8) != Some(self.date.as_str()) {
            return Err(mismatch());
        }
        check_skew(signed_at, now, &amz_date)?;
        let mut canonical_headers = Vec::new();
        for name in self.signed_headers.split(';') {
            canonical_headers.push((
                name.to_owned(),
                header_value(headers, name).ok_or_else(mismatch)?,
            ));
        }
        let canonical = canonical_request(
            request.method,
            &canonical_uri(&decode_path(request.path)),
            &canonical_query(&parse_query(request.query)),
            &canonical_headers,
            &self.signed_headers,
            request.body,
        );
        let digest = hex::encode(ring::digest::digest(
            &ring::digest::SHA256,
            canonical.as_bytes(),
        ));
        let (region, service) = (&self.region, &self.service);
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{}/{region}/{service}/aws4_request\n{digest}",
            self.date
        );
        let seconds = u64::try_from(signed_at.unix_timestamp()).map_err(|_| mismatch())?;
        let key = aws_sigv4::sign::v4::generate_signing_key(
            secret.expose_secret(),
            UNIX_EPOCH + Duration::from_secs(seconds),
            region,
            service,
        );
        let expected = aws_sigv4::sign::v4::calculate_signature(key, string_to_sign.as_bytes());
        if !crate::secret::constant_time_eq(expected.as_bytes(), self.signature.as_bytes()) {
            return Err(mismatch());
        }
        Ok(())
    }
}

/// Largest difference between a request's `X-Amz-Date` and the anchor's clock (AWS: 15 minutes).
pub const MAX_STS_SKEW: time::Duration = time::Duration::minutes(15);

/// The scope names STS in the anchor's region, and the headers AWS insists on are signed.
fn check_scope_and_headers(
    signed_headers: &str,
    headers: &[(String, String)],
    region: &str,
    service: &str,
    anchor_region: &str,
) -> Result<(), StsError> {
    let refuse = |message: String| Err(sts_error(403, "SignatureDoesNotMatch", &message));
    if service != "sts" {
        return refuse(format!(
            "Credential should be scoped to correct service: 'sts'. (got '{}')",
            crate::text::printable(service, 40)
        ));
    }
    if region != anchor_region {
        return refuse(format!(
            "Credential should be scoped to a valid region: '{anchor_region}'. (got '{}')",
            crate::text::printable(region, 40)
        ));
    }
    let signed: Vec<&str> = signed_headers.split(';').collect();
    let token_sent = header_value(headers, "x-amz-security-token").is_some();
    for (name, required) in [
        ("host", true),
        ("x-amz-date", true),
        ("x-amz-security-token", token_sent),
    ] {
        if required && !signed.contains(&name) {
            return refuse(format!(
                "'{name}' must be a 'SignedHeader' in the AWS Authorization."
            ));
        }
    }
    Ok(())
}

/// `X-Amz-Date` is within [`MAX_STS_SKEW`] of `now`, with AWS's wording either way.
fn check_skew(
    signed_at: OffsetDateTime,
    now: OffsetDateTime,
    amz_date: &str,
) -> Result<(), StsError> {
    let stamp = |t: OffsetDateTime| t.format(AMZ_DATE_FORMAT).unwrap_or_default();
    let message = if signed_at < now - MAX_STS_SKEW {
        format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - 15 min.)",
            stamp(now - MAX_STS_SKEW),
            stamp(now)
        )
    } else if signed_at > now + MAX_STS_SKEW {
        format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + 15 min.)",
            stamp(now + MAX_STS_SKEW),
            stamp(now)
        )
    } else {
        return Ok(());
    };
    Err(sts_error(403, "SignatureDoesNotMatch", &message))
}
