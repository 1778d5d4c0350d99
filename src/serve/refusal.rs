//! serve's one map from a refusal to a response, with one body shape per endpoint family:
//! IMDS answers plain text, as EC2's metadata service does; ECS answers
//! `{"code","message"}`, as the ECS agent does; the admin listener answers `{"message"}`. (A
//! credentials document that cannot be had is not a refusal: IMDS answers it with EC2's
//! `{"Code","Message"}` document and a 503.)

use serde_json::json;

use crate::server::Reply;

/// Which endpoint family a request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `/latest/…`.
    Imds,
    /// `/v1/credentials/…` and anything else on the credentials listener.
    Ecs,
    /// The admin listener.
    Admin,
}

impl Family {
    /// The family of a path on the credentials listener.
    pub fn of_path(path: &str) -> Self {
        if path.starts_with("/latest/") {
            Self::Imds
        } else {
            Self::Ecs
        }
    }
}

/// A refusal in the family's shape. `code` is the ECS error code (IMDS and admin bodies do not
/// carry one); `message` says what is wrong.
pub fn refuse(family: Family, status: u16, code: &str, message: &str) -> Reply {
    match family {
        Family::Imds => Reply::new(status, "text/plain", message),
        Family::Ecs => Reply::new(
            status,
            "application/json",
            json!({ "code": code, "message": message }).to_string(),
        ),
        Family::Admin => Reply::json_error(status, message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_family_has_its_shape() {
        let imds = refuse(
            Family::of_path("/latest/api/token"),
            404,
            "NotFound",
            "Not Found",
        );
        assert_eq!(
            (imds.content_type, imds.text()),
            ("text/plain", "Not Found")
        );
        let ecs = refuse(
            Family::of_path("/v1/credentials/x"),
            401,
            "Unauthorized",
            "no",
        );
        assert_eq!(ecs.text(), r#"{"code":"Unauthorized","message":"no"}"#);
        let admin = refuse(Family::Admin, 404, "NotFound", "nothing here");
        assert_eq!(admin.text(), r#"{"message":"nothing here"}"#);
    }
}
