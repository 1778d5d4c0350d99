//! Subject and SAN templates: `{claim}` placeholders filled from a verified ID token's claims.

use crate::oidc::id_token::Claims;

/// A template needs a claim the token does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the ID token has no '{claim}' claim, which the certificate's {field} needs")]
pub struct MissingClaim {
    /// The claim.
    pub claim: String,
    /// Which certificate field.
    pub field: &'static str,
}

/// Fills `template` with string claims (a list claim contributes its values joined by `,`).
pub fn fill(template: &str, claims: &Claims, field: &'static str) -> Result<String, MissingClaim> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let name = &after[..end];
        let values = claim_values(claims, name);
        if values.is_empty() {
            return Err(MissingClaim {
                claim: name.to_owned(),
                field,
            });
        }
        out.push_str(&values.join(","));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Fills a template that may expand to several values: a lone list placeholder (`{groups}`)
/// gives one value per item; anything else gives one value. A missing list claim gives none.
pub fn fill_many(template: &str, claims: &Claims) -> Vec<String> {
    if template.trim().is_empty() {
        return Vec::new();
    }
    if let Some(name) = template.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
        if !name.contains(['{', '}']) {
            return claim_values(claims, name);
        }
    }
    fill(template, claims, "OU")
        .map(|v| vec![v])
        .unwrap_or_default()
}

fn claim_values(claims: &Claims, name: &str) -> Vec<String> {
    match claims.0.get(name) {
        Some(serde_json::Value::Number(n)) => vec![n.to_string()],
        Some(serde_json::Value::Bool(b)) => vec![b.to_string()],
        _ => claims.strings(name),
    }
    .into_iter()
    .filter(|v| !v.is_empty())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims() -> Claims {
        match json!({"email": "alice@example.com", "sub": "alice", "iss": "https://idp", "groups": ["dev", "ops"]})
        {
            serde_json::Value::Object(map) => Claims(map),
            _ => unreachable!(),
        }
    }

    #[test]
    fn placeholders_are_filled_and_missing_claims_named() {
        assert_eq!(
            fill("{iss}#{sub}", &claims(), "URI SAN").unwrap(),
            "https://idp#alice"
        );
        assert_eq!(
            fill("user-{email}", &claims(), "CN").unwrap(),
            "user-alice@example.com"
        );
        assert_eq!(
            fill("{upn}", &claims(), "CN").unwrap_err(),
            MissingClaim {
                claim: "upn".into(),
                field: "CN"
            }
        );
    }

    #[test]
    fn a_lone_list_placeholder_gives_one_value_per_item() {
        assert_eq!(fill_many("{groups}", &claims()), vec!["dev", "ops"]);
        assert_eq!(fill_many("team-{sub}", &claims()), vec!["team-alice"]);
        assert!(fill_many("{teams}", &claims()).is_empty());
        assert!(fill_many("", &claims()).is_empty());
    }
}
