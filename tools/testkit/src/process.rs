//! Finding the programs the components are.

use std::path::PathBuf;

/// A program the tests need is not installed.
#[derive(Debug, Clone)]
pub struct Missing {
    /// The program.
    pub program: String,
    /// The Debian package that has it.
    pub package: String,
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` is not installed: install it with `apt-get install {}` (scripts/test does this)",
            self.program, self.package
        )
    }
}

impl std::error::Error for Missing {}

/// The path of `program`, searched in `PATH` and the sbin directories (where Debian puts
/// `runc` and `dockerd`).
pub fn require(program: &str, package: &str) -> Result<PathBuf, Missing> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from));
    for dir in dirs {
        let candidate = dir.join(program);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(Missing {
        program: program.to_owned(),
        package: package.to_owned(),
    })
}

/// A free TCP port on 127.0.0.1 (free when asked; the caller binds it soon after).
pub(crate) fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
