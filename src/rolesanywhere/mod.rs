//! The IAM Roles Anywhere protocol: request parameters, signing, verification, and the
//! CreateSession client. Pure functions except for [`client`], the only part that does I/O.

pub mod canonical;
pub mod client;
mod client_error;
pub mod endpoint;
pub mod model;
pub mod sign;
pub mod verify;
