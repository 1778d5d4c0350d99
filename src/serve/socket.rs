//! `serve --socket PATH`: the ECS-style API on a Unix socket, created 0600 (or 0660 with a
//! group) without a moment in which anyone else could connect: it is bound inside a fresh
//! 0700 directory, given its mode and group, then renamed into place.

use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokio::net::UnixListener;

/// Why the socket cannot be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SocketError {
    /// Something that is not a socket is in the way.
    #[error("--socket {}: a file that is not a socket is already there; remove it or pick another path", .0.display())]
    NotASocket(PathBuf),
    /// A system call failed.
    #[error("--socket {}: cannot {action}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

fn io<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(std::io::Error) -> SocketError + 'a {
    move |source| SocketError::Io {
        path: path.to_owned(),
        action,
        source,
    }
}

/// Binds the socket at `path`: mode 0600, or 0660 owned by `group`. A stale socket left by an
/// earlier run is replaced; any other file is not touched.
pub fn bind(path: &Path, group: Option<u32>) -> Result<UnixListener, SocketError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            std::fs::remove_file(path).map_err(io(path, "remove the stale socket"))?;
        }
        Ok(_) => return Err(SocketError::NotASocket(path.to_owned())),
        Err(_) => {}
    }
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let staging = parent.join(format!(".tessera-socket-{}", std::process::id()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&staging)
        .map_err(io(path, "create a private directory beside it"))?;
    let staged = staging.join("s");
    let result = (|| {
        let listener = UnixListener::bind(&staged).map_err(io(path, "bind"))?;
        let mode = if group.is_some() { 0o660 } else { 0o600 };
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(mode))
            .map_err(io(path, "set its mode"))?;
        if let Some(gid) = group {
            std::os::unix::fs::chown(&staged, None, Some(gid))
                .map_err(io(path, "give it to the group"))?;
        }
        std::fs::rename(&staged, path).map_err(io(path, "move it into place"))?;
        Ok(listener)
    })();
    let _ = std::fs::remove_dir_all(&staging);
    result
}

/// A group given by name (from /etc/group) or number.
pub fn group_id(group: &str) -> Option<u32> {
    if let Ok(gid) = group.parse() {
        return Some(gid);
    }
    let groups = std::fs::read_to_string("/etc/group").ok()?;
    groups.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next()? == group).then_some(())?;
        fields.nth(1)?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_socket_is_0600_and_a_stale_one_is_replaced_but_no_other_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tessera.sock");
        let first = bind(&path, None).unwrap();
        drop(first);
        let _again = bind(&path, None).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let file = dir.path().join("plain");
        std::fs::write(&file, "keep").unwrap();
        assert!(matches!(bind(&file, None), Err(SocketError::NotASocket(_))));
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep");
        assert_eq!(group_id("0"), Some(0));
        assert_eq!(group_id("root"), Some(0));
    }
}
