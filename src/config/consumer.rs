//! `[[consumers]]` in the config file: who may fetch which profiles from `serve`, and how each
//! proves who it is. Checked and used by `serve::consumers`.
//!
//! ```toml
//! [[consumers]]
//! name = "billing"
//! profiles = ["billing-ro"]
//! uid = 1001                        # a Unix-socket peer (SO_PEERCRED) with this uid …
//! gid = 1001                        # … and, when given, this gid …
//! executable = "/usr/bin/billing"   # … and this executable (/proc/PID/exe)
//!
//! [[consumers]]
//! name = "ci-runner"
//! profiles = ["deploy"]
//! token-file = "/run/secrets/ci-runner.token"   # an ECS bearer token (a Kubernetes Secret)
//!
//! [[consumers]]
//! name = "host"
//! profiles = ["node"]
//! imds = true                       # every local process reading IMDS counts as this consumer
//! ```

use std::path::PathBuf;

use serde::Deserialize;

/// One consumer as written.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ConsumerConfig {
    /// Its name (in the audit log and the metrics).
    pub name: String,
    /// The profiles it may fetch.
    pub profiles: Vec<String>,
    /// A Unix-socket peer's uid.
    pub uid: Option<u32>,
    /// A Unix-socket peer's gid.
    pub gid: Option<u32>,
    /// A Unix-socket peer's executable.
    pub executable: Option<PathBuf>,
    /// A file holding its ECS bearer token.
    pub token_file: Option<PathBuf>,
    /// The host-wide IMDS opt-in.
    #[serde(default)]
    pub imds: bool,
}
