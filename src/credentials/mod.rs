//! Obtaining and keeping temporary credentials: the provider, the background refresher, the
//! cross-process caches and the shared credentials file. The credentials value itself is
//! [`crate::aws_credentials`].

pub mod agent_client;
pub mod attribution;
pub mod aws_config;
pub mod cache_key;
pub mod chain;
pub mod file_cache;
pub mod keyring_cache;
pub mod process_cache;
pub mod provider;
pub mod refresh;
pub mod shared_file;
