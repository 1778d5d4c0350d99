//! tessera: a credential agent for IAM Roles Anywhere.
//!
//! A workload's X.509 certificate and private key ([`identity`]) sign a Roles Anywhere
//! `CreateSession` request ([`rolesanywhere`]); the temporary credentials it returns
//! ([`credentials`]) are handed to AWS SDKs. See `ARCHITECTURE.md` for the map.

#![deny(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub mod anchor;
pub mod audit;
pub mod aws_credentials;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod credentials;
pub mod doctor;
pub mod files;
pub mod host;
pub mod http;
pub mod identity;
pub mod launcher;
pub mod login;
pub mod metrics_text;
pub mod oidc;
pub mod pki;
pub mod proxy;
pub mod rolesanywhere;
pub mod secret;
pub mod serve;
pub mod server;
pub mod service;
pub mod sts;
pub mod text;
pub mod time_format;
