//! `serve`'s startup lines: where each endpoint is and how to point an SDK at it.

use std::io::Write;
use std::net::SocketAddr;

use crate::serve::supervisor::token_file;
use crate::serve::Agent;

/// The startup lines: where each endpoint is and how to point an SDK at it.
pub(super) fn announce(
    agent: &Agent,
    address: SocketAddr,
    admin_address: SocketAddr,
    token_dir: &std::path::Path,
    socket: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "tessera serve listening on http://{address} (IMDS and ECS), admin on http://{admin_address}")?;
    match &agent.options.imds {
        Some(imds) => writeln!(out, "IMDS: AWS_EC2_METADATA_SERVICE_ENDPOINT=http://{address} (profile {}; every local process can read it)", imds.profile)?,
        None => writeln!(out, "IMDS: off (--imds[=PROFILE] serves it to every local process)")?,
    }
    for name in agent.profiles().keys() {
        writeln!(
            out,
            "ECS profile {name}: AWS_CONTAINER_CREDENTIALS_FULL_URI=http://{address}/v1/credentials/{name} AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE={}",
            token_file(token_dir, name).display()
        )?;
    }
    if let Some(socket) = socket {
        writeln!(
            out,
            "socket: the ECS API on {} (curl --unix-socket {} http://localhost/v1/credentials/PROFILE)",
            socket.display(),
            socket.display()
        )?;
    }
    out.flush()?;
    Ok(())
}
