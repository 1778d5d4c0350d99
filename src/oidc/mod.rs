//! OpenID Connect, the parts `tessera login` and the anchor's enrolment CA need: discovery,
//! the JWKS and ID-token verification (both sides), and the client's sign-in flows
//! (authorization code with PKCE on a loopback redirect, and the device grant).
//!
//! Tokens are verified with ring over an algorithm allow-list; nothing here trusts a token's
//! own claim about how it is signed beyond choosing among the allowed algorithms.

pub mod device;
pub mod discovery;
pub mod flow;
mod http_json;
pub mod id_token;
pub mod jwks;
pub mod jws;
pub mod loopback;
pub mod pkce;

pub use http_json::{HttpJsonError, OidcHttp};
